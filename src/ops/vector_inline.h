// Float vector loops inlined into the multiversioned kernels, so that each compiled x86 level
// vectorizes them with its own instructions.
#pragma once

#include <cstdint>

namespace lim {

// sum_i a[i] * b[i], with eight independent partial sums so the compiler can vectorize it.
[[gnu::always_inline]] inline float dot_f32(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  }
  float sum = 0.0f;
  for (int j = 0; j < 8; ++j) sum += acc[j];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// y[i] += alpha * x[i].
[[gnu::always_inline]] inline void axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace lim
