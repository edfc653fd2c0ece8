#include "engine/kv_cache.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common.h"
#include "ops/attention.h"

namespace lim {

namespace {

constexpr size_t kHugePage = size_t(2) << 20;

// Returns n zeroed bytes aligned to 2 MiB. Where transparent huge pages are in "madvise" mode,
// the advice lets the kernel back the cache with huge pages; elsewhere it is ignored.
uint8_t* allocate_zeroed(size_t n) {
  const size_t rounded = std::max(kHugePage, (n + kHugePage - 1) / kHugePage * kHugePage);
  void* p = std::aligned_alloc(kHugePage, rounded);
  if (p == nullptr) {
    throw Error("cannot allocate " + std::to_string(rounded >> 20) +
                " MiB for the KV cache; lower --ctx or use --kv-type f16.");
  }
#ifdef MADV_HUGEPAGE
  madvise(p, rounded, MADV_HUGEPAGE);
#endif
  std::memset(p, 0, n);
  return static_cast<uint8_t*>(p);
}

}  // namespace

KvCache::KvCache(int64_t n_layer, int64_t n_kv_head, int64_t n_ctx, int64_t head_dim, DType type)
    : n_layer_(n_layer), n_kv_head_(n_kv_head), n_ctx_(n_ctx), head_dim_(head_dim), type_(type) {
  if (!is_kv_type(type)) {
    throw Error(std::string("KV cache type ") + dtype_name(type) + " is not supported; use F32, F16 or BF16.");
  }
  row_bytes_ = lim::row_bytes(type, head_dim);
  bytes_per_tensor_ = static_cast<size_t>(n_layer * n_kv_head * n_ctx) * row_bytes_;
  k_.reset(allocate_zeroed(bytes_per_tensor_));
  v_.reset(allocate_zeroed(bytes_per_tensor_));
}

void KvCache::store(int64_t il, int64_t kv_head, int64_t pos, const float* k, const float* v) {
  LIM_CHECK(pos >= 0 && pos < n_ctx_);
  const size_t at = static_cast<size_t>(pos) * row_bytes_;
  store_kv_row(type_, k, static_cast<uint8_t*>(this->k(il, kv_head)) + at, head_dim_);
  store_kv_row(type_, v, static_cast<uint8_t*>(this->v(il, kv_head)) + at, head_dim_);
}

void KvCache::load_k(int64_t il, int64_t kv_head, int64_t pos, float* out) const {
  LIM_CHECK(pos >= 0 && pos < n_ctx_);
  load_kv_row(type_, static_cast<const uint8_t*>(k(il, kv_head)) + static_cast<size_t>(pos) * row_bytes_, out,
              head_dim_);
}

}  // namespace lim
