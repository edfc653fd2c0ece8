#include "engine/config.h"

#include "common.h"

namespace lim {

namespace {

void require_positive(const std::string& model, const char* field, int64_t value) {
  if (value <= 0) {
    throw Error("model " + model + ": " + field + " = " + std::to_string(value) +
                " is invalid; it must be positive. The file's metadata is incomplete or corrupt.");
  }
}

}  // namespace

void ModelConfig::validate() const {
  require_positive(name, "n_layer", n_layer);
  require_positive(name, "n_embd", n_embd);
  require_positive(name, "n_head", n_head);
  require_positive(name, "n_kv_head", n_kv_head);
  require_positive(name, "head_dim", head_dim);
  require_positive(name, "n_ff", n_ff);
  require_positive(name, "n_vocab", n_vocab);

  if (n_head % n_kv_head != 0) {
    throw Error("model " + name + ": n_head = " + std::to_string(n_head) +
                " is not a multiple of n_kv_head = " + std::to_string(n_kv_head) +
                "; grouped-query attention needs whole groups.");
  }

  if (n_rot <= 0 || n_rot > head_dim || n_rot % 2 != 0) {
    throw Error("model " + name + ": rope dimension count " + std::to_string(n_rot) +
                " is invalid for head_dim " + std::to_string(head_dim) +
                "; it must be even and at most head_dim.");
  }
  if (!rope_freq_factors.empty() && static_cast<int64_t>(rope_freq_factors.size()) != n_rot / 2) {
    throw Error("model " + name + ": " + std::to_string(rope_freq_factors.size()) +
                " rope frequency factors given for " + std::to_string(n_rot / 2) + " frequencies.");
  }
  for (float factor : rope_freq_factors) {
    if (!(factor > 0.0f)) {
      throw Error("model " + name + ": rope frequency factor " + std::to_string(factor) +
                  " is invalid; it must be positive.");
    }
  }
  if (!(rope_base > 0.0f)) {
    throw Error("model " + name + ": rope frequency base " + std::to_string(rope_base) +
                " is invalid; it must be positive.");
  }
}

}  // namespace lim
