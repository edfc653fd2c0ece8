#include "engine/policy_quest.h"

#include <algorithm>
#include <limits>

#include "common.h"
#include "engine/policy_common.h"

namespace lim {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

int64_t quest_pages_to_keep(int64_t budget, int64_t page_size, int64_t n_pages) {
  return std::min(std::max<int64_t>(3, ceil_div(budget, page_size)), n_pages);
}

float quest_page_bound(const float* q, const float* kmin, const float* kmax, int64_t head_dim) {
  float bound = 0.0f;
  for (int64_t d = 0; d < head_dim; ++d) bound += std::max(q[d] * kmax[d], q[d] * kmin[d]);
  return bound;
}

QuestPolicy::QuestPolicy(const QuestParams& params, const PolicyDims& dims) : params_(params), dims_(dims) {
  check_budget(params_.budget);
  if (params_.page_size < 1) {
    throw Error("--page-size " + std::to_string(params_.page_size) + " is invalid; it must be at least 1.");
  }
  LIM_CHECK(dims_.head_dim > 0 && dims_.n_kv_head > 0);
  sparse_roles_ = roles_from_first_sparse(dims_.n_layer, params_.first_sparse_layer);

  const int64_t capacity = std::max<int64_t>(dims_.n_ctx, 1);
  max_pages_ = ceil_div(capacity, params_.page_size);
  max_keep_ = quest_pages_to_keep(params_.budget, params_.page_size, max_pages_);
  max_rows_ = std::min(max_keep_ * params_.page_size, capacity);
  const size_t meta = static_cast<size_t>(dims_.n_layer * dims_.n_kv_head * max_pages_ * dims_.head_dim);
  kmin_.resize(meta);
  kmax_.resize(meta);
  scores_.resize(static_cast<size_t>(max_pages_));
  scratch_.resize(static_cast<size_t>(max_pages_));
  pages_.resize(static_cast<size_t>(dims_.n_head * max_keep_));
  n_pages_chosen_.assign(static_cast<size_t>(dims_.n_head), 0);
  rows_.resize(static_cast<size_t>(dims_.n_head * max_rows_));
  n_rows_.assign(static_cast<size_t>(dims_.n_head), 0);
}

size_t QuestPolicy::meta_offset(int64_t il, int64_t kv_head, int64_t page) const {
  return static_cast<size_t>(((il * dims_.n_kv_head + kv_head) * max_pages_ + page) * dims_.head_dim);
}

void QuestPolicy::begin_step(int64_t n_kv) {
  active_ = params_.budget < n_kv;
  have_selection_ = false;
}

LayerRole QuestPolicy::role(int64_t il) const {
  return active_ ? sparse_roles_[static_cast<size_t>(il)] : LayerRole::Dense;
}

bool QuestPolicy::is_sparse_layer(int64_t il) const {
  return sparse_roles_[static_cast<size_t>(il)] == LayerRole::Sparse;
}

void QuestPolicy::on_append(int64_t il, int64_t pos, const float* k) {
  const int64_t page = pos / params_.page_size;
  const bool first_in_page = pos % params_.page_size == 0;
  for (int64_t g = 0; g < dims_.n_kv_head; ++g) {
    const float* kg = k + g * dims_.head_dim;
    float* lo = kmin_.data() + meta_offset(il, g, page);
    float* hi = kmax_.data() + meta_offset(il, g, page);
    for (int64_t d = 0; d < dims_.head_dim; ++d) {
      lo[d] = first_in_page ? kg[d] : std::min(lo[d], kg[d]);
      hi[d] = first_in_page ? kg[d] : std::max(hi[d], kg[d]);
    }
  }
}

float QuestPolicy::page_bound(int64_t il, int64_t kv_head, int64_t page, const float* q) const {
  const size_t at = meta_offset(il, kv_head, page);
  return quest_page_bound(q, kmin_.data() + at, kmax_.data() + at, dims_.head_dim);
}

void QuestPolicy::select_for_query(int64_t il, const float* q, int64_t n_kv, const KvCache& cache) {
  LIM_CHECK(active_);
  const int64_t page_size = params_.page_size;
  const int64_t n_pages = ceil_div(n_kv, page_size);
  const int64_t keep = quest_pages_to_keep(params_.budget, page_size, n_pages);
  const int64_t group = dims_.n_head / dims_.n_kv_head;
  for (int64_t h = 0; h < dims_.n_head; ++h) {
    const float* qh = q + h * dims_.head_dim;
    for (int64_t p = 0; p < n_pages; ++p) scores_[static_cast<size_t>(p)] = page_bound(il, h / group, p, qh);
    int32_t* pages = pages_.data() + h * max_keep_;
    top_k_positions(scores_.data(), 0, n_pages, keep, scratch_.data(), pages);
    n_pages_chosen_[static_cast<size_t>(h)] = keep;

    int32_t* rows = rows_.data() + h * max_rows_;
    int64_t n = 0;
    for (int64_t i = 0; i < keep; ++i) {
      const int64_t begin = pages[i] * page_size;
      const int64_t end = std::min(begin + page_size, n_kv);
      for (int64_t j = begin; j < end; ++j) rows[n++] = static_cast<int32_t>(j);
    }
    n_rows_[static_cast<size_t>(h)] = n;
  }
  have_selection_ = true;
}

RowSpan QuestPolicy::rows(int64_t il, int64_t head) const {
  LIM_CHECK(have_selection_);
  return RowSpan{rows_.data() + head * max_rows_, n_rows_[static_cast<size_t>(head)]};
}

std::vector<int32_t> QuestPolicy::chosen_pages(int64_t head) const {
  const int32_t* first = pages_.data() + head * max_keep_;
  return std::vector<int32_t>(first, first + n_pages_chosen_[static_cast<size_t>(head)]);
}

}  // namespace lim
