// Kernels of the forward pass on every compiled SIMD target against scalar references, plus
// the float32 attention entry points and the thread pool.
#include "ops/kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ops/attention.h"
#include "ops/quant_reference.h"
#include "ops/thread_pool.h"
#include "support/simd_targets.h"

namespace lim {
namespace {

using test::for_each_simd_target;

std::vector<float> random_vector(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// Scalar reference: softmax attention of one head over the given rows, in double precision.
std::vector<double> reference_attention(const float* q, int64_t head_dim, const float* k, const float* v,
                                        const std::vector<int32_t>& rows, float scale) {
  std::vector<double> logits;
  double max_logit = -INFINITY;
  for (int32_t r : rows) {
    double s = 0.0;
    for (int64_t d = 0; d < head_dim; ++d) s += static_cast<double>(q[d]) * k[r * head_dim + d];
    logits.push_back(s * scale);
    max_logit = std::max(max_logit, logits.back());
  }
  double sum = 0.0;
  for (double& l : logits) sum += (l = std::exp(l - max_logit));
  std::vector<double> out(static_cast<size_t>(head_dim), 0.0);
  for (size_t j = 0; j < rows.size(); ++j) {
    for (int64_t d = 0; d < head_dim; ++d) out[static_cast<size_t>(d)] += logits[j] / sum * v[rows[j] * head_dim + d];
  }
  return out;
}

TEST(Attention, RowsMatchScalarReference) {
  for_each_simd_target([&] {
    std::mt19937 rng(1);
    const int64_t head_dim = 64, group = 3, n_ctx = 200;
    const auto q = random_vector(rng, group * head_dim);
    const auto k = random_vector(rng, n_ctx * head_dim);
    const auto v = random_vector(rng, n_ctx * head_dim);
    const float scale = 1.0f / 8.0f;

    for (const std::vector<int32_t>& rows : {std::vector<int32_t>{0}, std::vector<int32_t>{3, 17, 18, 150, 199}}) {
      std::vector<float> logits(group * rows.size()), probs(group * rows.size()), out(group * head_dim);
      attend_rows(q.data(), group, head_dim, k.data(), v.data(), rows.data(), static_cast<int64_t>(rows.size()), scale,
                  logits.data(), probs.data(), out.data());
      for (int64_t h = 0; h < group; ++h) {
        const auto expected = reference_attention(q.data() + h * head_dim, head_dim, k.data(), v.data(), rows, scale);
        for (int64_t d = 0; d < head_dim; ++d) {
          EXPECT_NEAR(out[h * head_dim + d], expected[static_cast<size_t>(d)], 1e-5) << "head " << h << " dim " << d;
        }
      }
    }
  });
}

TEST(Attention, AllRowsEqualsExplicitList) {
  for_each_simd_target([&] {
    std::mt19937 rng(2);
    const int64_t head_dim = 32, group = 2, n = 57;
    const auto q = random_vector(rng, group * head_dim);
    const auto k = random_vector(rng, n * head_dim);
    const auto v = random_vector(rng, n * head_dim);
    std::vector<int32_t> rows(n);
    for (int64_t j = 0; j < n; ++j) rows[static_cast<size_t>(j)] = static_cast<int32_t>(j);
    std::vector<float> a(group * n), b(group * n), out_all(group * head_dim), out_list(group * head_dim);
    attend_rows(q.data(), group, head_dim, k.data(), v.data(), nullptr, n, 0.2f, a.data(), a.data(), out_all.data());
    attend_rows(q.data(), group, head_dim, k.data(), v.data(), rows.data(), n, 0.2f, b.data(), b.data(), out_list.data());
    EXPECT_EQ(out_all, out_list);
  });
}

TEST(Attention, LogitsKeptWhenProbsSeparate) {
  for_each_simd_target([&] {
    std::mt19937 rng(3);
    const int64_t head_dim = 16, n = 9;
    const auto q = random_vector(rng, head_dim);
    const auto k = random_vector(rng, n * head_dim);
    const auto v = random_vector(rng, n * head_dim);
    std::vector<float> logits(n), probs(n), out(head_dim), expected(n);
    attend_rows(q.data(), 1, head_dim, k.data(), v.data(), nullptr, n, 0.25f, logits.data(), probs.data(), out.data());
    attention_logits(q.data(), 1, head_dim, k.data(), n, 0.25f, expected.data());
    for (int64_t j = 0; j < n; ++j) EXPECT_FLOAT_EQ(logits[j], expected[j]);
    double sum = 0.0;
    for (float p : probs) sum += p;
    EXPECT_NEAR(sum, 1.0, 1e-6);
  });
}

TEST(Kernels, RmsNormMatchesDefinition) {
  for_each_simd_target([&] {
    const std::vector<float> x = {1.0f, -2.0f, 3.0f, 0.5f};
    const std::vector<float> w = {1.0f, 0.5f, 2.0f, -1.0f};
    std::vector<float> out(4);
    rms_norm(x.data(), w.data(), 4, 1e-5f, out.data());
    const double rms = std::sqrt((1.0 + 4.0 + 9.0 + 0.25) / 4.0 + 1e-5);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], x[i] / rms * w[i], 1e-6);
  });
}

TEST(Kernels, RopeLayouts) {
  // head_dim 4, one frequency pair of inv_freq {1, 0.01}, position 2.
  const float inv_freq[2] = {1.0f, 0.01f};
  std::vector<float> interleaved = {1.0f, 2.0f, 3.0f, 4.0f};
  rope(interleaved.data(), 4, inv_freq, 2, RopeLayout::Interleaved);
  const double c0 = std::cos(2.0), s0 = std::sin(2.0), c1 = std::cos(0.02), s1 = std::sin(0.02);
  EXPECT_NEAR(interleaved[0], 1 * c0 - 2 * s0, 1e-6);
  EXPECT_NEAR(interleaved[1], 1 * s0 + 2 * c0, 1e-6);
  EXPECT_NEAR(interleaved[2], 3 * c1 - 4 * s1, 1e-6);
  EXPECT_NEAR(interleaved[3], 3 * s1 + 4 * c1, 1e-6);

  std::vector<float> half = {1.0f, 2.0f, 3.0f, 4.0f};
  rope(half.data(), 4, inv_freq, 2, RopeLayout::Half);
  EXPECT_NEAR(half[0], 1 * c0 - 3 * s0, 1e-6);
  EXPECT_NEAR(half[2], 1 * s0 + 3 * c0, 1e-6);
  EXPECT_NEAR(half[1], 2 * c1 - 4 * s1, 1e-6);
  EXPECT_NEAR(half[3], 2 * s1 + 4 * c1, 1e-6);
}

TEST(Kernels, SoftmaxHandlesNegativeInfinity) {
  for_each_simd_target([&] {
    std::vector<float> x = {0.0f, -INFINITY, std::log(3.0f)};
    softmax(x.data(), 3);
    EXPECT_NEAR(x[0], 0.25, 1e-6);
    EXPECT_EQ(x[1], 0.0f);
    EXPECT_NEAR(x[2], 0.75, 1e-6);

    std::vector<float> empty = {-INFINITY, -INFINITY};
    softmax(empty.data(), 2);
    EXPECT_EQ(empty[0], 0.0f);
    EXPECT_EQ(empty[1], 0.0f);
  });
}

TEST(Kernels, MatmulF32MatchesReference) {
  for_each_simd_target([&] {
    std::mt19937 rng(4);
    const int64_t n_rows = 37, n_cols = 64, n_tokens = 5;
    const auto w = random_vector(rng, n_rows * n_cols);
    const auto x = random_vector(rng, n_tokens * n_cols);
    ThreadPool pool(2);
    for (int64_t tokens : {int64_t{1}, n_tokens}) {
      std::vector<float> y(tokens * n_rows);
      matmul(MatrixView{DType::F32, w.data(), n_rows, n_cols}, x.data(), tokens, y.data(), pool);
      for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t r = 0; r < n_rows; ++r) {
          double expected = 0.0;
          for (int64_t c = 0; c < n_cols; ++c) expected += static_cast<double>(w[r * n_cols + c]) * x[t * n_cols + c];
          EXPECT_NEAR(y[t * n_rows + r], expected, 1e-4) << "token " << t << " row " << r;
        }
      }
    }
  });
}

