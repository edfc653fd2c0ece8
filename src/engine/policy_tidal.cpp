#include "engine/policy_tidal.h"

#include <algorithm>

#include "common.h"
#include "engine/policy_common.h"

namespace lim {

TidalPolicy::TidalPolicy(const TidalParams& params, const PolicyDims& dims) : params_(params), dims_(dims) {
  check_budget(params_.budget);
  sparse_roles_ = roles_from_selection_layers(dims_.n_layer, params_.dense_layers, params_.selection_layers);

  const int64_t capacity = std::max<int64_t>(dims_.n_ctx, 1);
  scratch_.reserve(capacity);
  sets_.resize(static_cast<size_t>(dims_.n_head * std::min(params_.budget, capacity)));
}

void TidalPolicy::begin_step(int64_t n_kv) {
  n_kv_ = n_kv;
  active_ = params_.budget < n_kv;
  have_selection_ = false;
}

LayerRole TidalPolicy::role(int64_t il) const {
  return active_ ? sparse_roles_[static_cast<size_t>(il)] : LayerRole::Dense;
}

bool TidalPolicy::is_sparse_layer(int64_t il) const {
  return sparse_roles_[static_cast<size_t>(il)] == LayerRole::Sparse;
}

void TidalPolicy::select(int64_t il, const float* logits) {
  LIM_CHECK(active_);
  const int64_t k = params_.budget;
  for (int64_t h = 0; h < dims_.n_head; ++h) {
    top_k_positions(logits + h * n_kv_, 0, n_kv_, k, scratch_, sets_.data() + h * k);
  }
  have_selection_ = true;
}

RowSpan TidalPolicy::rows(int64_t il, int64_t head) const {
  LIM_CHECK(have_selection_);
  return RowSpan{sets_.data() + head * params_.budget, params_.budget};
}

}  // namespace lim
