// Quest: query-aware page selection. The cache is split into pages; each page keeps the
// element-wise min and max of its keys, which bound q . k for any key in the page, and every
// sparse layer attends to the pages with the highest bounds for its own query.
// Source: Tang et al., "Quest: Query-Aware Sparsity for Efficient Long-Context LLM Inference",
// arXiv 2406.10774.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/policy.h"

namespace lim {

struct QuestParams {
  int64_t budget = 2048;          // K, converted to pages: ceil(K / page_size), at least 3
  int64_t page_size = 16;
  int64_t first_sparse_layer = 2; // layers below it attend densely
};

// Pages a query head attends to: min(max(3, ceil(budget / page_size)), n_pages).
int64_t quest_pages_to_keep(int64_t budget, int64_t page_size, int64_t n_pages);

// Upper bound of q . k over keys k with kmin <= k <= kmax element-wise:
// sum_d max(q_d * kmax_d, q_d * kmin_d). Unscaled, like q . k.
float quest_page_bound(const float* q, const float* kmin, const float* kmax, int64_t head_dim);

// Pages are positions [p * page_size, (p + 1) * page_size). The last page may be partial. Its
// min and max cover only the tokens written so far, because on_append updates them token by
// token, so its bound covers exactly the tokens it contains. Selecting it attends only to those
// rows, so a step attends to keep * page_size rows, fewer when the last page is chosen.
// Selection runs in every layer from first_sparse_layer on, at every decode step where the
// budget is below the context, from each query head's own query; the heads of a GQA group may
// read different pages.
class QuestPolicy final : public AttentionPolicy {
 public:
  // Throws lim::Error naming the parameter when it does not fit the model.
  QuestPolicy(const QuestParams& params, const PolicyDims& dims);

  std::string name() const override { return "quest"; }
  void begin_step(int64_t n_kv) override;
  LayerRole role(int64_t il) const override;
  bool is_sparse_layer(int64_t il) const override;
  void on_append(int64_t il, int64_t pos, const float* k) override;
  void select_for_query(int64_t il, const float* q, int64_t n_kv, const KvCache& cache) override;
  RowSpan rows(int64_t il, int64_t head) const override;

  // The bound of one page of layer il and KV head g for query q [head_dim].
  float page_bound(int64_t il, int64_t kv_head, int64_t page, const float* q) const;
  // The pages chosen for `head` in the last select_for_query, ascending.
  std::vector<int32_t> chosen_pages(int64_t head) const;

 private:
  size_t meta_offset(int64_t il, int64_t kv_head, int64_t page) const;

  QuestParams params_;
  PolicyDims dims_;
  std::vector<LayerRole> sparse_roles_;
  int64_t max_pages_ = 0;  // pages in n_ctx
  int64_t max_keep_ = 0;   // pages chosen per head at most
  int64_t max_rows_ = 0;   // rows per head at most
  bool active_ = false;
  bool have_selection_ = false;

  std::vector<float> kmin_, kmax_;        // [n_layer, n_kv_head, max_pages, head_dim]
  std::vector<float> scores_;             // [max_pages]
  std::vector<int32_t> scratch_;          // [max_pages]
  std::vector<int32_t> pages_;            // [n_head, max_keep]
  std::vector<int64_t> n_pages_chosen_;   // [n_head]
  std::vector<int32_t> rows_;             // [n_head, max_rows]
  std::vector<int64_t> n_rows_;           // [n_head]
};

}  // namespace lim
