#include "ops/attention.h"

#include <algorithm>
#include <cstring>

#include "common.h"
#include "ops/kernels.h"

namespace lim {

namespace {

[[gnu::always_inline]] inline float dot(const float* a, const float* b, int64_t n) {
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

[[gnu::always_inline]] inline void axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace

LIM_MULTIVERSION void attention_logits(const float* q, int64_t group, int64_t head_dim, const float* k, int64_t n,
                      float scale, float* logits) {
  for (int64_t j = 0; j < n; ++j) {
    const float* kj = k + j * head_dim;
    for (int64_t h = 0; h < group; ++h) logits[h * n + j] = dot(q + h * head_dim, kj, head_dim) * scale;
  }
}

LIM_MULTIVERSION void attend_rows(const float* q, int64_t group, int64_t head_dim, const float* k, const float* v,
                 const int32_t* rows, int64_t n, float scale, float* logits, float* probs,
                 float* out) {
  // Logits: one pass over the K rows, each row dotted with every query head of the group.
  for (int64_t j = 0; j < n; ++j) {
    const int64_t row = rows ? rows[j] : j;
    const float* kj = k + row * head_dim;
    for (int64_t h = 0; h < group; ++h) logits[h * n + j] = dot(q + h * head_dim, kj, head_dim) * scale;
  }

  if (probs != logits) std::memcpy(probs, logits, sizeof(float) * group * n);
  for (int64_t h = 0; h < group; ++h) softmax(probs + h * n, n);

  // Output: one pass over the V rows.
  std::fill(out, out + group * head_dim, 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t row = rows ? rows[j] : j;
    const float* vj = v + row * head_dim;
    for (int64_t h = 0; h < group; ++h) axpy(probs[h * n + j], vj, out + h * head_dim, head_dim);
  }
}

}  // namespace lim
