#include "engine/policy_oracle.h"

#include <algorithm>
#include <cmath>

#include "common.h"
#include "engine/policy_common.h"
#include "ops/attention.h"

namespace lim {

OraclePolicy::OraclePolicy(const OracleParams& params, const PolicyDims& dims) : params_(params), dims_(dims) {
  check_budget(params_.budget);
  LIM_CHECK(dims_.head_dim > 0 && dims_.n_kv_head > 0);
  sparse_roles_ = roles_from_first_sparse(dims_.n_layer, params_.first_sparse_layer);
  const int64_t capacity = std::max<int64_t>(dims_.n_ctx, 1);
  const int64_t group = dims_.n_head / dims_.n_kv_head;
  logits_.resize(static_cast<size_t>(group * capacity));
  scratch_.resize(static_cast<size_t>(capacity));
  sets_.resize(static_cast<size_t>(dims_.n_head * std::min(params_.budget, capacity)));
}

void OraclePolicy::begin_step(int64_t n_kv) {
  active_ = params_.budget < n_kv;
  have_selection_ = false;
}

LayerRole OraclePolicy::role(int64_t il) const {
  return active_ ? sparse_roles_[static_cast<size_t>(il)] : LayerRole::Dense;
}

bool OraclePolicy::is_sparse_layer(int64_t il) const {
  return sparse_roles_[static_cast<size_t>(il)] == LayerRole::Sparse;
}

void OraclePolicy::select_for_query(int64_t il, const float* q, int64_t n_kv, const KvCache& cache) {
  LIM_CHECK(active_);
  const int64_t group = dims_.n_head / dims_.n_kv_head;
  const int64_t head_dim = dims_.head_dim;
  const int64_t k = params_.budget;
  // The same scale as the session's attention, so ties and order match the attention's own logits.
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  for (int64_t g = 0; g < dims_.n_kv_head; ++g) {
    attention_logits(q + g * group * head_dim, group, head_dim, cache.type(), cache.k(il, g), n_kv, scale, logits_.data());
    for (int64_t i = 0; i < group; ++i) {
      const int64_t h = g * group + i;
      top_k_positions(logits_.data() + i * n_kv, 0, n_kv, k, scratch_.data(), sets_.data() + h * k);
    }
  }
  have_selection_ = true;
}

RowSpan OraclePolicy::rows(int64_t il, int64_t head) const {
  LIM_CHECK(have_selection_);
  return RowSpan{sets_.data() + head * params_.budget, params_.budget};
}

}  // namespace lim
