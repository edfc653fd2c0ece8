// Attention recall of policies on a fixed token trace. Each policy replays the same tokens with
// teacher forcing (the trace's tokens are fed whatever the policy's logits would pick), so every
// policy works on identical token contexts and only its selections differ.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/policy_factory.h"
#include "engine/session.h"
#include "ops/thread_pool.h"

namespace lim {

struct TokenTrace {
  std::vector<int32_t> prompt;     // prefilled densely
  std::vector<int32_t> generated;  // fed one decode step each
};

// One policy's replay of a trace.
struct RecallRun {
  std::string method;
  int64_t budget = 0;
  std::string description;            // describe_policy(), or "dense (every row)"
  std::vector<RecallSample> samples;  // (step, layer) pairs where a sparse layer used a selection
  int64_t n_steps = 0;                // generated tokens in the trace
  double seconds = 0.0;
};

// Called every `every` steps and at the end with the steps done so far.
using ReplayProgress = std::function<void(int64_t done, int64_t total)>;

// Replays trace under the policy that `options` describes: step i feeds trace.generated[i] with
// the context n_kv = prompt + i + 1, and recall is measured in every sparse layer at every step
// where the budget is below the context. Steps with n_kv <= options.budget are dense for every
// policy and are prefilled in one batch together with the prompt (no samples). Method "dense"
// attends to every row through the sparse path, in every layer from options.first_sparse_layer
// on. Its recall is 1 up to rounding, which checks the measurement. Samples carry step = i.
// The session context is the trace length.
RecallRun replay_recall(const Model& model, ThreadPool& pool, const TokenTrace& trace, const PolicyOptions& options,
                        const ReplayProgress& progress = {}, int64_t progress_every = 100,
                        const SessionOptions& session_options = {});

// Measures every policy of `methods` on one dense replay of the trace. At every step and layer
// each policy selects from the dense run's queries, keys and logits (selection layers get that
// layer's logits, query-driven policies its queries). Its recall is the dense softmax mass inside
// its rows. All policies thus get identical queries and keys, not only identical tokens, and the
// cost is one pass instead of one per policy. What this leaves out is how a policy's own sparse
// attention changes later queries and keys. Steps with n_kv <= the smallest
// budget are prefilled as in replay_recall. Returns one run per entry of `methods`, in order;
// "dense" reports the mass of every row (1 up to rounding).
std::vector<RecallRun> replay_recall_shared(const Model& model, ThreadPool& pool, const TokenTrace& trace,
                                            const std::vector<PolicyOptions>& methods,
                                            const ReplayProgress& progress = {}, int64_t progress_every = 100,
                                            const SessionOptions& session_options = {});

// The layers recall is averaged over: from the first selection layer on, neither dense nor a
// selection layer (the sparse layers of LessIsMore and TidalDecode). Every method attends
// sparsely in these layers, so their averages compare like with like.
std::vector<int64_t> recall_report_layers(const PolicyOptions& options, const ModelConfig& config);

// Recall and attended rows of one decode step, averaged over `layers`.
struct StepRecall {
  int64_t step = 0;
  int64_t n_kv = 0;
  double recall = 0.0;
  double attended = 0.0;
};

// Steps whose context exceeds min_n_kv and that have a sample in every one of `layers`.
std::vector<StepRecall> step_recall(const RecallRun& run, const std::vector<int64_t>& layers, int64_t min_n_kv);

// running[i] = mean(values[0..i]).
std::vector<double> running_average(const std::vector<double>& values);

struct RecallSummary {
  double mean_recall = 0.0;    // over the steps and layers below
  double mean_attended = 0.0;  // rows per head
  int64_t n_steps = 0;         // steps counted: context larger than the budget
  std::vector<double> layer_recall;  // per layer of `layers`, mean over those steps
};

// Summarizes run over `layers` at the steps where the context exceeds `budget`.
RecallSummary summarize_recall(const RecallRun& run, const std::vector<int64_t>& layers, int64_t budget);

}  // namespace lim
