// The KV cache of one sequence: keys and values of every layer, float32.
#pragma once

#include <cstdint>
#include <vector>

namespace lim {

class KvCache {
 public:
  KvCache() = default;
  KvCache(int64_t n_layer, int64_t n_kv_head, int64_t n_ctx, int64_t head_dim)
      : n_layer_(n_layer), n_kv_head_(n_kv_head), n_ctx_(n_ctx), head_dim_(head_dim),
        k_(static_cast<size_t>(n_layer * n_kv_head * n_ctx * head_dim)),
        v_(k_.size()) {}

  int64_t n_ctx() const { return n_ctx_; }
  int64_t head_dim() const { return head_dim_; }

  // Rows of one layer and KV head, laid out [n_layer, n_kv_head, n_ctx, head_dim] so that a
  // head's rows are contiguous.
  float* k(int64_t il, int64_t kv_head) { return k_.data() + offset(il, kv_head); }
  float* v(int64_t il, int64_t kv_head) { return v_.data() + offset(il, kv_head); }
  const float* k(int64_t il, int64_t kv_head) const { return k_.data() + offset(il, kv_head); }
  const float* v(int64_t il, int64_t kv_head) const { return v_.data() + offset(il, kv_head); }

  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

 private:
  size_t offset(int64_t il, int64_t kv_head) const {
    return static_cast<size_t>((il * n_kv_head_ + kv_head) * n_ctx_ * head_dim_);
  }

  int64_t n_layer_ = 0;
  int64_t n_kv_head_ = 0;
  int64_t n_ctx_ = 0;
  int64_t head_dim_ = 0;
  std::vector<float> k_;
  std::vector<float> v_;
};

}  // namespace lim
