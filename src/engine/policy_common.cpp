// Layer-role tables, budget checks and the top-K selection that the policies share. The candidate
// filter of the top-K is compiled once per SIMD target (this file is included again for each
// target by <hwy/foreach_target.h>); everything else is in the HWY_ONCE part.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "engine/policy_common.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <string>

#include "common.h"
#include "engine/policy_common.h"

HWY_BEFORE_NAMESPACE();
namespace lim {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Writes the positions j in [begin, end) with s[j] >= t to out, ascending, and returns how many.
// out needs room for end - begin entries. Each vector's kept lanes are compressed in a register and
// stored as a whole vector, which is much faster than a masked compress to memory (Highway's
// CompressStore on AVX-512). The lanes past the kept ones stay within that room: before the
// vector at j, at most j - begin positions were kept.
int64_t FilterAtLeast(const float* s, int64_t begin, int64_t end, float t, int32_t* out) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const auto threshold = hn::Set(df, t);
  const auto step = hn::Set(di, static_cast<int32_t>(N));
  auto positions = hn::Iota(di, static_cast<int32_t>(begin));
  int64_t count = 0;
  int64_t j = begin;
  // Most vectors hold no survivor when k is a small share of n, so test the mask before
  // compressing.
  for (; j + N <= end; j += N) {
    const auto keep = hn::Ge(hn::LoadU(df, s + j), threshold);
    if (!hn::AllFalse(df, keep)) {
      const auto mask = hn::RebindMask(di, keep);
      hn::StoreU(hn::Compress(positions, mask), di, out + count);
      count += static_cast<int64_t>(hn::CountTrue(di, mask));
    }
    positions = hn::Add(positions, step);
  }
  for (; j < end; ++j) {
    if (s[j] >= t) out[count++] = static_cast<int32_t>(j);
  }
  return count;
}

}  // namespace HWY_NAMESPACE
}  // namespace lim
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lim {

HWY_EXPORT(FilterAtLeast);

void check_layers(const std::vector<int64_t>& layers, int64_t n_layer, const char* option) {
  for (int64_t il : layers) {
    if (il < 0 || il >= n_layer) {
      throw Error(std::string(option) + ": layer " + std::to_string(il) +
                  " is out of range; the model has layers 0 to " + std::to_string(n_layer - 1) + ".");
    }
  }
}

void check_budget(int64_t budget) {
  if (budget < 1) throw Error("--budget " + std::to_string(budget) + " is invalid; it must be at least 1.");
}

std::vector<LayerRole> roles_from_first_sparse(int64_t n_layer, int64_t first_sparse_layer) {
  if (first_sparse_layer < 0 || first_sparse_layer >= n_layer) {
    throw Error("--first-sparse-layer " + std::to_string(first_sparse_layer) +
                " is out of range; the model has layers 0 to " + std::to_string(n_layer - 1) + ".");
  }
  std::vector<LayerRole> roles(static_cast<size_t>(n_layer), LayerRole::Sparse);
  for (int64_t il = 0; il < first_sparse_layer; ++il) roles[static_cast<size_t>(il)] = LayerRole::Dense;
  return roles;
}

std::vector<LayerRole> roles_from_selection_layers(int64_t n_layer, const std::vector<int64_t>& dense_layers,
                                                   const std::vector<int64_t>& selection_layers) {
  LIM_CHECK(!selection_layers.empty());
  check_layers(dense_layers, n_layer, "dense layers");
  check_layers(selection_layers, n_layer, "--selection-layers");
  for (int64_t il : selection_layers) {
    if (std::count(dense_layers.begin(), dense_layers.end(), il)) {
      throw Error("--selection-layers: layer " + std::to_string(il) +
                  " is also a dense layer; a selection layer must come after the dense layers.");
    }
  }

  const int64_t first_selection = *std::min_element(selection_layers.begin(), selection_layers.end());
  std::vector<LayerRole> roles = roles_from_first_sparse(n_layer, first_selection);
  for (int64_t il : dense_layers) roles[static_cast<size_t>(il)] = LayerRole::Dense;
  for (int64_t il : selection_layers) roles[static_cast<size_t>(il)] = LayerRole::DenseSelect;
  return roles;
}

uint32_t logit_order_key(float x) {
  if (std::isnan(x)) return 0;
  uint32_t bits = std::bit_cast<uint32_t>(x);
  if (bits == 0x80000000u) bits = 0;  // -0 equals +0
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

namespace {

// Positions are sampled from at most this many evenly spaced logits to guess a threshold.
constexpr int64_t kMaxSample = 256;

// The packed sort key of position p: ascending keys order by descending logit, then ascending
// position, which is the order of top_k_ranked.
uint64_t rank_key(const float* s, int32_t p) {
  return (static_cast<uint64_t>(~logit_order_key(s[p])) << 32) | static_cast<uint32_t>(p);
}

// Writes to out, ascending, a subset of [begin, end) of at least k positions that contains the k
// best, and returns its size. A threshold taken from a sample of the logits usually keeps a few
// more than k. When it keeps fewer, because the sample misjudged the tail, every position is kept.
// 0 < k < end - begin.
int64_t collect_candidates(const float* s, int64_t begin, int64_t end, int64_t k, int32_t* out) {
  const int64_t n = end - begin;
  if (n >= 4 * kMaxSample && 4 * k <= n) {
    float sample[kMaxSample];
    const int64_t stride = n / kMaxSample;
    for (int64_t i = 0; i < kMaxSample; ++i) {
      const float x = s[begin + i * stride + stride / 2];
      sample[i] = std::isnan(x) ? -std::numeric_limits<float>::infinity() : x;  // a strict order for nth_element
    }
    // About k * kMaxSample / n sampled logits lie above the k-th best. Aiming a quarter higher
    // plus three standard deviations puts the threshold below the k-th best almost always.
    const double expected = static_cast<double>(k) * kMaxSample / static_cast<double>(n);
    const int64_t rank = static_cast<int64_t>(expected * 1.25 + 3.0 * std::sqrt(expected) + 2.0);
    if (rank < kMaxSample) {
      std::nth_element(sample, sample + rank, sample + kMaxSample, std::greater<float>());
      const int64_t count = HWY_DYNAMIC_DISPATCH(FilterAtLeast)(s, begin, end, sample[rank], out);
      if (count >= k) return count;
    }
  }
  std::iota(out, out + n, static_cast<int32_t>(begin));
  return n;
}

// Sorts keys[0..n) ascending by their high 32 bits, keeping the order of equal ones, and returns
// where the result is: keys or tmp. An LSD radix sort, byte by byte: a comparison sort of the few
// hundred candidates of a top-K mispredicts a branch in about every other comparison, while this
// is four counting passes with no data-dependent branch. Bytes that every key shares are skipped.
const uint64_t* radix_sort_high(uint64_t* keys, uint64_t* tmp, int64_t n) {
  if (n <= 64) {
    // Few keys: a plain sort. The low 32 bits (positions) ascend in the input, so sorting whole
    // keys gives the stable order. std::stable_sort would allocate a buffer.
    std::sort(keys, keys + n);
    return keys;
  }
  uint32_t counts[4][256] = {};
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t key = keys[i];
    ++counts[0][(key >> 32) & 0xff];
    ++counts[1][(key >> 40) & 0xff];
    ++counts[2][(key >> 48) & 0xff];
    ++counts[3][key >> 56];
  }
  uint64_t* from = keys;
  uint64_t* to = tmp;
  for (int pass = 0; pass < 4; ++pass) {
    uint32_t* count = counts[pass];
    const int shift = 32 + 8 * pass;
    if (count[(from[0] >> shift) & 0xff] == static_cast<uint32_t>(n)) continue;  // one digit for all
    uint32_t offset = 0;
    for (int d = 0; d < 256; ++d) {
      const uint32_t c = count[d];
      count[d] = offset;
      offset += c;
    }
    for (int64_t i = 0; i < n; ++i) {
      const uint64_t key = from[i];
      to[count[(key >> shift) & 0xff]++] = key;
    }
    std::swap(from, to);
  }
  return from;
}

// Sorts the candidates positions[0..count), ascending by position, into the order of top_k_ranked
// and returns the sorted keys (position in the low 32 bits), in keys or tmp.
const uint64_t* rank_candidates(const float* s, const int32_t* positions, int64_t count, uint64_t* keys,
                                uint64_t* tmp) {
  for (int64_t i = 0; i < count; ++i) keys[i] = rank_key(s, positions[i]);
  // The keys arrive ascending by position, so a stable sort on the logit part breaks ties towards
  // the lower position.
  return radix_sort_high(keys, tmp, count);
}

}  // namespace

TopKScratch::TopKScratch(int64_t capacity) { reserve(capacity); }

void TopKScratch::reserve(int64_t capacity) {
  if (capacity <= capacity_) return;
  capacity_ = capacity;
  positions_.resize(static_cast<size_t>(capacity));
  keys_.resize(static_cast<size_t>(capacity));
  tmp_.resize(static_cast<size_t>(capacity));
}

void top_k_ranked(const float* s, int64_t begin, int64_t end, int64_t k, TopKScratch& scratch, int32_t* out) {
  const int64_t n = end - begin;
  LIM_CHECK(k >= 0 && k <= n && n <= scratch.capacity_);
  if (k == 0) return;
  int32_t* positions = scratch.positions_.data();
  int64_t count = n;
  if (k < n) {
    count = collect_candidates(s, begin, end, k, positions);
  } else {
    std::iota(positions, positions + n, static_cast<int32_t>(begin));
  }
  const uint64_t* sorted = rank_candidates(s, positions, count, scratch.keys_.data(), scratch.tmp_.data());
  for (int64_t i = 0; i < k; ++i) out[i] = static_cast<int32_t>(sorted[i]);
}

void top_k_positions(const float* s, int64_t begin, int64_t end, int64_t k, TopKScratch& scratch, int32_t* out) {
  const int64_t n = end - begin;
  LIM_CHECK(k >= 0 && k <= n && n <= scratch.capacity_);
  if (k == 0) return;
  if (k == n) {
    std::iota(out, out + n, static_cast<int32_t>(begin));
    return;
  }
  int32_t* positions = scratch.positions_.data();
  const int64_t count = collect_candidates(s, begin, end, k, positions);
  if (count == k) {
    std::copy(positions, positions + k, out);
    return;
  }
  // The k-th key bounds the top k. The candidates are ascending, so one pass that keeps the keys
  // up to it leaves the result in position order. It compacts in place without a branch, because
  // a branch would mispredict on every other candidate.
  const uint64_t* sorted = rank_candidates(s, positions, count, scratch.keys_.data(), scratch.tmp_.data());
  const uint64_t last = sorted[k - 1];
  int64_t kept = 0;
  for (int64_t i = 0; i < count; ++i) {
    const int32_t pos = positions[i];
    positions[kept] = pos;
    kept += rank_key(s, pos) <= last;
  }
  LIM_CHECK(kept == k);
  std::copy(positions, positions + k, out);
}

void top_k_positions(const float* s, int64_t begin, int64_t end, int64_t k, int32_t* scratch, int32_t* out) {
  const int64_t n = end - begin;
  LIM_CHECK(k >= 0 && k <= n);
  if (k == 0) return;
  if (k == n) {
    std::iota(out, out + n, static_cast<int32_t>(begin));
    return;
  }
  const int64_t count = collect_candidates(s, begin, end, k, scratch);
  auto better = [s](int32_t a, int32_t b) { return rank_key(s, a) < rank_key(s, b); };
  if (k < count) std::nth_element(scratch, scratch + k, scratch + count, better);
  std::copy(scratch, scratch + k, out);
  std::sort(out, out + k);
}

}  // namespace lim
#endif  // HWY_ONCE
