#include "engine/policy_factory.h"

#include <algorithm>

#include "common.h"
#include "engine/policy_lessismore.h"

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
  static const std::vector<std::string> names = {"dense", "lessismore"};
  return names;
}

std::unique_ptr<AttentionPolicy> make_policy(const PolicyOptions& options, const ModelConfig& config,
                                             int64_t n_ctx) {
  const PolicyDims dims{config.n_layer, config.n_head, config.n_kv_head, n_ctx};
  if (options.method == "dense") return nullptr;
  if (options.method == "lessismore") {
    LessIsMoreParams params;
    params.budget = options.budget;
    params.recency_ratio = options.recency_ratio;
    params.sinks = options.sinks;
    params.dense_layers = options.dense_layers;
    params.selection_layers = selection_layers_for(options, config);
    return std::make_unique<LessIsMorePolicy>(params, dims);
  }
  throw Error("--attention '" + options.method + "' is not supported; use one of: " + joined_names() + ".");
}

std::string describe_policy(const PolicyOptions& options, const ModelConfig& config) {
  if (options.method == "lessismore") {
    const BudgetSplit split = split_budget(options.budget, options.recency_ratio, options.sinks);
    return "lessismore K=" + std::to_string(options.budget) + " (" + std::to_string(split.sinks) + " sinks + " +
           std::to_string(split.top) + " top + " + std::to_string(split.recent) + " recent), selection layers " +
           join_layers(selection_layers_for(options, config));
  }
  return options.method;
}

}  // namespace lim
