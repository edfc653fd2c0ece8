#include "engine/policy_recall.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "common.h"
#include "engine/policy_lessismore.h"
#include "ops/attention.h"
#include "ops/kernels.h"

namespace lim {

namespace {

// Attends to every row through the sparse path, so that the recall measurement runs on dense
// attention and must report 1.
class AllRowsPolicy final : public AttentionPolicy {
 public:
  AllRowsPolicy(int64_t n_layer, int64_t first_sparse_layer, int64_t n_ctx)
      : n_layer_(n_layer), first_sparse_(first_sparse_layer), rows_(static_cast<size_t>(n_ctx)) {
    std::iota(rows_.begin(), rows_.end(), 0);
  }
  std::string name() const override { return "dense"; }
  void begin_step(int64_t n_kv) override { n_kv_ = n_kv; }
  LayerRole role(int64_t il) const override { return is_sparse_layer(il) ? LayerRole::Sparse : LayerRole::Dense; }
  bool is_sparse_layer(int64_t il) const override { return il >= first_sparse_ && il < n_layer_; }
  RowSpan rows(int64_t, int64_t) const override { return RowSpan{rows_.data(), n_kv_}; }

 private:
  int64_t n_layer_;
  int64_t first_sparse_;
  int64_t n_kv_ = 0;
  std::vector<int32_t> rows_;
};

std::vector<char> layer_mask(const std::vector<int64_t>& layers) {
  const int64_t n = layers.empty() ? 0 : *std::max_element(layers.begin(), layers.end()) + 1;
  std::vector<char> mask(static_cast<size_t>(n), 0);
  for (int64_t il : layers) mask[static_cast<size_t>(il)] = 1;
  return mask;
}

bool in_mask(const std::vector<char>& mask, int64_t il) {
  return il >= 0 && il < static_cast<int64_t>(mask.size()) && mask[static_cast<size_t>(il)];
}

// Attends densely (every row through the sparse path, in every layer) and, in each layer, lets
// every inner policy select from this layer's logits or query, then records the dense softmax
// mass inside each inner policy's rows.
class SharedContextPolicy final : public AttentionPolicy {
 public:
  SharedContextPolicy(std::vector<std::unique_ptr<AttentionPolicy>> inner, std::vector<RecallRun>& runs,
                      const PolicyDims& dims, int64_t n_prompt)
      : inner_(std::move(inner)), runs_(runs), dims_(dims), n_prompt_(n_prompt),
        rows_(static_cast<size_t>(dims.n_ctx)), logits_(static_cast<size_t>(dims.n_head * dims.n_ctx)),
        probs_(logits_.size()) {
    std::iota(rows_.begin(), rows_.end(), 0);
  }
  std::string name() const override { return "shared"; }
  void begin_step(int64_t n_kv) override {
    n_kv_ = n_kv;
    for (auto& p : inner_) {
      if (p) p->begin_step(n_kv);
    }
  }
  LayerRole role(int64_t) const override { return LayerRole::Sparse; }
  bool is_sparse_layer(int64_t) const override { return true; }
  void on_append(int64_t il, int64_t pos, const float* k) override {
    for (auto& p : inner_) {
      if (p) p->on_append(il, pos, k);
    }
  }
  RowSpan rows(int64_t, int64_t) const override { return RowSpan{rows_.data(), n_kv_}; }

  void select_for_query(int64_t il, const float* q, int64_t n_kv, const KvCache& cache) override {
    const int64_t group = dims_.n_head / dims_.n_kv_head;
    const float scale = 1.0f / std::sqrt(static_cast<float>(dims_.head_dim));
    for (int64_t g = 0; g < dims_.n_kv_head; ++g) {
      attention_logits(q + g * group * dims_.head_dim, group, dims_.head_dim, cache.type(), cache.k(il, g), n_kv, scale,
                       logits_.data() + g * group * n_kv);
    }
    std::copy(logits_.begin(), logits_.begin() + dims_.n_head * n_kv, probs_.begin());
    for (int64_t h = 0; h < dims_.n_head; ++h) softmax(probs_.data() + h * n_kv, n_kv);

    for (size_t i = 0; i < inner_.size(); ++i) {
      AttentionPolicy* p = inner_[i].get();
      if (!p) {  // dense: every row, from the first layer it is measured in
        if (il >= dense_first_layer_) record(i, il, nullptr);
        continue;
      }
      const LayerRole role = p->role(il);
      if (role == LayerRole::DenseSelect) p->select(il, logits_.data());
      if (role != LayerRole::Sparse) continue;
      p->select_for_query(il, q, n_kv, cache);
      record(i, il, p);
    }
  }

  int64_t dense_first_layer_ = 0;

