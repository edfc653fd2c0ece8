// Building blocks shared by the attention policies: layer-role tables, budget checks and top-K
// selection over logits.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/policy.h"

namespace lim {

// Throws lim::Error naming `option` when a layer index is outside [0, n_layer).
void check_layers(const std::vector<int64_t>& layers, int64_t n_layer, const char* option);

// Throws lim::Error when budget is below 1.
void check_budget(int64_t budget);

// Roles of a policy that attends densely below first_sparse_layer and sparsely from there on.
// Throws lim::Error when first_sparse_layer is outside [0, n_layer).
std::vector<LayerRole> roles_from_first_sparse(int64_t n_layer, int64_t first_sparse_layer);

// Roles of a policy with dense layers and selection layers (LessIsMore, TidalDecode): the dense
// layers and every layer below the first selection layer are Dense, because they have no selection
// to reuse yet. The selection layers are DenseSelect and the rest Sparse. Throws lim::Error for a
// layer out of range or a selection layer that is also dense.
std::vector<LayerRole> roles_from_selection_layers(int64_t n_layer, const std::vector<int64_t>& dense_layers,
                                                   const std::vector<int64_t>& selection_layers);

// The order of logits that every top-K below uses, as an unsigned key: a larger logit has a
// larger key, -0 and +0 have the same key, and NaN has key 0, below -inf.
uint32_t logit_order_key(float x);

// Buffers of the top-K functions for ranges of up to `capacity` positions. Sized once (at policy
// construction), so that a decode step allocates nothing.
class TopKScratch {
 public:
  TopKScratch() = default;
  explicit TopKScratch(int64_t capacity);
  // Grows the buffers to `capacity` positions; never shrinks them.
  void reserve(int64_t capacity);
  int64_t capacity() const { return capacity_; }

 private:
  friend void top_k_ranked(const float*, int64_t, int64_t, int64_t, TopKScratch&, int32_t*);
  friend void top_k_positions(const float*, int64_t, int64_t, int64_t, TopKScratch&, int32_t*);

  int64_t capacity_ = 0;
  std::vector<int32_t> positions_;  // candidates that pass the threshold, ascending
  std::vector<uint64_t> keys_;      // their sort keys
  std::vector<uint64_t> tmp_;       // the other buffer of the radix sort
};

// The top-K below orders positions by descending logit s[j] and breaks ties towards the lower
// position, so the result is deterministic (see logit_order_key for -0 and NaN). They need
// 0 <= k <= end - begin, and a scratch with capacity of at least end - begin.

// Writes to out the k best positions in [begin, end), best first.
void top_k_ranked(const float* s, int64_t begin, int64_t end, int64_t k, TopKScratch& scratch, int32_t* out);

// Writes to out the k best positions in [begin, end), ascending by position.
void top_k_positions(const float* s, int64_t begin, int64_t end, int64_t k, TopKScratch& scratch, int32_t* out);

// The same with a plain buffer: scratch must have room for end - begin entries.
void top_k_positions(const float* s, int64_t begin, int64_t end, int64_t k, int32_t* scratch, int32_t* out);

}  // namespace lim
