// Attention kernels on every compiled SIMD target and KV element type, against a scalar
// reference in double precision that reads the same rounded rows.
#include "ops/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "support/simd_targets.h"

namespace lim {
namespace {

// Rows of one KV head in a given element type, plus the same values as floats after rounding.
struct TypedRows {
  DType type;
  int64_t head_dim;
  std::vector<uint8_t> bytes;
  std::vector<float> rounded;

  TypedRows(DType type_, int64_t n_rows, int64_t head_dim_, std::mt19937& rng)
      : type(type_), head_dim(head_dim_), bytes(row_bytes(type_, head_dim_) * static_cast<size_t>(n_rows)),
        rounded(static_cast<size_t>(n_rows * head_dim_)) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(head_dim));
    for (int64_t r = 0; r < n_rows; ++r) {
      for (float& value : x) value = normal(rng);
      store_kv_row(type, x.data(), row(r), head_dim);
      for (int64_t d = 0; d < head_dim; ++d) {
        rounded[static_cast<size_t>(r * head_dim + d)] = round_trip(x[static_cast<size_t>(d)]);
      }
    }
  }

  void* row(int64_t r) { return bytes.data() + static_cast<size_t>(r) * row_bytes(type, head_dim); }
  const void* data() const { return bytes.data(); }

  float round_trip(float x) const {
    switch (type) {
      case DType::F16: return fp16_to_fp32(fp32_to_fp16(x));
      case DType::BF16: return bf16_to_fp32(fp32_to_bf16(x));
      default: return x;
    }
  }
};

// Softmax attention of `group` heads over the listed rows, in double.
void reference_attention(const std::vector<float>& q, int64_t group, int64_t head_dim, const std::vector<float>& k,
                         const std::vector<float>& v, const std::vector<int32_t>& rows, double scale,
                         std::vector<double>& logits, std::vector<double>& out) {
  const auto n = static_cast<int64_t>(rows.size());
  logits.assign(static_cast<size_t>(group * n), 0.0);
  out.assign(static_cast<size_t>(group * head_dim), 0.0);
  for (int64_t h = 0; h < group; ++h) {
    double max = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      for (int64_t d = 0; d < head_dim; ++d) {
        s += double(q[static_cast<size_t>(h * head_dim + d)]) * k[static_cast<size_t>(rows[j] * head_dim + d)];
      }
      logits[static_cast<size_t>(h * n + j)] = s * scale;
      max = std::max(max, s * scale);
    }
    double total = 0.0;
    for (int64_t j = 0; j < n; ++j) total += std::exp(logits[static_cast<size_t>(h * n + j)] - max);
    for (int64_t j = 0; j < n; ++j) {
      const double p = std::exp(logits[static_cast<size_t>(h * n + j)] - max) / total;
      for (int64_t d = 0; d < head_dim; ++d) {
        out[static_cast<size_t>(h * head_dim + d)] += p * v[static_cast<size_t>(rows[j] * head_dim + d)];
      }
    }
  }
}

struct Shape {
  int64_t group;
  int64_t head_dim;
  int64_t n_cached;
};

class AttentionKernel : public ::testing::TestWithParam<DType> {};