// ---- Elementwise kernels, softmax and matmul on every compiled SIMD target ----

// Lengths that leave every kind of vector tail on 4, 8 and 16 float lanes.
constexpr int64_t kLengths[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 576, 1000};

TEST(Kernels, RmsNormMatchesReferenceOnEveryTarget) {
  for_each_simd_target([&] {
    std::mt19937 rng(8);
    for (int64_t n : kLengths) {
      SCOPED_TRACE("n=" + std::to_string(n));
      const auto x = random_vector(rng, size_t(n), 3.0f);
      const auto w = random_vector(rng, size_t(n));
      double sum_sq = 0.0;
      for (float v : x) sum_sq += double(v) * v;
      const double inv_rms = 1.0 / std::sqrt(sum_sq / double(n) + 1e-6);
      std::vector<float> out(static_cast<size_t>(n));
      rms_norm(x.data(), w.data(), n, 1e-6f, out.data());
      for (int64_t i = 0; i < n; ++i) {
        const double expected = double(x[i]) * inv_rms * w[i];
        EXPECT_NEAR(out[i], expected, 1e-6 * std::abs(expected) + 1e-30) << "index " << i;
      }
      // In place.
      std::vector<float> in_place = x;
      rms_norm(in_place.data(), w.data(), n, 1e-6f, in_place.data());
      EXPECT_EQ(in_place, out);
    }
  });
}

