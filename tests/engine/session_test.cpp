#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "common.h"
#include "engine/model.h"
#include "engine/policy_lessismore.h"
#include "engine/session.h"
#include "support/tiny_model.h"

namespace lim {
namespace {

using test::decode_all;
using test::TinyModel;
using test::token_sequence;

LessIsMoreParams lessismore_params(int64_t budget) {
  LessIsMoreParams params;
  params.budget = budget;
  params.selection_layers = {2, 4};
  return params;
}

PolicyDims dims_of(const Model& model, int64_t n_ctx) {
  const ModelConfig& c = model.config();
  return PolicyDims{c.n_layer, c.n_head, c.n_kv_head, n_ctx};
}

class ArchTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ArchTest, PrefillMatchesStepByStepDecode) {
  test::TinyModelSpec spec;
  spec.arch = GetParam();
  if (spec.arch == "qwen3") spec.head_dim = 24;  // head_dim != n_embd / n_head, as in Qwen3
  TinyModel model(spec);
  const int64_t n_vocab = model->config().n_vocab;
  const auto tokens = token_sequence(40, n_vocab, 3);

  ThreadPool pool(2);
  Session batched(*model, 64, pool, nullptr);
  const float* prefill_logits = batched.prefill(tokens);
  const std::vector<float> from_prefill(prefill_logits, prefill_logits + n_vocab);

  Session stepwise(*model, 64, pool, nullptr);
  const auto steps = decode_all(stepwise, tokens, n_vocab);
  // Batched and single-token matmuls sum in different orders, and the random Q/K weights make
  // attention very peaked, which amplifies rounding. Differences measured: up to 1.7e-3 at
  // logits of magnitude 25. A masking or position bug changes logits by whole units.
  float max_abs = 0.0f;
  for (float x : from_prefill) max_abs = std::max(max_abs, std::abs(x));
  const double tolerance = 1.5e-4 * max_abs + 1e-4;
  for (int64_t i = 0; i < n_vocab; ++i) {
    EXPECT_NEAR(from_prefill[static_cast<size_t>(i)], steps.back()[static_cast<size_t>(i)], tolerance) << "token id " << i;
  }
  std::printf("max |logit| %.2f, tolerance %.2e\n", max_abs, tolerance);
}

TEST_P(ArchTest, FullBudgetLessIsMoreEqualsDense) {
  test::TinyModelSpec spec;
  spec.arch = GetParam();
  TinyModel model(spec);
  const int64_t n_vocab = model->config().n_vocab;
  const auto tokens = token_sequence(48, n_vocab, 5);

  ThreadPool pool(2);
  Session dense(*model, 64, pool, nullptr);
  LessIsMorePolicy policy(lessismore_params(/*budget=*/48), dims_of(*model, 64));
  Session sparse(*model, 64, pool, &policy);
  const auto expected = decode_all(dense, tokens, n_vocab);
  const auto actual = decode_all(sparse, tokens, n_vocab);
  ASSERT_EQ(expected.size(), actual.size());
  for (size_t step = 0; step < expected.size(); ++step) {
    EXPECT_EQ(expected[step], actual[step]) << "step " << step;
  }
  EXPECT_EQ(sparse.stats().dense_fallback_steps, sparse.stats().decode_steps);
}

INSTANTIATE_TEST_SUITE_P(Architectures, ArchTest, ::testing::Values("llama", "qwen2", "qwen3"));

TEST(Session, SparseStepsAttendExactlyTheBudget) {
  TinyModel model(test::TinyModelSpec{});
  const int64_t n_vocab = model->config().n_vocab;
  const auto tokens = token_sequence(60, n_vocab, 9);
  const int64_t budget = 16;

  ThreadPool pool(2);
  LessIsMorePolicy policy(lessismore_params(budget), dims_of(*model, 64));
  Session session(*model, 64, pool, &policy);
  std::vector<RecallSample> samples;
  session.set_recall_observer([&](const RecallSample& s) { samples.push_back(s); });
  decode_all(session, tokens, n_vocab);

  // Steps whose context exceeds the budget: n_kv from 17 to 60, with sparse layers 3 and 5.
  ASSERT_EQ(samples.size(), static_cast<size_t>((60 - budget) * 2));
  for (const RecallSample& s : samples) {
    EXPECT_EQ(s.attended, budget) << "step " << s.step << " layer " << s.layer;
    EXPECT_GT(s.recall, 0.0);
    EXPECT_LE(s.recall, 1.0 + 1e-6);
    EXPECT_TRUE(s.layer == 3 || s.layer == 5) << "layer " << s.layer;
  }
}

TEST(Session, RecallGrowsWithBudget) {
  // On the same token sequence a larger budget must capture more attention mass on average.
  TinyModel model(test::TinyModelSpec{});
  const int64_t n_vocab = model->config().n_vocab;
  const auto tokens = token_sequence(40, n_vocab, 13);
  ThreadPool pool(1);

  auto mean_recall = [&](int64_t budget) {
    LessIsMorePolicy policy(lessismore_params(budget), dims_of(*model, 64));
    Session session(*model, 64, pool, &policy);
    double sum = 0.0;
    int64_t n = 0;
    session.set_recall_observer([&](const RecallSample& s) {
      sum += s.recall;
      ++n;
    });
    decode_all(session, tokens, n_vocab);
    return n ? sum / static_cast<double>(n) : 1.0;
  };
  const double small = mean_recall(8);
  const double large = mean_recall(32);
  EXPECT_LT(small, large);
  EXPECT_GT(large, 0.5);
}

// A policy whose sparse layers read only rows 0 and n_kv - 1, to prove that the sparse path
// touches no other row of their cache.
class TwoRowPolicy final : public AttentionPolicy {
 public:
  std::string name() const override { return "two-row"; }
  void begin_step(int64_t n_kv) override { rows_ = {0, static_cast<int32_t>(n_kv - 1)}; }
  LayerRole role(int64_t il) const override { return il == 3 ? LayerRole::Sparse : LayerRole::Dense; }
  bool is_sparse_layer(int64_t il) const override { return il == 3; }
  RowSpan rows(int64_t, int64_t) const override { return RowSpan{rows_.data(), 2}; }