TEST_P(AttentionKernel, MatchesScalarReferenceOnEveryTarget) {
  const DType type = GetParam();
  // Head sizes that are whole vectors on every target (64, 128, 256: the blocked kernels) and
  // ones with a tail past the widest vector (16 floats). Groups run from 1 to 13, more than the
  // widest tile of heads. Row counts include 1 and counts that are not multiples of a block.
  const Shape shapes[] = {{1, 64, 40},  {3, 64, 300}, {4, 128, 70}, {2, 20, 33}, {5, 7, 9},   {2, 64, 1},
                          {6, 64, 131}, {7, 128, 37}, {8, 64, 97},  {5, 256, 29}, {3, 128, 17}, {1, 256, 3},
                          {9, 64, 50},  {13, 32, 23}, {3, 48, 65},  {8, 16, 2}};
  for (const Shape shape : shapes) {
    SCOPED_TRACE("group " + std::to_string(shape.group) + " head_dim " + std::to_string(shape.head_dim) + " rows " +
                 std::to_string(shape.n_cached));
    std::mt19937 rng(static_cast<uint32_t>(shape.group * 1000 + shape.head_dim));
    const TypedRows k(type, shape.n_cached, shape.head_dim, rng);
    const TypedRows v(type, shape.n_cached, shape.head_dim, rng);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> q(static_cast<size_t>(shape.group * shape.head_dim));
    for (float& x : q) x = normal(rng);

    // Every third row, then every row.
    std::vector<int32_t> some;
    for (int32_t r = 0; r < shape.n_cached; r += 3) some.push_back(r);
    std::vector<int32_t> all(static_cast<size_t>(shape.n_cached));
    for (int32_t r = 0; r < shape.n_cached; ++r) all[static_cast<size_t>(r)] = r;
    const float scale = 1.0f / std::sqrt(float(shape.head_dim));

    for (const auto* rows : {&some, &all}) {
      std::vector<double> expected_logits, expected_out;
      reference_attention(q, shape.group, shape.head_dim, k.rounded, v.rounded, *rows, scale, expected_logits,
                          expected_out);
      const auto n = static_cast<int64_t>(rows->size());
      const int32_t* row_list = rows == &all ? nullptr : rows->data();

      test::for_each_simd_target([&] {
        std::vector<float> logits(static_cast<size_t>(shape.group * n));
        std::vector<float> probs(logits.size());
        std::vector<float> out(static_cast<size_t>(shape.group * shape.head_dim));
        attend_rows(q.data(), shape.group, shape.head_dim, type, k.data(), v.data(), row_list, n, scale,
                    logits.data(), probs.data(), out.data());
        for (size_t i = 0; i < logits.size(); ++i) ASSERT_NEAR(logits[i], expected_logits[i], 1e-4) << "logit " << i;
        for (int64_t h = 0; h < shape.group; ++h) {
          double total = 0.0;
          for (int64_t j = 0; j < n; ++j) total += probs[static_cast<size_t>(h * n + j)];
          EXPECT_NEAR(total, 1.0, 1e-5) << "head " << h;
        }
        for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], expected_out[i], 2e-5) << "output " << i;

        // The same rows cut into three parts and merged.
        const int64_t parts = 3;
        std::vector<float> max(static_cast<size_t>(parts * shape.group)), sum(max.size());
        std::vector<float> acc(max.size() * static_cast<size_t>(shape.head_dim));
        std::vector<float> part_logits(static_cast<size_t>(shape.group * n));
        for (int64_t p = 0; p < parts; ++p) {
          const size_t slot = static_cast<size_t>(p * shape.group);
          attend_rows_part(q.data(), shape.group, shape.head_dim, type, k.data(), v.data(), row_list, n * p / parts,
                           n * (p + 1) / parts, scale, part_logits.data(), part_logits.data(), n, max.data() + slot,
                           sum.data() + slot, acc.data() + slot * static_cast<size_t>(shape.head_dim));
        }
        std::vector<float> merged(out.size());
        combine_attention_parts(parts, shape.group, shape.head_dim, max.data(), sum.data(), acc.data(),
                                merged.data());
        for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(merged[i], expected_out[i], 2e-5) << "merged " << i;

        // Two parts with logits and probs apart and a padded stride: each part writes its own
        // columns of both, probs is exp(l - max) and sums to sum, and nothing else changes.
        {
          const int64_t ld = n + 5;
          const int64_t cut = n / 2;
          const float marker = 12345.0f;
          std::vector<float> l(static_cast<size_t>(shape.group * ld), marker), pr(l.size(), marker);
          std::vector<float> max2(static_cast<size_t>(2 * shape.group)), sum2(max2.size());
          std::vector<float> acc2(max2.size() * static_cast<size_t>(shape.head_dim));
          for (int64_t p = 0; p < 2; ++p) {
            const size_t slot = static_cast<size_t>(p * shape.group);
            attend_rows_part(q.data(), shape.group, shape.head_dim, type, k.data(), v.data(), row_list,
                             p == 0 ? 0 : cut, p == 0 ? cut : n, scale, l.data(), pr.data(), ld, max2.data() + slot,
                             sum2.data() + slot, acc2.data() + slot * static_cast<size_t>(shape.head_dim));
          }
          for (int64_t h = 0; h < shape.group; ++h) {
            for (int64_t j = 0; j < ld; ++j) {
              const size_t i = static_cast<size_t>(h * ld + j);
              if (j >= n) {
                ASSERT_EQ(l[i], marker) << "head " << h << " column " << j;
                ASSERT_EQ(pr[i], marker) << "head " << h << " column " << j;
                continue;
              }
              ASSERT_NEAR(l[i], expected_logits[static_cast<size_t>(h * n + j)], 1e-4) << "logit " << h << "," << j;
              const float part_max = max2[static_cast<size_t>((j < cut ? 0 : 1) * shape.group + h)];
              ASSERT_NEAR(pr[i], std::exp(l[i] - part_max), 1e-6) << "prob " << h << "," << j;
            }
            for (int64_t p = 0; p < 2; ++p) {
              double total = 0.0;
              for (int64_t j = p == 0 ? 0 : cut; j < (p == 0 ? cut : n); ++j) total += pr[static_cast<size_t>(h * ld + j)];
              EXPECT_NEAR(total, sum2[static_cast<size_t>(p * shape.group + h)], 1e-5 * (1.0 + total));
            }
          }
          std::vector<float> merged2(out.size());
          combine_attention_parts(2, shape.group, shape.head_dim, max2.data(), sum2.data(), acc2.data(),
                                  merged2.data());
          for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(merged2[i], expected_out[i], 2e-5) << "merged " << i;
        }

        // Logits alone, over rows 0..n_cached-1.
        if (row_list == nullptr) {
          std::vector<float> only(static_cast<size_t>(shape.group * n));
          attention_logits(q.data(), shape.group, shape.head_dim, type, k.data(), n, scale, only.data());
          for (size_t i = 0; i < only.size(); ++i) ASSERT_NEAR(only[i], expected_logits[i], 1e-4) << "logit " << i;
        }
      });
    }
  }
}

