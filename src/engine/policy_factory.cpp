#include "engine/policy_factory.h"

#include <algorithm>

#include "common.h"
#include "engine/policy_lessismore.h"
#include "engine/policy_oracle.h"
#include "engine/policy_quest.h"
#include "engine/policy_streaming.h"
#include "engine/policy_tidal.h"

namespace lim {

namespace {

std::string join_layers(const std::vector<int64_t>& layers) {
  std::string out;
  for (int64_t il : layers) out += (out.empty() ? "" : ",") + std::to_string(il);
  return out;
}

std::vector<int64_t> selection_layers_for(const PolicyOptions& options, const ModelConfig& config) {
  if (!options.selection_layers.empty()) return options.selection_layers;
  return default_selection_layers(config.arch, config.n_layer, config.n_embd);
}

std::string joined_names() {
  std::string out;
  for (const auto& name : policy_names()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

const std::vector<std::string>& policy_names() {
  static const std::vector<std::string> names = {"dense", "lessismore", "tidal", "quest", "streaming", "oracle"};
  return names;
}

std::unique_ptr<AttentionPolicy> make_policy(const PolicyOptions& options, const ModelConfig& config,
                                             int64_t n_ctx) {
  const PolicyDims dims{config.n_layer, config.n_head, config.n_kv_head, n_ctx, config.head_dim};
  if (options.method == "dense") return nullptr;
  if (options.method == "lessismore") {
    LessIsMoreParams params;
    params.budget = options.budget;
    params.recency_ratio = options.recency_ratio;
    params.sinks = options.sinks;
    params.dense_layers = options.dense_layers;
    params.selection_layers = selection_layers_for(options, config);
    params.randomized_topk = options.randomized_topk;
    params.select_every_layer = options.select_every_layer;
    params.seed = options.seed;
    return std::make_unique<LessIsMorePolicy>(params, dims);
  }
  if (options.method == "tidal") {
    TidalParams params;
    params.budget = options.budget;
    params.dense_layers = options.dense_layers;
    params.selection_layers = selection_layers_for(options, config);
    return std::make_unique<TidalPolicy>(params, dims);
  }
  if (options.method == "quest") {
    QuestParams params;
    params.budget = options.budget;
    params.page_size = options.page_size;
    params.first_sparse_layer = options.first_sparse_layer;
    return std::make_unique<QuestPolicy>(params, dims);
  }
  if (options.method == "streaming") {
    StreamingParams params;
    params.budget = options.budget;
    params.sinks = options.sinks;
    params.first_sparse_layer = options.first_sparse_layer;
    return std::make_unique<StreamingPolicy>(params, dims);
  }
  if (options.method == "oracle") {
    OracleParams params;
    params.budget = options.budget;
    params.first_sparse_layer = options.first_sparse_layer;
    return std::make_unique<OraclePolicy>(params, dims);
  }
  throw Error("--attention '" + options.method + "' is not supported; use one of: " + joined_names() + ".");
}

std::string describe_policy(const PolicyOptions& options, const ModelConfig& config) {
  const std::string k = " K=" + std::to_string(options.budget);
  const std::string from_layer = ", sparse from layer " + std::to_string(options.first_sparse_layer);
  if (options.method == "lessismore") {
    const BudgetSplit split = split_budget(options.budget, options.recency_ratio, options.sinks);
    std::string text = "lessismore" + k + " (" + std::to_string(split.sinks) + " sinks + " +
                       std::to_string(split.top) + " top + " + std::to_string(split.recent) + " recent), ";
    text += options.select_every_layer ? "selection in every sparse layer"
                                       : "selection layers " + join_layers(selection_layers_for(options, config));
    if (options.randomized_topk) text += ", randomized top-K (seed " + std::to_string(options.seed) + ")";
    return text;
  }
  if (options.method == "tidal") {
    return "tidal" + k + " per head, selection layers " + join_layers(selection_layers_for(options, config));
  }
  if (options.method == "quest") {
    const int64_t pages = std::max<int64_t>(3, (options.budget + options.page_size - 1) / options.page_size);
    return "quest" + k + " (" + std::to_string(pages) + " pages of " + std::to_string(options.page_size) + ")" +
           from_layer;
  }
  if (options.method == "streaming") {
    const StreamingWindow w = streaming_window(options.budget, options.sinks);
    return "streaming" + k + " (" + std::to_string(w.sinks) + " sinks + " + std::to_string(w.recent) + " recent)" +
           from_layer;
  }
  if (options.method == "oracle") return "oracle" + k + " per head" + from_layer;
  return options.method;
}

}  // namespace lim