 private:
  void record(size_t i, int64_t il, const AttentionPolicy* p) {
    RecallSample sample;
    sample.step = n_kv_ - n_prompt_ - 1;
    sample.layer = il;
    sample.n_kv = n_kv_;
    for (int64_t h = 0; h < dims_.n_head; ++h) {
      const float* prob = probs_.data() + h * n_kv_;
      const RowSpan span = p ? p->rows(il, h) : RowSpan{rows_.data(), n_kv_};
      double mass = 0.0;
      for (int64_t j = 0; j < span.n; ++j) mass += prob[span.rows[j]];
      sample.recall += mass;
      sample.attended += static_cast<double>(span.n);
    }
    sample.recall /= static_cast<double>(dims_.n_head);
    sample.attended /= static_cast<double>(dims_.n_head);
    runs_[i].samples.push_back(sample);
  }

  std::vector<std::unique_ptr<AttentionPolicy>> inner_;  // null: dense
  std::vector<RecallRun>& runs_;
  PolicyDims dims_;
  int64_t n_prompt_;
  int64_t n_kv_ = 0;
  std::vector<int32_t> rows_;
  std::vector<float> logits_;  // [n_head, n_ctx]
  std::vector<float> probs_;   // [n_head, n_ctx]
};

}  // namespace

std::vector<RecallRun> replay_recall_shared(const Model& model, ThreadPool& pool, const TokenTrace& trace,
                                            const std::vector<PolicyOptions>& methods, const ReplayProgress& progress,
                                            int64_t progress_every, const SessionOptions& session_options) {
  if (trace.prompt.empty()) throw Error("the trace has no prompt tokens; it needs at least one to prefill.");
  LIM_CHECK(!methods.empty());
  const ModelConfig& c = model.config();
  const int64_t n_prompt = static_cast<int64_t>(trace.prompt.size());
  const int64_t total = static_cast<int64_t>(trace.generated.size());
  const int64_t n_ctx = n_prompt + total;

  std::vector<RecallRun> runs(methods.size());
  std::vector<std::unique_ptr<AttentionPolicy>> inner;
  int64_t min_budget = methods.front().budget;
  int64_t dense_first_layer = 0;
  for (size_t i = 0; i < methods.size(); ++i) {
    const PolicyOptions& o = methods[i];
    runs[i].method = o.method;
    runs[i].budget = o.budget;
    runs[i].n_steps = total;
    min_budget = std::min(min_budget, o.budget);
    if (o.method == "dense") {
      runs[i].description = "dense (every row, measured from layer " + std::to_string(o.first_sparse_layer) + ")";
      dense_first_layer = o.first_sparse_layer;
      inner.push_back(nullptr);
    } else {
      runs[i].description = describe_policy(o, c);
      inner.push_back(make_policy(o, c, n_ctx));
    }
  }
  SharedContextPolicy shared(std::move(inner), runs, PolicyDims{c.n_layer, c.n_head, c.n_kv_head, n_ctx, c.head_dim},
                             n_prompt);
  shared.dense_first_layer_ = dense_first_layer;

  const int64_t n_prefix = std::clamp<int64_t>(min_budget - n_prompt, 0, total);
  std::vector<int32_t> prefix = trace.prompt;
  prefix.insert(prefix.end(), trace.generated.begin(), trace.generated.begin() + n_prefix);
  Session session(model, n_ctx, pool, &shared, session_options);
  const auto start = std::chrono::steady_clock::now();
  session.prefill(prefix);
  for (int64_t i = n_prefix; i < total; ++i) {
    session.decode(trace.generated[static_cast<size_t>(i)]);
    if (progress && ((i + 1) % progress_every == 0 || i + 1 == total)) progress(i + 1, total);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (RecallRun& run : runs) run.seconds = seconds;
  return runs;
}

RecallRun replay_recall(const Model& model, ThreadPool& pool, const TokenTrace& trace, const PolicyOptions& options,
                        const ReplayProgress& progress, int64_t progress_every,
                        const SessionOptions& session_options) {
  if (trace.prompt.empty()) throw Error("the trace has no prompt tokens; it needs at least one to prefill.");
  const ModelConfig& c = model.config();
  const int64_t n_ctx = static_cast<int64_t>(trace.prompt.size() + trace.generated.size());

  RecallRun run;
  run.method = options.method;
  run.budget = options.budget;
  std::unique_ptr<AttentionPolicy> policy;
  if (options.method == "dense") {
    policy = std::make_unique<AllRowsPolicy>(c.n_layer, options.first_sparse_layer, n_ctx);
    run.description = "dense (every row, measured from layer " + std::to_string(options.first_sparse_layer) + ")";
  } else {
    policy = make_policy(options, c, n_ctx);
    run.description = describe_policy(options, c);
  }

  // Steps whose context fits the budget attend densely under every policy. The trace's tokens up
  // to that point are therefore prefilled in one batch with the prompt, which is much faster than
  // decoding them one by one and equal up to rounding.
  const int64_t n_prompt = static_cast<int64_t>(trace.prompt.size());
  const int64_t total = static_cast<int64_t>(trace.generated.size());
  const int64_t n_prefix = std::clamp<int64_t>(options.budget - n_prompt, 0, total);
  std::vector<int32_t> prefix = trace.prompt;
  prefix.insert(prefix.end(), trace.generated.begin(), trace.generated.begin() + n_prefix);

  Session session(model, n_ctx, pool, policy.get(), session_options);
  session.set_recall_observer([&run, n_prompt](const RecallSample& sample) {
    run.samples.push_back(sample);
    run.samples.back().step = sample.n_kv - n_prompt - 1;  // index of the generated token fed
  });
  const auto start = std::chrono::steady_clock::now();
  session.prefill(prefix);
  for (int64_t i = n_prefix; i < total; ++i) {
    session.decode(trace.generated[static_cast<size_t>(i)]);
    if (progress && ((i + 1) % progress_every == 0 || i + 1 == total)) progress(i + 1, total);
  }
  run.n_steps = total;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

std::vector<int64_t> recall_report_layers(const PolicyOptions& options, const ModelConfig& config) {
  std::vector<int64_t> selection = options.selection_layers;
  if (selection.empty()) selection = default_selection_layers(config.arch, config.n_layer, config.n_embd);
  const int64_t first = *std::min_element(selection.begin(), selection.end());
  std::vector<int64_t> layers;
  for (int64_t il = first; il < config.n_layer; ++il) {
    const bool dense = std::count(options.dense_layers.begin(), options.dense_layers.end(), il) > 0;
    const bool selects = std::count(selection.begin(), selection.end(), il) > 0;
    if (!dense && !selects) layers.push_back(il);
  }
  return layers;
}

std::vector<StepRecall> step_recall(const RecallRun& run, const std::vector<int64_t>& layers, int64_t min_n_kv) {
  const std::vector<char> mask = layer_mask(layers);
  const int64_t want = static_cast<int64_t>(layers.size());
  std::vector<StepRecall> out;
  // Samples arrive step by step, layers ascending within a step.
  size_t i = 0;
  while (i < run.samples.size()) {
    StepRecall step;
    step.step = run.samples[i].step;
    step.n_kv = run.samples[i].n_kv;
    int64_t n = 0;
    for (; i < run.samples.size() && run.samples[i].step == step.step; ++i) {
      const RecallSample& s = run.samples[i];
      if (!in_mask(mask, s.layer)) continue;
      step.recall += s.recall;
      step.attended += s.attended;
      ++n;
    }
    if (n != want || n == 0 || step.n_kv <= min_n_kv) continue;
    step.recall /= static_cast<double>(n);
    step.attended /= static_cast<double>(n);
    out.push_back(step);
  }
  return out;
}

std::vector<double> running_average(const std::vector<double>& values) {
  std::vector<double> out(values.size());
  double sum = 0.0;
  for (size_t i = 0; i < values.size(); ++i) {
    sum += values[i];
    out[i] = sum / static_cast<double>(i + 1);
  }
  return out;
}

RecallSummary summarize_recall(const RecallRun& run, const std::vector<int64_t>& layers, int64_t budget) {
  RecallSummary summary;
  const std::vector<StepRecall> steps = step_recall(run, layers, budget);
  summary.n_steps = static_cast<int64_t>(steps.size());
  for (const StepRecall& s : steps) {
    summary.mean_recall += s.recall;
    summary.mean_attended += s.attended;
  }
  if (!steps.empty()) {
    summary.mean_recall /= static_cast<double>(steps.size());
    summary.mean_attended /= static_cast<double>(steps.size());
  }

  summary.layer_recall.assign(layers.size(), 0.0);
  std::vector<int64_t> counts(layers.size(), 0);
  for (const RecallSample& s : run.samples) {
    if (s.n_kv <= budget) continue;
    const auto at = std::find(layers.begin(), layers.end(), s.layer);
    if (at == layers.end()) continue;
    const size_t li = static_cast<size_t>(at - layers.begin());
    summary.layer_recall[li] += s.recall;
    ++counts[li];
  }
  for (size_t li = 0; li < layers.size(); ++li) {
    if (counts[li] > 0) summary.layer_recall[li] /= static_cast<double>(counts[li]);
  }
  return summary;
}

}  // namespace lim