TEST(Kernels, SiluMulMatchesReferenceOnEveryTarget) {
  for_each_simd_target([&] {
    std::mt19937 rng(9);
    for (int64_t n : kLengths) {
      SCOPED_TRACE("n=" + std::to_string(n));
      auto gate = random_vector(rng, size_t(n), 4.0f);
      const auto up = random_vector(rng, size_t(n));
      // Saturated and extreme inputs, where exp(-g) would overflow.
      const float extremes[] = {-200.0f, -90.0f, -20.0f, 0.0f, 20.0f, 90.0f, 1e30f, -1e30f};
      for (size_t i = 0; i < std::size(extremes) && i < gate.size(); ++i)
        gate[i * gate.size() / std::size(extremes)] = extremes[i];
      std::vector<float> out(static_cast<size_t>(n));
      silu_mul(gate.data(), up.data(), n, out.data());
      for (int64_t i = 0; i < n; ++i) {
        const double g = gate[i];
        const double expected = g / (1.0 + std::exp(-g)) * up[i];
        EXPECT_NEAR(out[i], expected, 2e-6 * std::abs(expected) + 1e-37) << "gate " << g;
      }
      std::vector<float> in_place = gate;
      silu_mul(in_place.data(), up.data(), n, in_place.data());
      EXPECT_EQ(in_place, out);
    }
  });
}

TEST(Kernels, SoftmaxMatchesReferenceOnEveryTarget) {
  for_each_simd_target([&] {
    std::mt19937 rng(10);
    for (int64_t n : kLengths) {
      SCOPED_TRACE("n=" + std::to_string(n));
      auto x = random_vector(rng, size_t(n), 5.0f);
      for (int64_t i = 1; i < n; i += 5) x[i] = -INFINITY;  // masked entries
      double max_logit = -INFINITY;
      for (float v : x) max_logit = std::max(max_logit, double(v));
      double sum = 0.0;
      for (float v : x) sum += std::exp(double(v) - max_logit);

      std::vector<float> p = x;
      EXPECT_EQ(softmax(p.data(), n), float(max_logit));
      double total = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        const double expected = std::exp(double(x[i]) - max_logit) / sum;
        EXPECT_NEAR(p[i], expected, 2e-6 * expected + 1e-37) << "index " << i;
        if (std::isinf(x[i])) {
          EXPECT_EQ(p[i], 0.0f);
        }
        total += p[i];
      }
      EXPECT_NEAR(total, 1.0, 1e-5);
    }
    std::vector<float> empty(20, -INFINITY);
    softmax(empty.data(), 20);
    for (float v : empty) EXPECT_EQ(v, 0.0f);
  });
}

