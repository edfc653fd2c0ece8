// LessIsMore: one token set shared by all heads, chosen from the union of the heads' top-K
// lists merged by rank, plus attention sinks and a recency window.
// Source: Yang et al., "Less Is More: Training-Free Sparse Attention with Global Locality for
// Efficient Reasoning", arXiv 2508.07101, as its released evaluation code implements it.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "engine/policy.h"
#include "engine/policy_common.h"

namespace lim {

struct LessIsMoreParams {
  int64_t budget = 2048;          // K: tokens a sparse layer attends to per step
  double recency_ratio = 0.25;    // r: share of K given to the most recent tokens
  int64_t sinks = 4;              // leading tokens always kept, taken out of the recency share
  std::vector<int64_t> dense_layers = {0, 1};
  std::vector<int64_t> selection_layers;  // empty: default_selection_layers(...)

  // Ablations from the paper (arXiv 2508.07101, Section 5):
  // Per GQA group, one query head drawn at random (from `seed`) supplies the top share for the
  // whole group, instead of the rank-major merge over all heads. Sinks and recency stay.
  bool randomized_topk = false;
  uint64_t seed = 0;
  // Every layer from the first selection layer on (dense layers excepted) chooses its own set
  // from its own query, computing full logits first. An analysis mode: it saves no work.
  bool select_every_layer = false;
};

// The split of a budget at one step: sinks + top + recent == budget.
struct BudgetSplit {
  int64_t sinks = 0;
  int64_t top = 0;
  int64_t recent = 0;
};

// top = floor(K * (1 - r)); recent = K - top; sinks come out of recent, and are dropped when
// recent is smaller than the requested sinks (the authors' code does the same).
BudgetSplit split_budget(int64_t budget, double recency_ratio, int64_t sinks);

// Layer 2 plus a mid-depth layer. The paper uses layer 12 for Qwen3-8B (36 layers, n_embd 4096)
// and 20 for Qwen3-4B (36 layers, n_embd 2560). Other models get n_layer / 3, which gives 12 for
// Qwen3-8B as well, and 10 for SmolLM2-135M (30 layers).
std::vector<int64_t> default_selection_layers(const std::string& arch, int64_t n_layer, int64_t n_embd);

// The rank-major merge: walks rank 0 of heads 0..H-1, then rank 1, and so on, appending each
// position the first time it is seen, until `top` positions are collected. `ranked` contains each
// head's candidates in descending logit order, `stride` apart. `seen` must have room for every
// position and is left unchanged in size; stamp must differ from every value already in it.
// Returns the number of positions written to out (== top unless the heads run out).
int64_t merge_by_rank(const int32_t* ranked, int64_t n_head, int64_t per_head, int64_t stride,
                      int64_t top, std::vector<uint32_t>& seen, uint32_t stamp, int32_t* out);

class LessIsMorePolicy final : public AttentionPolicy {
 public:
  // Throws lim::Error naming the parameter when it does not fit the model (a layer index out of
  // range, a selection layer that is also dense, a budget below 1, r outside [0, 1]).
  LessIsMorePolicy(const LessIsMoreParams& params, const PolicyDims& dims);

  std::string name() const override { return "lessismore"; }
  void begin_step(int64_t n_kv) override;
  LayerRole role(int64_t il) const override;
  bool is_sparse_layer(int64_t il) const override;
  void select(int64_t il, const float* logits) override;
  void select_for_query(int64_t il, const float* q, int64_t n_kv, const KvCache& cache) override;
  RowSpan rows(int64_t il, int64_t head) const override;

  const LessIsMoreParams& params() const { return params_; }
  BudgetSplit split() const { return split_; }
  // The current step's selected positions, ascending (size budget when active). Without
  // randomized_topk every head reads this set.
  const std::vector<int32_t>& selected() const { return selected_; }

 private:
  // Builds the step's selection from scaled logits [n_head, n_kv].
  void build_selection(const float* logits);
  // Each head's `top` best candidates, best first, into ranked_ (heads where `want` is false are
  // skipped; want may be null for all heads).
  void rank_heads(const float* logits, const uint8_t* want);
  void build_unified();
  void build_randomized();
  // Writes sinks + the top positions + the recency window into out[0..budget), ascending.
  void assemble(const int32_t* top_positions, int32_t* out);

  LessIsMoreParams params_;
  PolicyDims dims_;
  std::vector<LayerRole> sparse_roles_;  // the role of each layer when the budget is active
  int64_t n_kv_ = 0;
  bool active_ = false;  // budget < n_kv in this step
  BudgetSplit split_;

  TopKScratch top_k_scratch_;        // one head's ranking
  std::vector<int32_t> merged_;      // [top] the rank-major merge, in walk order
  std::vector<int32_t> ranked_;      // [n_head, top] each head's top positions, best first
  std::vector<uint32_t> seen_;       // [n_ctx] merge stamps
  uint32_t stamp_ = 0;
  std::vector<int32_t> selected_;    // [budget]
  bool have_selection_ = false;

  std::mt19937_64 rng_;
  std::vector<int32_t> group_sets_;  // [n_kv_head, budget] per-group sets (randomized_topk)
  std::vector<uint8_t> chosen_;      // [n_head] heads whose ranking is needed this step
  std::vector<float> logits_;        // [n_head, n_ctx] own logits (select_every_layer)
};

}  // namespace lim
