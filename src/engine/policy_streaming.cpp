#include "engine/policy_streaming.h"

#include <algorithm>

#include "common.h"
#include "engine/policy_common.h"

namespace lim {

StreamingWindow streaming_window(int64_t budget, int64_t sinks) {
  StreamingWindow w;
  w.sinks = std::clamp<int64_t>(sinks, 0, budget - 1);
  w.recent = budget - w.sinks;
  return w;
}

StreamingPolicy::StreamingPolicy(const StreamingParams& params, const PolicyDims& dims)
    : params_(params), dims_(dims) {
  check_budget(params_.budget);
  if (params_.sinks < 0) {
    throw Error("--sinks " + std::to_string(params_.sinks) + " is invalid; it must be 0 or more.");
  }
  sparse_roles_ = roles_from_first_sparse(dims_.n_layer, params_.first_sparse_layer);
  selected_.reserve(static_cast<size_t>(std::min(params_.budget, std::max<int64_t>(dims_.n_ctx, 1))));
}

void StreamingPolicy::begin_step(int64_t n_kv) {
  active_ = params_.budget < n_kv;
  selected_.clear();
  if (!active_) return;
  const StreamingWindow w = streaming_window(params_.budget, params_.sinks);
  for (int64_t j = 0; j < w.sinks; ++j) selected_.push_back(static_cast<int32_t>(j));
  for (int64_t j = n_kv - w.recent; j < n_kv; ++j) selected_.push_back(static_cast<int32_t>(j));
}

LayerRole StreamingPolicy::role(int64_t il) const {
  return active_ ? sparse_roles_[static_cast<size_t>(il)] : LayerRole::Dense;
}

bool StreamingPolicy::is_sparse_layer(int64_t il) const {
  return sparse_roles_[static_cast<size_t>(il)] == LayerRole::Sparse;
}

RowSpan StreamingPolicy::rows(int64_t il, int64_t head) const {
  LIM_CHECK(active_);
  return RowSpan{selected_.data(), static_cast<int64_t>(selected_.size())};
}

}  // namespace lim