// Checks matmul for every weight type against the double-precision references of
// ops/quant_reference.h. It covers one and several tokens, both precisions, and a row count that
// splits unevenly across threads and row groups.
TEST(Matmul, MatchesReferenceForEveryTypeAndTarget) {
  ThreadPool pool(2);
  for_each_simd_target([&] {
    std::mt19937 rng(12);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (DType type : supported_dtypes()) {
      const int64_t block = dtype_traits(type).block_size;
      const int64_t n_cols = block == 256 ? 512 : (block == 32 ? 96 : 70);
      const int64_t n_rows = 37;
      const size_t stride = row_bytes(type, n_cols);
      test::Bytes weights;
      std::vector<std::vector<test::RefWeight>> ref_rows;
      for (int64_t r = 0; r < n_rows; ++r) {
        const test::Bytes row = test::random_row(type, n_cols, rng);
        weights.insert(weights.end(), row.begin(), row.end());
        ref_rows.push_back(test::reference_decode(type, row.data(), n_cols));
      }
      const MatrixView w{type, weights.data(), n_rows, n_cols};
      ASSERT_EQ(weights.size(), stride * n_rows);

      for (int64_t n_tokens : {1, 2, 3, 5, 8}) {
        std::vector<float> x(size_t(n_tokens * n_cols));
        for (float& v : x) v = normal(rng);
        for (MatmulPrecision precision :
             {MatmulPrecision::Exact, MatmulPrecision::Int8Activations}) {
          const bool int8 = precision == MatmulPrecision::Int8Activations && has_q8_dot(type);
          SCOPED_TRACE(std::string(dtype_name(type)) + " tokens=" + std::to_string(n_tokens) +
                       (int8 ? " int8" : " exact"));
          std::vector<float> y(size_t(n_tokens * n_rows), std::nanf(""));
          matmul(w, x.data(), n_tokens, y.data(), pool, precision);
          for (int64_t t = 0; t < n_tokens; ++t) {
            const float* xt = x.data() + t * n_cols;
            const test::RefQ8 xq = test::reference_quantize_q8(xt, int8 ? n_cols : 0);
            for (int64_t r = 0; r < n_rows; ++r) {
              const test::RefDot expected = int8 ? test::reference_dot_q8(ref_rows[r], xq)
                                                 : test::reference_dot(ref_rows[r], xt);
              ASSERT_NEAR(y[t * n_rows + r], expected.value, 2e-6 * expected.magnitude + 1e-30)
                  << "token " << t << " row " << r;
            }
          }
        }
      }
    }
  });
}

