// Oracle top-K: each query head attends to the K positions with the largest logits of its own
// full attention, in every sparse layer and step. No selection of K rows per head recalls more
// attention mass, so it bounds every selection method. It computes full logits first and saves
// no work, which makes it an analysis tool, not a fast path.
// Source: the oracle baseline of Yang et al., arXiv 2508.07101 (and of Quest, arXiv 2406.10774).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/policy.h"

namespace lim {

struct OracleParams {
  int64_t budget = 2048;           // K: positions per query head
  int64_t first_sparse_layer = 2;  // layers below it attend densely
};

class OraclePolicy final : public AttentionPolicy {
 public:
  OraclePolicy(const OracleParams& params, const PolicyDims& dims);

  std::string name() const override { return "oracle"; }
  void begin_step(int64_t n_kv) override;
  LayerRole role(int64_t il) const override;
  bool is_sparse_layer(int64_t il) const override;
  void select_for_query(int64_t il, const float* q, int64_t n_kv, const KvCache& cache) override;
  RowSpan rows(int64_t il, int64_t head) const override;

 private:
  OracleParams params_;
  PolicyDims dims_;
  std::vector<LayerRole> sparse_roles_;
  bool active_ = false;
  bool have_selection_ = false;
  std::vector<float> logits_;     // [n_group, n_ctx] one KV head's logits
  std::vector<int32_t> scratch_;  // [n_ctx]
  std::vector<int32_t> sets_;     // [n_head, budget] positions, ascending
};

}  // namespace lim
