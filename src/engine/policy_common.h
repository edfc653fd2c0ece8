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

// Writes to out the k positions in [begin, end) with the largest logits s[j], ascending by
// position. Ties are broken towards the lower position, so the result is deterministic.
// scratch must have room for end - begin entries; k must not exceed end - begin.
void top_k_positions(const float* s, int64_t begin, int64_t end, int64_t k, int32_t* scratch, int32_t* out);

}  // namespace lim
