// The KV cache of one sequence: keys and values of every layer, stored as F32, F16 or BF16.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>

#include "ops/quant.h"

namespace lim {

class KvCache {
 public:
  KvCache() = default;
  // type must be F32, F16 or BF16 (see is_kv_type).
  KvCache(int64_t n_layer, int64_t n_kv_head, int64_t n_ctx, int64_t head_dim, DType type = DType::F32);

  int64_t n_ctx() const { return n_ctx_; }
  int64_t head_dim() const { return head_dim_; }
  DType type() const { return type_; }
  size_t row_bytes() const { return row_bytes_; }

  // Rows of one layer and KV head, laid out [n_layer, n_kv_head, n_ctx, head_dim] so that a
  // head's rows are contiguous. Row j starts j * row_bytes() bytes in.
  void* k(int64_t il, int64_t kv_head) { return k_.get() + offset(il, kv_head); }
  void* v(int64_t il, int64_t kv_head) { return v_.get() + offset(il, kv_head); }
  const void* k(int64_t il, int64_t kv_head) const { return k_.get() + offset(il, kv_head); }
  const void* v(int64_t il, int64_t kv_head) const { return v_.get() + offset(il, kv_head); }

  // Writes row pos of one layer and KV head from floats, converting to the element type.
  void store(int64_t il, int64_t kv_head, int64_t pos, const float* k, const float* v);
  // Reads key row pos of one layer and KV head as floats.
  void load_k(int64_t il, int64_t kv_head, int64_t pos, float* out) const;

  size_t bytes() const { return 2 * bytes_per_tensor_; }

 private:
  size_t offset(int64_t il, int64_t kv_head) const {
    return static_cast<size_t>((il * n_kv_head_ + kv_head) * n_ctx_) * row_bytes_;
  }

  int64_t n_layer_ = 0;
  int64_t n_kv_head_ = 0;
  int64_t n_ctx_ = 0;
  int64_t head_dim_ = 0;
  DType type_ = DType::F32;
  size_t row_bytes_ = 0;
  size_t bytes_per_tensor_ = 0;  // of the keys, and again of the values
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  // Zeroed, and aligned to huge pages, so that rows never straddle more cache lines than they
  // must and a selection's scattered rows need fewer page-table walks.
  std::unique_ptr<uint8_t[], Free> k_;
  std::unique_ptr<uint8_t[], Free> v_;
};

}  // namespace lim
