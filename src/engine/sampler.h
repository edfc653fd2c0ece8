// Next-token sampling: greedy, or temperature with top-k and top-p (nucleus) filtering.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace lim {

struct SamplerParams {
  float temperature = 0.0f;  // 0 or less: greedy (argmax)
  int64_t top_k = 0;         // keep the k most likely tokens; 0 keeps all
  float top_p = 1.0f;        // keep the smallest set whose probability reaches p; 1 keeps all
  uint64_t seed = 0;
};

// Applies the filters in the order Hugging Face transformers uses: temperature, top-k, top-p.
class Sampler {
 public:
  // Throws lim::Error naming the option for a negative top-k or top-p outside (0, 1].
  Sampler(const SamplerParams& params, int64_t n_vocab);

  int32_t sample(const float* logits);

 private:
  SamplerParams params_;
  std::mt19937_64 rng_;
  std::vector<int32_t> order_;  // [n_vocab] candidate ids
  std::vector<float> probs_;    // [n_vocab]
};

// Returns the index of the largest logit, the lowest index among equal ones.
int32_t argmax(const float* logits, int64_t n);

}  // namespace lim
