#include "engine/policy_lessismore.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common.h"
#include "engine/policy_common.h"
#include "ops/attention.h"

namespace lim {

BudgetSplit split_budget(int64_t budget, double recency_ratio, int64_t sinks) {
  BudgetSplit split;
  split.top = static_cast<int64_t>(std::floor(static_cast<double>(budget) * (1.0 - recency_ratio)));
  split.recent = budget - split.top;
  if (split.recent < sinks) {
    split.sinks = 0;
  } else {
    split.sinks = sinks;
    split.recent -= sinks;
  }
  return split;
}

std::vector<int64_t> default_selection_layers(const std::string& arch, int64_t n_layer, int64_t n_embd) {
  if (arch == "qwen3" && n_layer == 36 && n_embd == 2560) return {2, 20};  // Qwen3-4B
  const int64_t mid = n_layer / 3;
  if (mid <= 2) return {2};
  return {2, mid};
}

int64_t merge_by_rank(const int32_t* ranked, int64_t n_head, int64_t per_head, int64_t stride,
                      int64_t top, std::vector<uint32_t>& seen, uint32_t stamp, int32_t* out) {
  int64_t n = 0;
  for (int64_t rank = 0; rank < per_head && n < top; ++rank) {
    for (int64_t h = 0; h < n_head && n < top; ++h) {
      const int32_t pos = ranked[h * stride + rank];
      if (seen[static_cast<size_t>(pos)] == stamp) continue;
      seen[static_cast<size_t>(pos)] = stamp;
      out[n++] = pos;
    }
  }
  return n;
}

LessIsMorePolicy::LessIsMorePolicy(const LessIsMoreParams& params, const PolicyDims& dims)
    : params_(params), dims_(dims), rng_(params.seed) {
  check_budget(params_.budget);
  if (!(params_.recency_ratio >= 0.0 && params_.recency_ratio <= 1.0)) {
    throw Error("--recency-ratio " + std::to_string(params_.recency_ratio) +
                " is invalid; it must be between 0 and 1.");
  }
  if (params_.sinks < 0) {
    throw Error("--sinks " + std::to_string(params_.sinks) + " is invalid; it must be 0 or more.");
  }
  sparse_roles_ = roles_from_selection_layers(dims_.n_layer, params_.dense_layers, params_.selection_layers);
  // With select_every_layer each non-dense layer picks its own set in select_for_query.
  if (params_.select_every_layer) {
    for (int64_t il : params_.selection_layers) sparse_roles_[static_cast<size_t>(il)] = LayerRole::Sparse;
  }

  const int64_t capacity = std::max<int64_t>(dims_.n_ctx, 1);
  const int64_t max_top = std::min(params_.budget, capacity);
  top_k_scratch_.reserve(capacity);
  merged_.resize(static_cast<size_t>(max_top));
  ranked_.resize(static_cast<size_t>(dims_.n_head * max_top));
  seen_.assign(static_cast<size_t>(capacity), 0);
  selected_.reserve(static_cast<size_t>(max_top));
  group_sets_.resize(static_cast<size_t>(dims_.n_kv_head * max_top));
  chosen_.assign(static_cast<size_t>(dims_.n_head), 1);
  if (params_.select_every_layer) {
    LIM_CHECK(dims_.head_dim > 0);
    logits_.resize(static_cast<size_t>(dims_.n_head * capacity));
  }
}

void LessIsMorePolicy::begin_step(int64_t n_kv) {
  n_kv_ = n_kv;
  active_ = params_.budget < n_kv;
  split_ = split_budget(params_.budget, params_.recency_ratio, params_.sinks);
  have_selection_ = false;
  selected_.clear();
}

LayerRole LessIsMorePolicy::role(int64_t il) const {
  if (!active_) return LayerRole::Dense;
  return sparse_roles_[static_cast<size_t>(il)];
}

bool LessIsMorePolicy::is_sparse_layer(int64_t il) const {
  return sparse_roles_[static_cast<size_t>(il)] == LayerRole::Sparse;
}

void LessIsMorePolicy::select(int64_t il, const float* logits) {
  LIM_CHECK(active_);
  build_selection(logits);
}

void LessIsMorePolicy::select_for_query(int64_t il, const float* q, int64_t n_kv, const KvCache& cache) {
  if (!params_.select_every_layer) return;
  LIM_CHECK(active_ && n_kv == n_kv_);
  const int64_t group = dims_.n_head / dims_.n_kv_head;
  const int64_t head_dim = dims_.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  for (int64_t g = 0; g < dims_.n_kv_head; ++g) {
    attention_logits(q + g * group * head_dim, group, head_dim, cache.type(), cache.k(il, g), n_kv, scale,
                     logits_.data() + g * group * n_kv);
  }
  build_selection(logits_.data());
}

void LessIsMorePolicy::build_selection(const float* logits) {
  LIM_CHECK(n_kv_ - split_.recent - split_.sinks >= split_.top);  // true because budget < n_kv
  if (params_.randomized_topk) {
    // Draw each group's speaking head first, so only those heads are ranked.
    const int64_t group = dims_.n_head / dims_.n_kv_head;
    std::fill(chosen_.begin(), chosen_.end(), 0);
    for (int64_t g = 0; g < dims_.n_kv_head; ++g) {
      std::uniform_int_distribution<int64_t> pick(0, group - 1);
      chosen_[static_cast<size_t>(g * group + pick(rng_))] = 1;
    }
    rank_heads(logits, chosen_.data());
    build_randomized();
  } else {
    rank_heads(logits, nullptr);
    build_unified();
  }
  have_selection_ = true;
}

void LessIsMorePolicy::rank_heads(const float* logits, const uint8_t* want) {
  const int64_t n_kv = n_kv_;
  const int64_t begin = split_.sinks;
  const int64_t end = n_kv - split_.recent;  // candidates are [begin, end)
  const int64_t top = split_.top;
  // Per head: the `top` candidates with the largest logits, best first (ties: lower position).
  for (int64_t h = 0; h < dims_.n_head; ++h) {
    if (want && !want[h]) continue;
    top_k_ranked(logits + h * n_kv, begin, end, top, top_k_scratch_, ranked_.data() + h * top);
  }
}

void LessIsMorePolicy::assemble(const int32_t* top_positions, int32_t* out) {
  int32_t* first = out;
  for (int64_t j = 0; j < split_.sinks; ++j) *out++ = static_cast<int32_t>(j);
  out = std::copy(top_positions, top_positions + split_.top, out);
  for (int64_t j = n_kv_ - split_.recent; j < n_kv_; ++j) *out++ = static_cast<int32_t>(j);
  LIM_CHECK(out == first + params_.budget);
  std::sort(first, out);
}

void LessIsMorePolicy::build_unified() {
  // Unified ranking shared by every head: rank-major walk over the heads' lists.
  const int64_t top = split_.top;
  ++stamp_;
  if (stamp_ == 0) {  // wrapped: clear old stamps so none collides
    std::fill(seen_.begin(), seen_.end(), 0);
    stamp_ = 1;
  }
  int32_t* merged = merged_.data();
  const int64_t n = merge_by_rank(ranked_.data(), dims_.n_head, top, top, top, seen_, stamp_, merged);
  LIM_CHECK(n == top);
  selected_.resize(static_cast<size_t>(params_.budget));
  assemble(merged, selected_.data());
}

void LessIsMorePolicy::build_randomized() {
  const int64_t group = dims_.n_head / dims_.n_kv_head;
  const int64_t top = split_.top;
  for (int64_t g = 0; g < dims_.n_kv_head; ++g) {
    int64_t speaker = g * group;
    while (!chosen_[static_cast<size_t>(speaker)]) ++speaker;
    assemble(ranked_.data() + speaker * top, group_sets_.data() + g * params_.budget);
  }
  // selected() reports group 0's set.
  selected_.assign(group_sets_.begin(), group_sets_.begin() + params_.budget);
}

RowSpan LessIsMorePolicy::rows(int64_t il, int64_t head) const {
  LIM_CHECK(have_selection_);
  if (params_.randomized_topk) {
    const int64_t group = dims_.n_head / dims_.n_kv_head;
    return RowSpan{group_sets_.data() + (head / group) * params_.budget, params_.budget};
  }
  return RowSpan{selected_.data(), static_cast<int64_t>(selected_.size())};
}

}  // namespace lim
