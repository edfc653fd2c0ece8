// TidalDecode: position-persistent sparse attention. Selection layers attend densely and each
// query head keeps its own top-K positions, which the head reuses in the sparse layers after it.
// Source: Yang et al., "TidalDecode: Fast and Accurate LLM Decoding with Position Persistent
// Sparse Attention", arXiv 2410.05076.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/policy.h"
#include "engine/policy_common.h"

namespace lim {

struct TidalParams {
  int64_t budget = 2048;  // K: positions each query head keeps
  std::vector<int64_t> dense_layers = {0, 1};
  std::vector<int64_t> selection_layers;  // must not be empty
};

// Layer roles are those of LessIsMore: dense layers and layers before the first selection layer
// attend to everything, selection layers attend densely and choose, the rest are sparse.
// Unlike LessIsMore, each head's set is its own top-K over all L positions, the current token
// included. There are no sinks, no recency window and no merge across heads, so the query heads
// of one GQA group may read different rows.
class TidalPolicy final : public AttentionPolicy {
 public:
  // Throws lim::Error naming the parameter when it does not fit the model.
  TidalPolicy(const TidalParams& params, const PolicyDims& dims);

  std::string name() const override { return "tidal"; }
  void begin_step(int64_t n_kv) override;
  LayerRole role(int64_t il) const override;
  bool is_sparse_layer(int64_t il) const override;
  void select(int64_t il, const float* logits) override;
  RowSpan rows(int64_t il, int64_t head) const override;

 private:
  TidalParams params_;
  PolicyDims dims_;
  std::vector<LayerRole> sparse_roles_;
  int64_t n_kv_ = 0;
  bool active_ = false;
  bool have_selection_ = false;
  TopKScratch scratch_;
  std::vector<int32_t> sets_;     // [n_head, budget] each head's positions, ascending
};

}  // namespace lim
