// One sequence being decoded: its KV cache, activations and attention policy.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/kv_cache.h"
#include "engine/model.h"
#include "engine/policy.h"
#include "ops/thread_pool.h"

namespace lim {

// Attention recall of one sparse layer at one decode step: the full-attention softmax mass that
// falls inside the attended rows, averaged over query heads.
struct RecallSample {
  int64_t step = 0;    // decode step, 0 for the first generated token's forward pass
  int64_t layer = 0;
  int64_t n_kv = 0;    // context length L
  double recall = 0.0;
  double attended = 0.0;  // rows attended, averaged over heads
};

// Per-run counters of what sparse layers attended.
struct AttentionStats {
  int64_t sparse_layer_steps = 0;  // (step, layer) pairs of policy-sparse layers
  double attended_sum = 0.0;       // rows attended in those pairs, averaged over heads
  int64_t dense_fallback_steps = 0;  // steps where the budget covered the context
  int64_t decode_steps = 0;
};

// Wall time of decode steps by phase, summed over steps (prefill is not counted). "Other" is
// total minus the named phases: norms, RoPE, embedding, residuals, KV appends.
struct DecodeTimings {
  int64_t steps = 0;
  double total_s = 0.0;
  double matmul_s = 0.0;     // weight matrix-vector products, output projection included
  double attention_s = 0.0;  // attention over the KV cache
  double selection_s = 0.0;  // policy work: top-K, merge, page scores
  double recall_s = 0.0;     // recall measurement, when on
};

// Storage and arithmetic choices of a session: the KV cache type and the decode product path.
struct SessionOptions {
  DType kv_type = DType::F32;  // KV cache element type: F32, F16 or BF16
  // Path of the decode steps' weight products. Int8Activations quantizes the activation vector
  // to 8 bits per 32-value block and uses integer dot products for block-quantized weights
  // (Q4_0, Q4_1, Q8_0, Q4_K, Q6_K), as llama.cpp does. Float weights always take the exact path.
  // Prefill always uses Exact, because it is faster for batches of tokens.
  MatmulPrecision matmul = MatmulPrecision::Int8Activations;
};

class Session {
 public:
  // policy may be null for dense attention. The policy and pool must outlive the session.
  // Throws lim::Error for a KV type other than F32, F16 or BF16.
  Session(const Model& model, int64_t n_ctx, ThreadPool& pool, AttentionPolicy* policy,
          const SessionOptions& options = {});

  // Runs tokens through every layer densely at positions n_past() onward and returns the
  // logits of the last one [n_vocab]. Throws lim::Error when they do not fit in the context.
  const float* prefill(std::span<const int32_t> tokens);

  // Runs one decode step with the attention policy and returns the next-token logits.
  const float* decode(int32_t token);

  // Starts this session from the first n cached tokens of source, as if it had prefilled them:
  // copies their keys and values, hands the keys to this session's policy (on_append), and sets
  // n_past() to n. Lets benchmarks measure several policies at one context length after a
  // single prefill. source must run the same model with the same KV type, this session must be
  // empty, and n must fit both: otherwise throws lim::Error. The logits of the last copied token
  // are not available; decode the next token to get logits.
  void copy_prefix_from(const Session& source, int64_t n);

  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return cache_.n_ctx(); }
  const AttentionStats& stats() const { return stats_; }
  const DecodeTimings& timings() const { return timings_; }
  const KvCache& cache() const { return cache_; }
  const Model& model() const { return model_; }

  // When set, every sparse layer of every decode step also computes full attention and reports
  // the recall of its selection. Slow; a measurement mode.
  void set_recall_observer(std::function<void(const RecallSample&)> observer);

 private:
  // Per-token activations for a batch of n_tokens, grown on demand and then reused.
  struct Activations {
    int64_t capacity = 0;
    std::vector<float> x, xn, q, k, v, attn, proj, gate, up;
  };

  void ensure_activations(int64_t n_tokens);
  const float* forward(const int32_t* tokens, int64_t n_tokens, bool use_policy);
  void attention_block(int64_t il, int64_t n_tokens, bool use_policy);
  void attend_dense(int64_t il, int64_t n_tokens, LayerRole role);
  void attend_sparse(int64_t il);
  void measure_recall(int64_t il);
  void mlp_block(int64_t il, int64_t n_tokens);
  void append_kv(int64_t il, int64_t n_tokens);

  const Model& model_;
  SessionOptions options_;
  const ModelConfig& config_;
  ThreadPool& pool_;
  AttentionPolicy* policy_;
  KvCache cache_;
  int64_t n_past_ = 0;
  int64_t step_ = 0;
  float scale_ = 1.0f;

  Activations act_;
  std::vector<float> logits_;         // [n_vocab]
  std::vector<float> select_logits_;  // [n_head, n_ctx]: a DenseSelect layer's logits
  std::vector<float> thread_scratch_; // [n_threads, n_group * n_ctx]
  std::vector<float> recall_scratch_; // [n_head, n_ctx], allocated with the observer
  std::vector<double> head_recall_;   // [n_head]

  // Split attention of one decode step: each KV head's rows are cut into parts that threads
  // share, then merged (see attend_rows_part). Sized once for n_ctx.
  void attend_split(int64_t il, float* logits_base);
  std::vector<const int32_t*> group_rows_;  // [n_kv_head] rows of each KV head, nullptr: all
  std::vector<int64_t> group_n_;            // [n_kv_head] row counts
  std::vector<int64_t> part_offset_;        // [n_kv_head + 1] first work unit of each KV head
  std::vector<float> decode_probs_;         // [n_head, n_ctx]
  std::vector<float> part_max_;             // [n_kv_head, kMaxParts, n_group]
  std::vector<float> part_sum_;             // [n_kv_head, kMaxParts, n_group]
  std::vector<float> part_acc_;             // [n_kv_head, kMaxParts, n_group, head_dim]
  AttentionStats stats_;
  DecodeTimings timings_;
  bool timing_ = false;  // true inside a decode step
  void timed_matmul(const MatrixView& w, const float* x, int64_t n_tokens, float* y);
  // Products of several matrices with one input: a single parallel loop for one token.
  void timed_matmul_shared(std::span<const MatrixView* const> ws, const float* x, int64_t n_tokens,
                           std::span<float* const> ys);
  void norm_tokens(const std::vector<float>& weight, int64_t n_tokens);  // act_.xn = RMSNorm(act_.x)
  std::function<void(const RecallSample&)> recall_observer_;
};

}  // namespace lim