 private:
  std::vector<int32_t> rows_;
};

TEST(Session, SparseLayerReadsOnlySelectedRows) {
  TinyModel model(test::TinyModelSpec{});
  const ModelConfig& c = model->config();
  const auto tokens = token_sequence(20, c.n_vocab, 17);
  ThreadPool pool(2);
  TwoRowPolicy policy;

  Session clean(*model, 32, pool, &policy);
  clean.prefill(std::span<const int32_t>(tokens.data(), 19));
  const float* expected = clean.decode(tokens[19]);
  const std::vector<float> expected_logits(expected, expected + c.n_vocab);

  Session poisoned(*model, 32, pool, &policy);
  poisoned.prefill(std::span<const int32_t>(tokens.data(), 19));
  // Poison rows 1..18 of layer 3; the step appends row 19 and reads rows 0 and 19 only.
  auto& cache = const_cast<KvCache&>(poisoned.cache());
  for (int64_t g = 0; g < c.n_kv_head; ++g) {
    for (int64_t row = 1; row < 19; ++row) {
      for (int64_t d = 0; d < c.head_dim; ++d) {
        static_cast<float*>(cache.k(3, g))[row * c.head_dim + d] = std::numeric_limits<float>::quiet_NaN();
        static_cast<float*>(cache.v(3, g))[row * c.head_dim + d] = std::numeric_limits<float>::quiet_NaN();
      }
    }
  }
  const float* actual = poisoned.decode(tokens[19]);
  for (int64_t i = 0; i < c.n_vocab; ++i) EXPECT_EQ(actual[i], expected_logits[static_cast<size_t>(i)]) << "id " << i;
}

// Half-precision caches round each key and value to 11 (F16) or 8 (BF16) significant bits. The
// logits must stay close to the float32 cache's, and BF16, with fewer bits, no closer than F16.
TEST(Session, HalfPrecisionKvCacheStaysCloseToF32) {
  TinyModel model(test::TinyModelSpec{});
  const ModelConfig& c = model->config();
  const auto tokens = token_sequence(8, c.n_vocab, 3);
  ThreadPool pool(2);
  Session f32(*model, 32, pool, nullptr);
  const auto expected = decode_all(f32, tokens, c.n_vocab);

  double largest = 0.0;
  for (const auto& step : expected) {
    for (float x : step) largest = std::max(largest, double(std::abs(x)));
  }
  double worst[2] = {0.0, 0.0};
  const DType types[2] = {DType::F16, DType::BF16};
  for (int i = 0; i < 2; ++i) {
    SessionOptions options;
    options.kv_type = types[i];
    Session half(*model, 32, pool, nullptr, options);
    EXPECT_EQ(half.cache().type(), types[i]);
    EXPECT_EQ(half.cache().bytes() * 2, f32.cache().bytes());
    const auto actual = decode_all(half, tokens, c.n_vocab);
    // Random weights amplify rounding from step to step, so only the first steps are compared.
    for (size_t step = 0; step < 4; ++step) {
      for (int64_t id = 0; id < c.n_vocab; ++id) {
        worst[i] = std::max(worst[i], double(std::abs(actual[step][id] - expected[step][id])));
      }
    }
  }
  // Errors relative to the largest logit: F16 keeps 11 significant bits, BF16 8.
  worst[0] /= largest;
  worst[1] /= largest;
  EXPECT_GT(worst[0], 0.0) << "an F16 cache should round some values";
  EXPECT_LT(worst[0], 5e-3) << "largest logit " << largest;
  EXPECT_LT(worst[1], 5e-2) << "largest logit " << largest;
  EXPECT_LE(worst[0], worst[1]);
}

TEST(Session, UnsupportedKvTypeIsAnError) {
  TinyModel model(test::TinyModelSpec{});
  ThreadPool pool(1);
  SessionOptions options;
  options.kv_type = DType::Q8_0;
  try {
    Session session(*model, 8, pool, nullptr, options);
    FAIL() << "expected lim::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Q8_0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("F16"), std::string::npos) << e.what();
  }
}

// A session started from another's cache decodes exactly as the source would, for dense
// attention and for a policy that must see every copied key (LessIsMore's recency window and
// its selection layers read them).
TEST(Session, CopiedPrefixDecodesLikeTheSource) {
  TinyModel model(test::TinyModelSpec{});
  const ModelConfig& c = model->config();
  const auto tokens = token_sequence(30, c.n_vocab, 9);
  ThreadPool pool(2);
  for (DType kv_type : {DType::F32, DType::F16}) {
    SessionOptions options;
    options.kv_type = kv_type;
    Session source(*model, 64, pool, nullptr, options);
    source.prefill(std::span<const int32_t>(tokens.data(), 20));

    for (bool sparse : {false, true}) {
      SCOPED_TRACE(std::string(dtype_name(kv_type)) + (sparse ? " lessismore" : " dense"));
      LessIsMorePolicy policy_a(lessismore_params(8), dims_of(*model, 64));
      LessIsMorePolicy policy_b(lessismore_params(8), dims_of(*model, 64));
      Session fresh(*model, 64, pool, sparse ? &policy_a : nullptr, options);
      fresh.prefill(std::span<const int32_t>(tokens.data(), 20));
      Session copied(*model, 64, pool, sparse ? &policy_b : nullptr, options);
      copied.copy_prefix_from(source, 20);
      EXPECT_EQ(copied.n_past(), 20);
      for (size_t t = 20; t < tokens.size(); ++t) {
        const float* a = fresh.decode(tokens[t]);
        const std::vector<float> expected(a, a + c.n_vocab);
        const float* b = copied.decode(tokens[t]);
        for (int64_t id = 0; id < c.n_vocab; ++id) ASSERT_EQ(b[id], expected[static_cast<size_t>(id)]) << "step " << t;
      }
    }

    // A shorter prefix also works: positions after it are simply not copied.
    Session shorter(*model, 64, pool, nullptr, options);
    shorter.copy_prefix_from(source, 12);
    Session reference(*model, 64, pool, nullptr, options);
    reference.prefill(std::span<const int32_t>(tokens.data(), 12));
    const float* a = reference.decode(tokens[12]);
    const std::vector<float> expected(a, a + c.n_vocab);
    const float* b = shorter.decode(tokens[12]);
    for (int64_t id = 0; id < c.n_vocab; ++id) ASSERT_EQ(b[id], expected[static_cast<size_t>(id)]);
  }
}

TEST(Session, CopyPrefixRejectsMismatches) {
  TinyModel model(test::TinyModelSpec{});
  const auto tokens = token_sequence(10, model->config().n_vocab, 2);
  ThreadPool pool(1);
  Session source(*model, 16, pool, nullptr);
  source.prefill(tokens);
  SessionOptions half;
  half.kv_type = DType::F16;
  Session other_type(*model, 16, pool, nullptr, half);
  EXPECT_THROW(other_type.copy_prefix_from(source, 5), Error);
  Session too_small(*model, 4, pool, nullptr);
  EXPECT_THROW(too_small.copy_prefix_from(source, 5), Error);
  Session fine(*model, 16, pool, nullptr);
  EXPECT_THROW(fine.copy_prefix_from(source, 11), Error);
  fine.copy_prefix_from(source, 10);
  EXPECT_THROW(fine.copy_prefix_from(source, 10), Error);
}

TEST(Session, PromptLongerThanContextIsAnError) {
  TinyModel model(test::TinyModelSpec{});
  ThreadPool pool(1);
  Session session(*model, 8, pool, nullptr);
  const auto tokens = token_sequence(9, model->config().n_vocab, 1);
  try {
    session.prefill(tokens);
    FAIL() << "expected lim::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--ctx"), std::string::npos) << e.what();
  }
}

TEST(ModelLoad, UnsupportedArchitectureNamed) {
  test::TinyModelSpec spec;
  spec.arch = "gptneox";
  const std::string path = test::temp_path("lim-arch");
  test::write_tiny_model(path, spec);
  try {
    Model::load(path);
    FAIL() << "expected lim::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gptneox"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("llama"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

TEST(ModelLoad, MissingTensorNamed) {
  test::TinyModelSpec spec;
  spec.skip_tensor = "blk.3.ffn_up.weight";
  const std::string path = test::temp_path("lim-missing");
  test::write_tiny_model(path, spec);
  try {
    Model::load(path);
    FAIL() << "expected lim::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blk.3.ffn_up.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

TEST(ModelLoad, UntiedOutputIsUsed) {
  test::TinyModelSpec spec;
  spec.tied_embeddings = false;
  TinyModel model(spec);
  EXPECT_FALSE(model->config().tied_embeddings);
  EXPECT_NE(model->output.data, model->token_embd.data);
}

}  // namespace
}  // namespace lim