// At the shapes of SmolLM2-135M's MLP and with three threads, the batched path agrees with the
// one-token path token by token.
TEST(Matmul, BatchEqualsOneTokenAtATime) {
  ThreadPool pool(3);
  std::mt19937 rng(13);
  for (DType type : {DType::Q4_1, DType::Q8_0, DType::Q6_K, DType::F16}) {
    // K-quants need rows of whole 256-element blocks: the down projection's shape.
    const bool k_quant = dtype_traits(type).block_size == 256;
    const int64_t n_rows = k_quant ? 576 : 1536, n_cols = k_quant ? 1536 : 576, n_tokens = 7;
    test::Bytes weights;
    std::vector<std::vector<test::RefWeight>> ref_rows;
    for (int64_t r = 0; r < n_rows; ++r) {
      const test::Bytes row = test::random_row(type, n_cols, rng);
      weights.insert(weights.end(), row.begin(), row.end());
      ref_rows.push_back(test::reference_decode(type, row.data(), n_cols));
    }
    const MatrixView w{type, weights.data(), n_rows, n_cols};
    const auto x = random_vector(rng, size_t(n_tokens * n_cols));
    for (MatmulPrecision precision : {MatmulPrecision::Exact, MatmulPrecision::Int8Activations}) {
      SCOPED_TRACE(std::string(dtype_name(type)) +
                   (precision == MatmulPrecision::Exact ? " exact" : " int8"));
      std::vector<float> batch(static_cast<size_t>(n_tokens * n_rows)),
          single(static_cast<size_t>(n_rows));
      matmul(w, x.data(), n_tokens, batch.data(), pool, precision);
      for (int64_t t = 0; t < n_tokens; ++t) {
        matmul(w, x.data() + t * n_cols, 1, single.data(), pool, precision);
        for (int64_t r = 0; r < n_rows; ++r) {
          // The int8 path runs the same row kernel either way; the float batch path sums in a
          // different order than the one-token dot product.
          const float b = batch[t * n_rows + r];
          if (precision == MatmulPrecision::Int8Activations && has_q8_dot(type)) {
            ASSERT_EQ(b, single[r]) << "token " << t << " row " << r;
          } else {
            const double magnitude =
                test::reference_dot(ref_rows[r], x.data() + t * n_cols).magnitude;
            ASSERT_NEAR(b, single[r], 4e-6 * magnitude) << "token " << t << " row " << r;
          }
        }
      }
    }
  }
}

// One loop over several matrices that share an input gives exactly what separate products give,
// with mixed weight types (a Q4_K_M file stores V as Q6_K) and on every target.
TEST(Matmul, SharedInputEqualsSeparateProducts) {
  ThreadPool pool(2);
  std::mt19937 rng(21);
  const int64_t n_cols = 512;
  const DType types[] = {DType::Q4_K, DType::Q6_K, DType::F32};
  const int64_t n_rows[] = {96, 33, 7};
  std::vector<test::Bytes> weights(3);
  std::vector<MatrixView> views;
  for (int i = 0; i < 3; ++i) {
    for (int64_t r = 0; r < n_rows[i]; ++r) {
      const test::Bytes row = test::random_row(types[i], n_cols, rng);
      weights[static_cast<size_t>(i)].insert(weights[static_cast<size_t>(i)].end(), row.begin(), row.end());
    }
    views.push_back(MatrixView{types[i], weights[static_cast<size_t>(i)].data(), n_rows[i], n_cols});
  }
  const auto x = random_vector(rng, size_t(n_cols));
  test::for_each_simd_target([&] {
    for (MatmulPrecision precision : {MatmulPrecision::Exact, MatmulPrecision::Int8Activations}) {
      SCOPED_TRACE(precision == MatmulPrecision::Exact ? "exact" : "int8");
      std::vector<std::vector<float>> expected(3), actual(3);
      for (int i = 0; i < 3; ++i) {
        expected[static_cast<size_t>(i)].resize(static_cast<size_t>(n_rows[i]));
        actual[static_cast<size_t>(i)].assign(static_cast<size_t>(n_rows[i]), -1.0f);
        matmul(views[static_cast<size_t>(i)], x.data(), 1, expected[static_cast<size_t>(i)].data(), pool, precision);
      }
      const MatrixView* ws[] = {&views[0], &views[1], &views[2]};
      float* const ys[] = {actual[0].data(), actual[1].data(), actual[2].data()};
      matmul_shared_input(ws, x.data(), ys, pool, precision);
      for (int i = 0; i < 3; ++i) {
        for (int64_t r = 0; r < n_rows[i]; ++r) {
          ASSERT_EQ(actual[static_cast<size_t>(i)][static_cast<size_t>(r)],
                    expected[static_cast<size_t>(i)][static_cast<size_t>(r)])
              << dtype_name(types[i]) << " row " << r;
        }
      }
    }
  });
}

