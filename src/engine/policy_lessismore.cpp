#include "engine/policy_lessismore.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common.h"

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

namespace {

void check_layers(const std::vector<int64_t>& layers, int64_t n_layer, const char* option) {
  for (int64_t il : layers) {
    if (il < 0 || il >= n_layer) {
      throw Error(std::string(option) + ": layer " + std::to_string(il) +
                  " is out of range; the model has layers 0 to " + std::to_string(n_layer - 1) + ".");
    }
  }
}

}  // namespace

LessIsMorePolicy::LessIsMorePolicy(const LessIsMoreParams& params, const PolicyDims& dims)
    : params_(params), dims_(dims) {
  if (params_.budget < 1) {
    throw Error("--budget " + std::to_string(params_.budget) + " is invalid; it must be at least 1.");
  }
  if (!(params_.recency_ratio >= 0.0 && params_.recency_ratio <= 1.0)) {
    throw Error("--recency-ratio " + std::to_string(params_.recency_ratio) +
                " is invalid; it must be between 0 and 1.");
  }
  if (params_.sinks < 0) {
    throw Error("--sinks " + std::to_string(params_.sinks) + " is invalid; it must be 0 or more.");
  }
  LIM_CHECK(!params_.selection_layers.empty());
  check_layers(params_.dense_layers, dims_.n_layer, "dense layers");
  check_layers(params_.selection_layers, dims_.n_layer, "--selection-layers");
  for (int64_t il : params_.selection_layers) {
    if (std::count(params_.dense_layers.begin(), params_.dense_layers.end(), il)) {
      throw Error("--selection-layers: layer " + std::to_string(il) +
                  " is also a dense layer; a selection layer must come after the dense layers.");
    }
  }

  // Layers before the first selection layer have no selection to reuse, so they stay dense.
  const int64_t first_selection =
      *std::min_element(params_.selection_layers.begin(), params_.selection_layers.end());
  sparse_roles_.assign(static_cast<size_t>(dims_.n_layer), LayerRole::Sparse);
  for (int64_t il = 0; il < dims_.n_layer; ++il) {
    if (il < first_selection) sparse_roles_[static_cast<size_t>(il)] = LayerRole::Dense;
  }
  for (int64_t il : params_.dense_layers) sparse_roles_[static_cast<size_t>(il)] = LayerRole::Dense;
  for (int64_t il : params_.selection_layers) sparse_roles_[static_cast<size_t>(il)] = LayerRole::DenseSelect;

  const int64_t capacity = std::max<int64_t>(dims_.n_ctx, 1);
  const int64_t max_top = std::min(params_.budget, capacity);
  candidates_.resize(static_cast<size_t>(capacity));
  ranked_.resize(static_cast<size_t>(dims_.n_head * max_top));
  seen_.assign(static_cast<size_t>(capacity), 0);
  selected_.reserve(static_cast<size_t>(max_top));
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
  const int64_t n_kv = n_kv_;
  const int64_t begin = split_.sinks;
  const int64_t end = n_kv - split_.recent;  // candidates are [begin, end)
  const int64_t top = split_.top;
  LIM_CHECK(end - begin >= top);  // holds because budget < n_kv

  // Per head: the `top` candidates with the largest logits, best first (ties: lower position).
  for (int64_t h = 0; h < dims_.n_head; ++h) {
    const float* s = logits + h * n_kv;
    int32_t* cand = candidates_.data();
    const int64_t n_cand = end - begin;
    std::iota(cand, cand + n_cand, static_cast<int32_t>(begin));
    auto better = [s](int32_t a, int32_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); };
    if (top < n_cand) std::nth_element(cand, cand + top, cand + n_cand, better);
    std::sort(cand, cand + top, better);
    std::copy(cand, cand + top, ranked_.data() + h * top);
  }

  // Unified ranking shared by every head: rank-major walk over the heads' lists.
  selected_.resize(static_cast<size_t>(params_.budget));
  int32_t* out = selected_.data();
  for (int64_t j = 0; j < split_.sinks; ++j) *out++ = static_cast<int32_t>(j);
  ++stamp_;
  if (stamp_ == 0) {  // wrapped: clear old stamps so none collides
    std::fill(seen_.begin(), seen_.end(), 0);
    stamp_ = 1;
  }
  const int64_t merged = merge_by_rank(ranked_.data(), dims_.n_head, top, top, top, seen_, stamp_, out);
  LIM_CHECK(merged == top);
  out += merged;
  for (int64_t j = n_kv - split_.recent; j < n_kv; ++j) *out++ = static_cast<int32_t>(j);
  LIM_CHECK(out == selected_.data() + params_.budget);

  std::sort(selected_.begin(), selected_.end());
  have_selection_ = true;
  (void)il;
}

RowSpan LessIsMorePolicy::rows(int64_t il, int64_t head) const {
  LIM_CHECK(have_selection_);
  return RowSpan{selected_.data(), static_cast<int64_t>(selected_.size())};
}

}  // namespace lim
