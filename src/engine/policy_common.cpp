#include "engine/policy_common.h"

#include <algorithm>
#include <numeric>
#include <string>

#include "common.h"

namespace lim {

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

void top_k_positions(const float* s, int64_t begin, int64_t end, int64_t k, int32_t* scratch, int32_t* out) {
  const int64_t n = end - begin;
  LIM_CHECK(k >= 0 && k <= n);
  std::iota(scratch, scratch + n, static_cast<int32_t>(begin));
  auto better = [s](int32_t a, int32_t b) { return s[a] > s[b] || (s[a] == s[b] && a < b); };
  if (k < n) std::nth_element(scratch, scratch + k, scratch + n, better);
  std::copy(scratch, scratch + k, out);
  std::sort(out, out + k);
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

}  // namespace lim