INSTANTIATE_TEST_SUITE_P(KvTypes, AttentionKernel, ::testing::Values(DType::F32, DType::F16, DType::BF16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(AttentionKernel, KvRowsRoundToNearestEven) {
  const std::vector<float> x = {1.0f, -2.5f, 0.1f, 65504.0f, 1e-8f, 3.14159f};
  for (DType type : {DType::F16, DType::BF16}) {
    std::vector<uint16_t> row(x.size());
    store_kv_row(type, x.data(), row.data(), static_cast<int64_t>(x.size()));
    std::vector<float> back(x.size());
    load_kv_row(type, row.data(), back.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      const uint16_t bits = type == DType::F16 ? fp32_to_fp16(x[i]) : fp32_to_bf16(x[i]);
      EXPECT_EQ(row[i], bits) << dtype_name(type) << " element " << i;
      EXPECT_EQ(back[i], type == DType::F16 ? fp16_to_fp32(bits) : bf16_to_fp32(bits));
    }
  }
  EXPECT_FALSE(is_kv_type(DType::Q8_0));
  EXPECT_TRUE(is_kv_type(DType::BF16));
}

TEST(AttentionKernel, EmptyOrMaskedPartContributesNothing) {
  // A part whose logits are all -inf (a large negative query against huge keys is not enough,
  // so use an empty range) leaves the merged result equal to the other part's.
  const int64_t head_dim = 16;
  std::mt19937 rng(5);
  const TypedRows k(DType::F32, 4, head_dim, rng);
  const TypedRows v(DType::F32, 4, head_dim, rng);
  std::vector<float> q(head_dim, 0.3f);
  test::for_each_simd_target([&] {
    std::vector<float> logits(4), probs(4), expected(head_dim);
    attend_rows(q.data(), 1, head_dim, DType::F32, k.data(), v.data(), nullptr, 4, 1.0f, logits.data(),
                probs.data(), expected.data());
    float max[2], sum[2];
    std::vector<float> acc(2 * head_dim), out(head_dim);
    attend_rows_part(q.data(), 1, head_dim, DType::F32, k.data(), v.data(), nullptr, 0, 4, 1.0f, logits.data(),
                     probs.data(), 4, max, sum, acc.data());
    attend_rows_part(q.data(), 1, head_dim, DType::F32, k.data(), v.data(), nullptr, 4, 4, 1.0f, logits.data(),
                     probs.data(), 4, max + 1, sum + 1, acc.data() + head_dim);
    EXPECT_EQ(max[1], -std::numeric_limits<float>::infinity());
    combine_attention_parts(2, 1, head_dim, max, sum, acc.data(), out.data());
    for (int64_t d = 0; d < head_dim; ++d) EXPECT_NEAR(out[d], expected[d], 1e-6);
  });
}

}  // namespace
}  // namespace lim