TEST(ThreadPool, CoversEveryIndexOnce) {
  ThreadPool pool(3);
  for (int64_t n : {1, 2, 3, 10, 1001}) {
    std::vector<int> hits(static_cast<size_t>(n), 0);
    pool.parallel_for(n, [&](int64_t begin, int64_t end, int) {
      for (int64_t i = begin; i < end; ++i) ++hits[static_cast<size_t>(i)];
    });
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[static_cast<size_t>(i)], 1) << "n " << n << " index " << i;
  }
}

}  // namespace
}  // namespace lim

namespace lim {
namespace {

TEST(Attention, PartsCombineToWholeAttention) {
  for_each_simd_target([&] {
    std::mt19937 rng(5);
    const int64_t head_dim = 64, group = 4, n_ctx = 300;
    const auto q = random_vector(rng, group * head_dim, 0.5f);
    const auto k = random_vector(rng, n_ctx * head_dim);
    const auto v = random_vector(rng, n_ctx * head_dim);
    std::vector<int32_t> rows;
    for (int32_t j = 0; j < n_ctx; j += 3) rows.push_back(j);
    const int64_t n = static_cast<int64_t>(rows.size());

    std::vector<float> logits(group * n), probs(group * n), expected(group * head_dim);
    attend_rows(q.data(), group, head_dim, k.data(), v.data(), rows.data(), n, 0.125f, logits.data(), probs.data(),
                expected.data());

    for (int64_t n_parts : {1, 2, 7}) {
      std::vector<float> part_logits(group * n), part_probs(group * n);
      std::vector<float> max(n_parts * group), sum(n_parts * group), acc(n_parts * group * head_dim), out(group * head_dim);
      for (int64_t p = 0; p < n_parts; ++p) {
        const int64_t begin = n * p / n_parts, end = n * (p + 1) / n_parts;
        attend_rows_part(q.data(), group, head_dim, k.data(), v.data(), rows.data(), begin, end, 0.125f,
                         part_logits.data(), part_probs.data(), n, max.data() + p * group, sum.data() + p * group,
                         acc.data() + p * group * head_dim);
      }
      combine_attention_parts(n_parts, group, head_dim, max.data(), sum.data(), acc.data(), out.data());
      for (int64_t i = 0; i < group * head_dim; ++i) EXPECT_NEAR(out[i], expected[i], 1e-5) << n_parts << " parts, index " << i;
      for (int64_t i = 0; i < group * n; ++i) EXPECT_FLOAT_EQ(part_logits[i], logits[i]) << "logit " << i;
    }
  });
}

TEST(Attention, EmptyPartIsIgnored) {
  for_each_simd_target([&] {
    std::mt19937 rng(6);
    const int64_t head_dim = 8;
    const auto q = random_vector(rng, head_dim);
    const auto k = random_vector(rng, 4 * head_dim);
    const auto v = random_vector(rng, 4 * head_dim);
    std::vector<float> logits(4), probs(4), expected(head_dim);
    attend_rows(q.data(), 1, head_dim, k.data(), v.data(), nullptr, 4, 1.0f, logits.data(), probs.data(), expected.data());

    std::vector<float> max(2), sum(2), acc(2 * head_dim), out(head_dim);
    attend_rows_part(q.data(), 1, head_dim, k.data(), v.data(), nullptr, 0, 4, 1.0f, logits.data(), probs.data(), 4,
                     &max[0], &sum[0], acc.data());
    attend_rows_part(q.data(), 1, head_dim, k.data(), v.data(), nullptr, 4, 4, 1.0f, logits.data(), probs.data(), 4,
                     &max[1], &sum[1], acc.data() + head_dim);
    combine_attention_parts(2, 1, head_dim, max.data(), sum.data(), acc.data(), out.data());
    for (int64_t d = 0; d < head_dim; ++d) EXPECT_NEAR(out[d], expected[d], 1e-6) << "dim " << d;
  });
}

}  // namespace
}  // namespace lim
