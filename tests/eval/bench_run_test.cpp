#include <gtest/gtest.h>

#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common.h"
#include "eval/bandwidth.h"
#include "eval/bench_run.h"
#include "support/tiny_model.h"

namespace lim {
namespace {

using test::TinyModel;

// The tiny model states a training context of 2048 tokens.
ModelConfig tiny_config() {
  ModelConfig c;
  c.name = "tiny";
  c.arch = "llama";
  c.n_layer = 6;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.head_dim = 16;
  c.n_embd = 64;
  c.n_ctx_train = 2048;
  return c;
}

BenchConfig small_config() {
  BenchConfig config;
  config.contexts = {32, 16};
  config.methods = {"lessismore", "dense"};
  config.budgets = {64, 8};
  config.steps = 2;
  config.repeats = 2;
  config.warmup = 1;
  return config;
}

void expect_error(const BenchConfig& config, const std::string& fragment) {
  try {
    normalize_bench_config(config, tiny_config());
    FAIL() << "no error; expected one mentioning '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(BenchConfig, ParsesContextsAndMax) {
  EXPECT_EQ(parse_contexts({"1024", "max", "16"}, 8192), (std::vector<int64_t>{1024, 8192, 16}));
  EXPECT_THROW(parse_contexts({"max"}, 0), Error);
  EXPECT_THROW(parse_contexts({"12k"}, 8192), Error);
  EXPECT_THROW(parse_contexts({""}, 8192), Error);
}

TEST(BenchConfig, NormalizesOrder) {
  const BenchConfig c = normalize_bench_config(small_config(), tiny_config());
  EXPECT_EQ(c.contexts, (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(c.budgets, (std::vector<int64_t>{8, 64}));
  EXPECT_EQ(c.methods, (std::vector<std::string>{"dense", "lessismore"}));
  EXPECT_EQ(bench_session_ctx(c, 32), 32 + 1 + 2 * 2);
}

TEST(BenchConfig, RejectsInvalidInput) {
  BenchConfig c = small_config();
  c.contexts.clear();
  expect_error(c, "--contexts is empty");

  c = small_config();
  c.contexts = {4096};
  expect_error(c, "4096 exceeds the 2048 tokens");

  c = small_config();
  c.contexts = {0};
  expect_error(c, "--contexts: 0");

  c = small_config();
  c.ctx_limit = 32;
  expect_error(c, "more than --ctx 32");

  c = small_config();
  c.methods = {"dense", "sparse"};
  expect_error(c, "'sparse' is not a method");

  c = small_config();
  c.budgets = {0};
  expect_error(c, "--budgets: 0");

  c = small_config();
  c.budgets.clear();
  expect_error(c, "--budgets is empty");
  c.methods = {"dense"};
  EXPECT_NO_THROW(normalize_bench_config(c, tiny_config()));
}

TEST(BenchPrompt, RandomTokensDeterministic) {
  const std::vector<int32_t> a = random_tokens(500, 259, 7);
  EXPECT_EQ(a, random_tokens(500, 259, 7));
  EXPECT_NE(a, random_tokens(500, 259, 8));
  for (int32_t id : a) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 259);
  }
}

TEST(BenchPrompt, TextIsRepeatedToTheLength) {
  TinyModel model{test::TinyModelSpec{}};
  const Tokenizer& tokenizer = model->tokenizer();
  const std::vector<int32_t> once = repeat_text_tokens(tokenizer, {"abc", "de"}, 1);
  const std::vector<int32_t> ids = repeat_text_tokens(tokenizer, {"abc", "de"}, 100);
  ASSERT_EQ(ids.size(), 100u);
  EXPECT_EQ(ids.front(), once.front());
  std::vector<int32_t> cycle = tokenizer.encode("abc\n\n", false);
  const std::vector<int32_t> second = tokenizer.encode("de\n\n", false);
  cycle.insert(cycle.end(), second.begin(), second.end());
  const size_t start = ids.size() - 100 + (tokenizer.add_bos() && tokenizer.bos_id() >= 0 ? 1 : 0);
  for (size_t i = start; i < ids.size(); ++i) EXPECT_EQ(ids[i], cycle[(i - start) % cycle.size()]) << i;
  EXPECT_THROW(repeat_text_tokens(tokenizer, {}, 10), Error);
}

// The whole procedure on the tiny model: every (context, method, budget) row exists once, times
// are positive, and the attended rows follow the budget.
TEST(BenchRun, TinyModelEndToEnd) {
  TinyModel model{test::TinyModelSpec{}};
  ThreadPool pool(2);
  const BenchConfig config = small_config();
  const std::vector<int32_t> prompt = random_tokens(33, model->config().n_vocab, 1);

  std::vector<std::string> progress;
  int64_t callbacks = 0;
  BenchCallbacks cb;
  cb.progress = [&](const std::string& line) { progress.push_back(line); };
  cb.on_measurement = [&](const PrefillPoint& p, const BenchMeasurement& m, const BenchMeasurement* dense) {
    ++callbacks;
    EXPECT_EQ(p.context, m.context);
    ASSERT_NE(dense, nullptr);  // dense runs first at every context
    EXPECT_EQ(dense->context, m.context);
  };
  const BenchResult result = run_bench(*model, pool, prompt, config, cb);

  ASSERT_EQ(result.prefill.size(), 2u);
  EXPECT_EQ(result.prefill[0].context, 16);
  EXPECT_EQ(result.prefill[1].context, 32);
  EXPECT_GT(result.prefill[0].seconds, 0.0);
  EXPECT_GT(result.prefill[1].seconds, result.prefill[0].seconds);  // cumulative

  ASSERT_EQ(result.measurements.size(), 6u);  // 2 contexts x (dense + lessismore at 2 budgets)
  EXPECT_EQ(callbacks, 6);
  std::set<std::tuple<int64_t, std::string, int64_t>> keys;
  for (const BenchMeasurement& m : result.measurements) {
    keys.insert({m.context, m.method, m.budget.value_or(0)});
    EXPECT_EQ(m.n_ctx, m.context + 1 + 2 * 2);
    EXPECT_GT(m.kv_cache_bytes, 0u);
    EXPECT_GT(m.peak_rss_bytes, 0u);
    ASSERT_EQ(m.repetitions.size(), 2u);
    for (size_t r = 0; r < m.repetitions.size(); ++r) {
      const BenchRepetition& rep = m.repetitions[r];
      EXPECT_EQ(rep.n_past_start, m.context + 1 + 2 * static_cast<int64_t>(r));
      ASSERT_EQ(rep.step_ms.size(), 2u);
      for (double ms : rep.step_ms) EXPECT_GT(ms, 0.0);
      EXPECT_GT(rep.median_ms, 0.0);
      EXPECT_GT(rep.total_ms, 0.0);
      EXPECT_GT(rep.matmul_ms, 0.0);
      EXPECT_GT(rep.attention_ms, 0.0);
      EXPECT_GE(rep.selection_ms, 0.0);
    }
    const BenchSummary s = summarize_measurement(m, dense_at(result.measurements, m.context));
    EXPECT_GT(s.ms_per_token.median, 0.0);
    ASSERT_TRUE(s.speedup.has_value());
    EXPECT_GT(*s.speedup, 0.0);
  }
  for (int64_t context : {16, 32}) {
    EXPECT_TRUE(keys.count({context, "dense", 0}));
    EXPECT_TRUE(keys.count({context, "lessismore", 8}));
    EXPECT_TRUE(keys.count({context, "lessismore", 64}));
  }

  for (int64_t context : {16, 32}) {
    const BenchMeasurement* dense = dense_at(result.measurements, context);
    for (const BenchMeasurement& m : result.measurements) {
      if (m.context != context || m.method != "lessismore") continue;
      for (size_t r = 0; r < m.repetitions.size(); ++r) {
        const double attended = m.repetitions[r].attended_rows;
        // Sparse layers read fewer rows, so a step reads fewer bytes than dense; never more.
        EXPECT_LE(m.repetitions[r].rows_per_layer, dense->repetitions[r].rows_per_layer);
        EXPECT_LE(m.repetitions[r].step_bytes, dense->repetitions[r].step_bytes);
        EXPECT_GT(m.repetitions[r].step_bytes, decode_weight_bytes(*model));
        if (*m.budget == 8) {
          EXPECT_LT(m.repetitions[r].step_bytes, dense->repetitions[r].step_bytes);
          EXPECT_LE(attended, 8.0);
          EXPECT_LT(attended, static_cast<double>(context));
          EXPECT_EQ(m.repetitions[r].dense_fallback_steps, 0);
        } else {
          // The budget covers the context, so every layer attends densely.
          EXPECT_DOUBLE_EQ(attended, dense->repetitions[r].attended_rows);
          EXPECT_EQ(m.repetitions[r].dense_fallback_steps, 2);
        }
      }
    }
    // Dense attends to the whole context: the mean over steps at n_kv = n_past + 1.
    EXPECT_DOUBLE_EQ(dense->repetitions[0].attended_rows, static_cast<double>(context + 1) + 1.5);
    EXPECT_DOUBLE_EQ(dense->repetitions[0].rows_per_layer, dense->repetitions[0].attended_rows);
  }

  EXPECT_FALSE(progress.empty());
  EXPECT_NE(progress.front().find("prefill to L=16"), std::string::npos) << progress.front();
}

TEST(BenchRun, ShortPromptIsAnError) {
  TinyModel model{test::TinyModelSpec{}};
  ThreadPool pool(1);
  const std::vector<int32_t> prompt = random_tokens(32, model->config().n_vocab, 1);
  EXPECT_THROW(run_bench(*model, pool, prompt, small_config()), Error);
}

}  // namespace
}  // namespace lim
