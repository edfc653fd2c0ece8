// Tests of the baseline policies (TidalDecode, Quest, StreamingLLM, oracle top-K) and of the
// LessIsMore ablations, on hand-checked cases, random data and tiny random-weight models.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common.h"
#include "engine/kv_cache.h"
#include "engine/model.h"
#include "engine/policy_common.h"
#include "engine/policy_factory.h"
#include "engine/policy_lessismore.h"
#include "engine/policy_oracle.h"
#include "engine/policy_quest.h"
#include "engine/policy_streaming.h"
#include "engine/policy_tidal.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "support/simd_targets.h"
#include "support/tiny_model.h"

namespace lim {
namespace {

std::vector<int32_t> iota_rows(int32_t begin, int32_t end) {
  std::vector<int32_t> rows(static_cast<size_t>(end - begin));
  std::iota(rows.begin(), rows.end(), begin);
  return rows;
}

std::vector<int32_t> to_vector(const RowSpan& span) { return std::vector<int32_t>(span.rows, span.rows + span.n); }

// Random keys and queries in a KvCache, which append_all passes to a policy as the session does.
struct RandomLayerData {
  int64_t n_layer, n_head, n_kv_head, head_dim, n_kv;
  KvCache cache;
  std::vector<float> q;  // [n_head, head_dim]

  RandomLayerData(int64_t n_layer_, int64_t n_head_, int64_t n_kv_head_, int64_t head_dim_, int64_t n_kv_,
                  int64_t n_ctx, std::mt19937& rng)
      : n_layer(n_layer_), n_head(n_head_), n_kv_head(n_kv_head_), head_dim(head_dim_), n_kv(n_kv_),
        cache(n_layer_, n_kv_head_, n_ctx, head_dim_), q(static_cast<size_t>(n_head_ * head_dim_)) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int64_t il = 0; il < n_layer; ++il) {
      for (int64_t g = 0; g < n_kv_head; ++g) {
        for (int64_t i = 0; i < n_kv * head_dim; ++i) keys(il, g)[i] = normal(rng);
      }
    }
    for (float& x : q) x = normal(rng) * 2.0f;
  }

  // The F32 key rows of one layer and KV head.
  float* keys(int64_t il, int64_t g) { return static_cast<float*>(cache.k(il, g)); }
  const float* keys(int64_t il, int64_t g) const { return static_cast<const float*>(cache.k(il, g)); }

  // Calls policy.on_append for every cached position of every layer.
  void append_all(AttentionPolicy& policy) const {
    std::vector<float> row(static_cast<size_t>(n_kv_head * head_dim));
    for (int64_t il = 0; il < n_layer; ++il) {
      for (int64_t pos = 0; pos < n_kv; ++pos) {
        for (int64_t g = 0; g < n_kv_head; ++g) {
          std::copy(keys(il, g) + pos * head_dim, keys(il, g) + (pos + 1) * head_dim, row.data() + g * head_dim);
        }
        policy.on_append(il, pos, row.data());
      }
    }
  }

  float dot(int64_t il, int64_t head, int64_t pos) const {
    const float* k = keys(il, head / (n_head / n_kv_head)) + pos * head_dim;
    float s = 0.0f;
    for (int64_t d = 0; d < head_dim; ++d) s += q[static_cast<size_t>(head * head_dim + d)] * k[d];
    return s;
  }

  // Scaled logits [n_head, n_kv] of layer il, as the session hands them to select().
  std::vector<float> logits(int64_t il) const {
    std::vector<float> out(static_cast<size_t>(n_head * n_kv));
    const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    for (int64_t h = 0; h < n_head; ++h) {
      for (int64_t j = 0; j < n_kv; ++j) out[static_cast<size_t>(h * n_kv + j)] = dot(il, h, j) * scale;
    }
    return out;
  }
};

// Softmax mass of head h's logits inside rows.
double head_recall(const std::vector<float>& logits, int64_t n_kv, int64_t h, const RowSpan& rows) {
  const float* s = logits.data() + h * n_kv;
  const float mx = *std::max_element(s, s + n_kv);
  double total = 0.0, inside = 0.0;
  for (int64_t j = 0; j < n_kv; ++j) total += std::exp(static_cast<double>(s[j] - mx));
  for (int64_t i = 0; i < rows.n; ++i) inside += std::exp(static_cast<double>(s[rows.rows[i]] - mx));
  return inside / total;
}

// ---------------------------------------------------------------------------------------------
// StreamingLLM

TEST(Streaming, SinksPlusMostRecentTokens) {
  StreamingPolicy policy(StreamingParams{/*budget=*/6, /*sinks=*/2, /*first_sparse_layer=*/2},
                         PolicyDims{4, 2, 1, 32, 8});
  policy.begin_step(10);
  EXPECT_EQ(policy.role(1), LayerRole::Dense);
  EXPECT_EQ(policy.role(2), LayerRole::Sparse);
  EXPECT_EQ(to_vector(policy.rows(3, 0)), (std::vector<int32_t>{0, 1, 6, 7, 8, 9}));
  EXPECT_EQ(policy.rows(3, 0).rows, policy.rows(3, 1).rows) << "every head shares the window";
}

TEST(Streaming, WindowKeepsTheCurrentToken) {
  // Budget 4 with 4 sinks: one sink gives way so the current token (position 9) stays.
  StreamingPolicy policy(StreamingParams{4, 4, 2}, PolicyDims{4, 1, 1, 32, 8});
  policy.begin_step(10);
  EXPECT_EQ(to_vector(policy.rows(2, 0)), (std::vector<int32_t>{0, 1, 2, 9}));

  StreamingPolicy no_sinks(StreamingParams{3, 0, 2}, PolicyDims{4, 1, 1, 32, 8});
  no_sinks.begin_step(10);
  EXPECT_EQ(to_vector(no_sinks.rows(2, 0)), (std::vector<int32_t>{7, 8, 9}));
}

TEST(Streaming, DenseWhenBudgetCoversContext) {
  StreamingPolicy policy(StreamingParams{8, 2, 2}, PolicyDims{4, 1, 1, 32, 8});
  policy.begin_step(8);
  for (int64_t il = 0; il < 4; ++il) EXPECT_EQ(policy.role(il), LayerRole::Dense);
}

// ---------------------------------------------------------------------------------------------
// LessIsMore recency windows

// Logits over 20 positions where every head prefers positions 5..8, then 12.
std::vector<float> peaked_logits(int64_t n_head, int64_t n_kv) {
  std::vector<float> logits(static_cast<size_t>(n_head * n_kv), 0.0f);
  for (int64_t h = 0; h < n_head; ++h) {
    for (int64_t j : {5, 6, 7, 8}) logits[static_cast<size_t>(h * n_kv + j)] = 5.0f;
    logits[static_cast<size_t>(h * n_kv + 12)] = 3.0f;
  }
  return logits;
}

LessIsMoreParams small_lessismore(int64_t budget, double ratio, int64_t sinks) {
  LessIsMoreParams params;
  params.budget = budget;
  params.recency_ratio = ratio;
  params.sinks = sinks;
  params.dense_layers = {0, 1};
  params.selection_layers = {2};
  return params;
}

TEST(LessIsMoreWindows, HalfRecentWithSinks) {
  // K = 8, r = 0.5: top 4, recent 4 - 2 sinks = 2.
  LessIsMorePolicy policy(small_lessismore(8, 0.5, 2), PolicyDims{4, 2, 1, 32, 8});
  policy.begin_step(20);
  const auto logits = peaked_logits(2, 20);
  policy.select(2, logits.data());
  EXPECT_EQ(policy.selected(), (std::vector<int32_t>{0, 1, 5, 6, 7, 8, 18, 19}));
}

TEST(LessIsMoreWindows, AllRecentEqualsStreaming) {
  LessIsMorePolicy policy(small_lessismore(8, 1.0, 4), PolicyDims{4, 2, 1, 32, 8});
  policy.begin_step(20);
  const auto logits = peaked_logits(2, 20);
  policy.select(2, logits.data());
  EXPECT_EQ(policy.selected(), (std::vector<int32_t>{0, 1, 2, 3, 16, 17, 18, 19}));

  StreamingPolicy streaming(StreamingParams{8, 4, 3}, PolicyDims{4, 2, 1, 32, 8});
  streaming.begin_step(20);
  EXPECT_EQ(to_vector(streaming.rows(3, 0)), policy.selected());
}

TEST(LessIsMoreWindows, NoRecencyDropsSinks) {
  // r = 0: all 6 from the ranking over every position; sinks dropped because recent is 0.
  LessIsMorePolicy policy(small_lessismore(6, 0.0, 4), PolicyDims{4, 2, 1, 32, 8});
  policy.begin_step(20);
  auto logits = peaked_logits(2, 20);
  logits[19] = 4.0f;  // head 0 also likes the current token
  policy.select(2, logits.data());
  // Rank-major: rank 0..3 give 5,6,7,8 (both heads agree), rank 4 gives 19 (head 0) and 12 (head 1).
  EXPECT_EQ(policy.selected(), (std::vector<int32_t>{5, 6, 7, 8, 12, 19}));
}

// ---------------------------------------------------------------------------------------------
// TidalDecode

TEST(Tidal, EachHeadKeepsItsOwnTopK) {
  TidalParams params;
  params.budget = 3;
  params.selection_layers = {2};
  TidalPolicy policy(params, PolicyDims{4, 2, 1, 32, 8});
  policy.begin_step(8);
  EXPECT_EQ(policy.role(2), LayerRole::DenseSelect);
  EXPECT_EQ(policy.role(3), LayerRole::Sparse);
  const std::vector<float> logits = {
      // head 0 prefers 7 (the current token), 0 and 3; head 1 prefers 1, 2 and 6
      3, 0, 0, 2, 0, 0, 0, 4,  //
      0, 5, 4, 0, 0, 0, 3, 0,
  };
  policy.select(2, logits.data());
  EXPECT_EQ(to_vector(policy.rows(3, 0)), (std::vector<int32_t>{0, 3, 7}));
  EXPECT_EQ(to_vector(policy.rows(3, 1)), (std::vector<int32_t>{1, 2, 6}));
}

// Tidal's set for each head is exactly that head's top-K over all positions, on logits long
// enough for the sampled threshold, with ties from a coarse grid.
TEST(Tidal, LongContextsMatchReference) {
  std::mt19937 rng(21);
  std::normal_distribution<float> normal(0.0f, 1.5f);
  const int64_t n_head = 3;
  for (int trial = 0; trial < 6; ++trial) {
    const int64_t n_kv = 2000 + static_cast<int64_t>(rng() % 4000);
    TidalParams params;
    params.budget = 1 + static_cast<int64_t>(rng() % 600);
    params.selection_layers = {2};
    TidalPolicy policy(params, PolicyDims{4, n_head, 1, 6000, 8});
    std::vector<float> logits(static_cast<size_t>(n_head * n_kv));
    for (float& x : logits) x = std::round(normal(rng) * 4.0f) / 4.0f;  // many ties
    policy.begin_step(n_kv);
    policy.select(2, logits.data());
    for (int64_t h = 0; h < n_head; ++h) {
      const float* s = logits.data() + h * n_kv;
      std::vector<int32_t> order = iota_rows(0, static_cast<int32_t>(n_kv));
      std::stable_sort(order.begin(), order.end(), [s](int32_t a, int32_t b) { return s[a] > s[b]; });
      std::vector<int32_t> expected(order.begin(), order.begin() + params.budget);
      std::sort(expected.begin(), expected.end());
      EXPECT_EQ(to_vector(policy.rows(3, h)), expected) << "trial " << trial << " head " << h;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The shared top-K, against a reference that sorts every position

// The reference order: larger logit first, NaN below everything (-inf included), -0 equal to +0,
// ties towards the lower position.
std::vector<int32_t> reference_ranking(const std::vector<float>& s, int64_t begin, int64_t end) {
  std::vector<int32_t> order = iota_rows(static_cast<int32_t>(begin), static_cast<int32_t>(end));
  std::stable_sort(order.begin(), order.end(), [&s](int32_t a, int32_t b) {
    const float x = s[static_cast<size_t>(a)], y = s[static_cast<size_t>(b)];
    if (std::isnan(x) || std::isnan(y)) return !std::isnan(x) && std::isnan(y);
    return x > y;
  });
  return order;
}

// Draws logits of one of several shapes: continuous normal, a coarse grid with many ties, a few
// distinct values, or a mix with -inf, +inf, -0, +0 and NaN.
std::vector<float> random_topk_input(int64_t n, int shape, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<float> s(static_cast<size_t>(n));
  for (float& x : s) {
    switch (shape) {
      case 0: x = normal(rng); break;
      case 1: x = std::round(normal(rng) * 2.0f) / 2.0f; break;
      case 2: x = static_cast<float>(rng() % 3); break;
      default: {
        static const float kSpecial[] = {-INFINITY, INFINITY, -0.0f, 0.0f, NAN};
        const uint32_t r = rng() % 10;
        x = r < 5 ? kSpecial[r] : std::round(normal(rng));
      }
    }
  }
  return s;
}

void expect_top_k_matches_reference(const std::vector<float>& s, int64_t begin, int64_t end, int64_t k,
                                    const std::string& what) {
  const std::vector<int32_t> order = reference_ranking(s, begin, end);
  const std::vector<int32_t> ranked(order.begin(), order.begin() + k);
  std::vector<int32_t> ascending = ranked;
  std::sort(ascending.begin(), ascending.end());

  TopKScratch scratch(end - begin);
  std::vector<int32_t> out(static_cast<size_t>(k) + 1, -7);
  top_k_ranked(s.data(), begin, end, k, scratch, out.data());
  EXPECT_EQ(std::vector<int32_t>(out.begin(), out.begin() + k), ranked) << what << " (ranked)";
  EXPECT_EQ(out[static_cast<size_t>(k)], -7) << what << ": wrote past k";

  std::fill(out.begin(), out.end(), -7);
  top_k_positions(s.data(), begin, end, k, scratch, out.data());
  EXPECT_EQ(std::vector<int32_t>(out.begin(), out.begin() + k), ascending) << what << " (ascending)";
  EXPECT_EQ(out[static_cast<size_t>(k)], -7) << what << ": wrote past k";

  std::vector<int32_t> plain_scratch(static_cast<size_t>(end - begin));
  std::fill(out.begin(), out.end(), -7);
  top_k_positions(s.data(), begin, end, k, plain_scratch.data(), out.data());
  EXPECT_EQ(std::vector<int32_t>(out.begin(), out.begin() + k), ascending) << what << " (plain scratch)";
}

// The candidate filter is dispatched per SIMD target, so every compiled version is checked.
TEST(TopK, RandomInputsMatchReference) {
  test::for_each_simd_target([] {
    std::mt19937 rng(3);
    for (int trial = 0; trial < 200; ++trial) {
      const int shape = trial % 4;
      // Short ranges take the path without a sampled threshold; long ones with a small k use it.
      const int64_t n = trial % 2 ? 1 + static_cast<int64_t>(rng() % 200) : 1024 + static_cast<int64_t>(rng() % 9000);
      const std::vector<float> s = random_topk_input(n, shape, rng);
      const int64_t begin = static_cast<int64_t>(rng() % 8 == 0 ? rng() % (n / 2 + 1) : 0);
      const int64_t end = n - static_cast<int64_t>(rng() % 4 == 0 ? rng() % ((n - begin) / 2 + 1) : 0);
      const int64_t range = end - begin;
      const int64_t k = trial % 3 == 0 ? static_cast<int64_t>(rng() % (range + 1))
                                       : static_cast<int64_t>(rng() % (range / 8 + 1));
      expect_top_k_matches_reference(s, begin, end, k,
                                     "trial " + std::to_string(trial) + " shape " + std::to_string(shape) + " n " +
                                         std::to_string(n) + " [" + std::to_string(begin) + ", " +
                                         std::to_string(end) + ") k " + std::to_string(k));
    }
  });
}

TEST(TopK, EdgeCases) {
  std::mt19937 rng(9);
  const std::vector<float> s = random_topk_input(5000, 0, rng);
  for (int64_t k : {0, 1, 2, 4999, 5000}) expect_top_k_matches_reference(s, 0, 5000, k, "k " + std::to_string(k));
  expect_top_k_matches_reference(s, 100, 100, 0, "empty range");
  expect_top_k_matches_reference(s, 4999, 5000, 1, "one position");

  const std::vector<float> equal(4096, 1.5f);  // every position ties: the lowest ones win
  expect_top_k_matches_reference(equal, 0, 4096, 300, "all equal");
  const std::vector<float> minus_inf(4096, -INFINITY);
  expect_top_k_matches_reference(minus_inf, 7, 4000, 50, "all -inf");
  std::vector<float> nan_tail(4096, NAN);  // fewer real values than k: NaN positions fill up
  for (int i = 0; i < 20; ++i) nan_tail[static_cast<size_t>(i * 100)] = static_cast<float>(i % 3);
  expect_top_k_matches_reference(nan_tail, 0, 4096, 64, "mostly NaN");
  std::vector<float> zeros(4096, 0.0f);
  for (size_t i = 0; i < zeros.size(); i += 3) zeros[i] = -0.0f;  // -0 and +0 tie by position
  expect_top_k_matches_reference(zeros, 0, 4096, 100, "signed zeros");
}

// The threshold comes from a sample of evenly spaced logits (256 of them, in the middle of each
// stride). When the sampled positions contain the best logits, the threshold keeps fewer than k,
// so the full path must take over. When they contain the worst, it keeps almost everything.
TEST(TopK, SampledPositionsBestOrWorst) {
  std::mt19937 rng(17);
  for (int64_t n : {4096, 8188, 8192}) {
    const int64_t stride = n / 256;
    for (float sampled : {100.0f, -100.0f}) {
      std::vector<float> s = random_topk_input(n, 1, rng);
      for (int64_t i = 0; i < 256; ++i) s[static_cast<size_t>(i * stride + stride / 2)] = sampled + static_cast<float>(i % 5);
      for (int64_t k : {n / 32, n / 20, n / 5}) {
        expect_top_k_matches_reference(s, 0, n, k,
                                       "n " + std::to_string(n) + " sampled " + std::to_string(sampled) + " k " +
                                           std::to_string(k));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Quest

TEST(Quest, PageBoundNeverBelowTrueMaxLogit) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t page_size = 1 + static_cast<int64_t>(rng() % 20);
    const int64_t n_kv = 1 + static_cast<int64_t>(rng() % 150);  // usually a partial last page
    RandomLayerData data(/*n_layer=*/1, /*n_head=*/4, /*n_kv_head=*/2, /*head_dim=*/16, n_kv, 160, rng);
    QuestPolicy policy(QuestParams{8, page_size, 0}, PolicyDims{1, 4, 2, 160, 16});
    data.append_all(policy);
    for (int64_t h = 0; h < 4; ++h) {
      for (int64_t page = 0; page * page_size < n_kv; ++page) {
        float best = -INFINITY;
        for (int64_t j = page * page_size; j < std::min((page + 1) * page_size, n_kv); ++j) {
          best = std::max(best, data.dot(0, h, j));
        }
        const float bound = policy.page_bound(0, h / 2, page, data.q.data() + h * 16);
        EXPECT_GE(bound, best - 1e-4f * std::abs(best)) << "trial " << trial << " head " << h << " page " << page;
      }
    }
  }
}

TEST(Quest, PartialLastPageBoundsOnlyItsTokens) {
  // One key per position on a line; the last page contains 2 of 4 slots, so its bound is the
  // larger of those two tokens' logits, not of tokens never written.
  QuestPolicy policy(QuestParams{4, 4, 0}, PolicyDims{1, 1, 1, 16, 1});
  for (int64_t pos = 0; pos < 6; ++pos) {
    const float k = static_cast<float>(pos);
    policy.on_append(0, pos, &k);
  }
  const float q = 1.0f;
  EXPECT_FLOAT_EQ(policy.page_bound(0, 0, 0, &q), 3.0f);
  EXPECT_FLOAT_EQ(policy.page_bound(0, 0, 1, &q), 5.0f);
  const float negative = -1.0f;
  EXPECT_FLOAT_EQ(policy.page_bound(0, 0, 1, &negative), -4.0f);
}

TEST(Quest, PagesToKeep) {
  EXPECT_EQ(quest_pages_to_keep(10, 16, 100), 3);   // at least 3
  EXPECT_EQ(quest_pages_to_keep(64, 16, 100), 4);
  EXPECT_EQ(quest_pages_to_keep(65, 16, 100), 5);   // ceil
  EXPECT_EQ(quest_pages_to_keep(100, 16, 4), 4);    // no more than exist
  EXPECT_EQ(quest_pages_to_keep(10, 16, 2), 2);
}

TEST(Quest, SelectionCountsAndBestPages) {
  std::mt19937 rng(5);
  struct Case {
    int64_t budget, page_size, n_kv;
  };
  const Case cases[] = {{10, 16, 100}, {64, 16, 200}, {100, 16, 201}, {20, 16, 30}, {40, 8, 41}, {5, 1, 9}};
  for (const Case& c : cases) {
    RandomLayerData data(3, 4, 2, 16, c.n_kv, 256, rng);
    QuestPolicy policy(QuestParams{c.budget, c.page_size, 2}, PolicyDims{3, 4, 2, 256, 16});
    data.append_all(policy);
    policy.begin_step(c.n_kv);
    ASSERT_EQ(policy.role(2), LayerRole::Sparse);
    policy.select_for_query(2, data.q.data(), c.n_kv, data.cache);

    const int64_t n_pages = (c.n_kv + c.page_size - 1) / c.page_size;
    const int64_t keep = std::min(std::max<int64_t>(3, (c.budget + c.page_size - 1) / c.page_size), n_pages);
    for (int64_t h = 0; h < 4; ++h) {
      const std::vector<int32_t> pages = policy.chosen_pages(h);
      ASSERT_EQ(static_cast<int64_t>(pages.size()), keep) << "budget " << c.budget << " n_kv " << c.n_kv;
      // Rows are the chosen pages' tokens, clipped to the context.
      std::vector<int32_t> expected_rows;
      for (int32_t p : pages) {
        for (int64_t j = p * c.page_size; j < std::min((p + 1) * c.page_size, c.n_kv); ++j) {
          expected_rows.push_back(static_cast<int32_t>(j));
        }
      }
      EXPECT_EQ(to_vector(policy.rows(2, h)), expected_rows);
      // No page left out has a higher bound than a chosen one.
      float worst_chosen = INFINITY;
      for (int32_t p : pages) worst_chosen = std::min(worst_chosen, policy.page_bound(2, h / 2, p, data.q.data() + h * 16));
      for (int64_t p = 0; p < n_pages; ++p) {
        if (std::count(pages.begin(), pages.end(), p)) continue;
        EXPECT_LE(policy.page_bound(2, h / 2, p, data.q.data() + h * 16), worst_chosen);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Oracle top-K bounds every method

TEST(Oracle, NoMethodRecallsMoreAtTheSameBudget) {
  std::mt19937 rng(3);
  const int64_t n_layer = 6, n_head = 4, n_kv_head = 2, head_dim = 16, n_ctx = 512;
  const PolicyDims dims{n_layer, n_head, n_kv_head, n_ctx, head_dim};
  for (int trial = 0; trial < 10; ++trial) {
    const int64_t n_kv = 150 + static_cast<int64_t>(rng() % 300);
    const int64_t budget = 16 * (4 + static_cast<int64_t>(rng() % 4));  // whole Quest pages, >= 3 pages, < n_kv
    RandomLayerData data(n_layer, n_head, n_kv_head, head_dim, n_kv, n_ctx, rng);

    OraclePolicy oracle(OracleParams{budget, 2}, dims);
    QuestPolicy quest(QuestParams{budget, 16, 2}, dims);
    StreamingPolicy streaming(StreamingParams{budget, 4, 2}, dims);
    TidalParams tidal_params;
    tidal_params.budget = budget;
    tidal_params.selection_layers = {2};
    TidalPolicy tidal(tidal_params, dims);
    LessIsMoreParams lim_params = small_lessismore(budget, 0.25, 4);
    LessIsMorePolicy lessismore(lim_params, dims);
    lim_params.randomized_topk = true;
    LessIsMorePolicy randomized(lim_params, dims);
    lim_params.randomized_topk = false;
    lim_params.select_every_layer = true;
    LessIsMorePolicy every_layer(lim_params, dims);
    quest.begin_step(n_kv);
    data.append_all(quest);

    // Every layer from 2 on: each method selects from this layer's own query and keys.
    for (int64_t il = 2; il < n_layer; ++il) {
      const std::vector<float> logits = data.logits(il);
      std::vector<AttentionPolicy*> all = {&oracle, &quest, &streaming, &tidal, &lessismore, &randomized, &every_layer};
      for (AttentionPolicy* p : all) p->begin_step(n_kv);
      oracle.select_for_query(il, data.q.data(), n_kv, data.cache);
      quest.select_for_query(il, data.q.data(), n_kv, data.cache);
      every_layer.select_for_query(il, data.q.data(), n_kv, data.cache);
      tidal.select(il, logits.data());
      lessismore.select(il, logits.data());
      randomized.select(il, logits.data());
      for (int64_t h = 0; h < n_head; ++h) {
        const double best = head_recall(logits, n_kv, h, oracle.rows(il, h));
        ASSERT_EQ(oracle.rows(il, h).n, budget);
        for (AttentionPolicy* p : all) {
          const RowSpan rows = p->rows(il, h);
          ASSERT_LE(rows.n, budget) << p->name();
          EXPECT_LE(head_recall(logits, n_kv, h, rows), best + 1e-9)
              << p->name() << " layer " << il << " head " << h << " trial " << trial;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// LessIsMore ablations

TEST(RandomizedTopK, ReproducibleForAFixedSeed) {
  std::mt19937 rng(9);
  const PolicyDims dims{4, 8, 2, 256, 16};  // groups of 4 query heads
  auto run = [&](uint64_t seed, const std::vector<std::vector<float>>& steps, int64_t n_kv) {
    LessIsMoreParams params = small_lessismore(16, 0.25, 2);
    params.randomized_topk = true;
    params.seed = seed;
    LessIsMorePolicy policy(params, dims);
    std::vector<std::vector<int32_t>> sets;
    for (const auto& logits : steps) {
      policy.begin_step(n_kv);
      policy.select(2, logits.data());
      for (int64_t h = 0; h < 8; ++h) {
        sets.push_back(to_vector(policy.rows(3, h)));
        // Heads of one group share one set.
        EXPECT_EQ(policy.rows(3, h).rows, policy.rows(3, (h / 4) * 4).rows);
      }
    }
    return sets;
  };
  const int64_t n_kv = 100;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> steps(20, std::vector<float>(8 * n_kv));
  for (auto& logits : steps) {
    for (float& x : logits) x = normal(rng);
  }
  const auto a = run(42, steps, n_kv);
  EXPECT_EQ(a, run(42, steps, n_kv));
  EXPECT_NE(a, run(43, steps, n_kv)) << "another seed draws other heads at some step";

  // Each group's set is sinks + one of its heads' own top 12 + the recent 2.
  LessIsMoreParams params = small_lessismore(16, 0.25, 2);
  const BudgetSplit split = split_budget(16, 0.25, 2);
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& logits = steps[i / 8];
    const int64_t group = static_cast<int64_t>(i % 8) / 4;
    bool matches_a_head = false;
    for (int64_t h = group * 4; h < group * 4 + 4; ++h) {
      std::vector<int32_t> order = iota_rows(static_cast<int32_t>(split.sinks), static_cast<int32_t>(n_kv - split.recent));
      const float* s = logits.data() + h * n_kv;
      std::stable_sort(order.begin(), order.end(), [s](int32_t x, int32_t y) { return s[x] > s[y]; });
      std::vector<int32_t> expected = {0, 1};
      expected.insert(expected.end(), order.begin(), order.begin() + split.top);
      for (int64_t j = n_kv - split.recent; j < n_kv; ++j) expected.push_back(static_cast<int32_t>(j));
      std::sort(expected.begin(), expected.end());
      matches_a_head = matches_a_head || expected == a[i];
    }
    EXPECT_TRUE(matches_a_head) << "set " << i;
  }
}

TEST(SelectEveryLayer, EverySparseLayerChoosesFromItsOwnQuery) {
  std::mt19937 rng(21);
  const PolicyDims dims{5, 4, 2, 128, 16};
  RandomLayerData data(5, 4, 2, 16, 90, 128, rng);
  LessIsMoreParams params = small_lessismore(20, 0.25, 4);
  params.selection_layers = {2, 3};
  params.select_every_layer = true;
  LessIsMorePolicy every(params, dims);
  params.select_every_layer = false;
  LessIsMorePolicy reference(params, dims);

  every.begin_step(90);
  reference.begin_step(90);
  EXPECT_EQ(every.role(1), LayerRole::Dense);
  for (int64_t il = 2; il < 5; ++il) {
    ASSERT_EQ(every.role(il), LayerRole::Sparse) << "layer " << il;
    EXPECT_TRUE(every.is_sparse_layer(il));
    every.select_for_query(il, data.q.data(), 90, data.cache);
    // The same set as a selection layer builds from this layer's logits.
    const std::vector<float> logits = data.logits(il);
    reference.select(2, logits.data());
    EXPECT_EQ(to_vector(every.rows(il, 0)), reference.selected()) << "layer " << il;
  }
}

// ---------------------------------------------------------------------------------------------
// Every policy equals dense attention when the budget covers the context

using test::decode_all;
using test::TinyModel;
using test::token_sequence;

PolicyOptions options_for(const std::string& variant, int64_t budget) {
  PolicyOptions o;
  o.method = variant;
  o.budget = budget;
  if (variant == "lessismore-randomized") {
    o.method = "lessismore";
    o.randomized_topk = true;
  } else if (variant == "lessismore-every-layer") {
    o.method = "lessismore";
    o.select_every_layer = true;
  }
  return o;
}

// Logits are compared to 1e-4 (absolute). They come out bit-identical today, because a policy
// whose budget covers the context runs the dense path, but the contract is numerical.
constexpr float kLogitTolerance = 1e-4f;

class PolicyEqualsDense : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(PolicyEqualsDense, WhenBudgetCoversContext) {
  const auto& [arch, variant] = GetParam();
  test::TinyModelSpec spec;
  spec.arch = arch;
  if (arch == "qwen3") spec.head_dim = 24;
  TinyModel model(spec);
  const int64_t n_vocab = model->config().n_vocab;
  const auto tokens = token_sequence(40, n_vocab, 7);

  ThreadPool pool(2);
  Session dense(*model, 48, pool, nullptr);
  auto policy = make_policy(options_for(variant, /*budget=*/40), model->config(), 48);
  ASSERT_NE(policy, nullptr);
  Session sparse(*model, 48, pool, policy.get());
  const auto expected = decode_all(dense, tokens, n_vocab);
  const auto actual = decode_all(sparse, tokens, n_vocab);
  ASSERT_EQ(expected.size(), actual.size());
  for (size_t step = 0; step < expected.size(); ++step) {
    for (int64_t i = 0; i < n_vocab; ++i) {
      ASSERT_NEAR(expected[step][static_cast<size_t>(i)], actual[step][static_cast<size_t>(i)], kLogitTolerance)
          << "step " << step << " token id " << i;
    }
    EXPECT_EQ(argmax(expected[step].data(), n_vocab), argmax(actual[step].data(), n_vocab)) << "step " << step;
  }
  EXPECT_EQ(sparse.stats().dense_fallback_steps, sparse.stats().decode_steps);
}

INSTANTIATE_TEST_SUITE_P(
    Policies, PolicyEqualsDense,
    ::testing::Combine(::testing::Values("llama", "qwen2", "qwen3"),
                       ::testing::Values("lessismore", "tidal", "quest", "streaming", "oracle",
                                         "lessismore-randomized", "lessismore-every-layer")),
    [](const auto& info) {
      std::string name = std::get<0>(info.param) + "_" + std::get<1>(info.param);
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

// Quest with three pages covering the whole context runs the sparse path over every row, which
// must give dense attention's logits up to rounding.
TEST(Quest, SparsePathOverEveryRowEqualsDense) {
  TinyModel model(test::TinyModelSpec{});
  const int64_t n_vocab = model->config().n_vocab;
  const auto tokens = token_sequence(48, n_vocab, 19);
  ThreadPool pool(2);
  Session dense(*model, 48, pool, nullptr);
  PolicyOptions o = options_for("quest", /*budget=*/8);  // 3 pages of 16 >= 48 rows
  auto policy = make_policy(o, model->config(), 48);
  Session sparse(*model, 48, pool, policy.get());
  const auto expected = decode_all(dense, tokens, n_vocab);
  const auto actual = decode_all(sparse, tokens, n_vocab);
  EXPECT_LT(sparse.stats().dense_fallback_steps, sparse.stats().decode_steps);
  for (size_t step = 0; step < expected.size(); ++step) {
    for (int64_t i = 0; i < n_vocab; ++i) {
      ASSERT_NEAR(expected[step][static_cast<size_t>(i)], actual[step][static_cast<size_t>(i)], kLogitTolerance)
          << "step " << step << " token id " << i;
    }
  }
}

TEST(PolicyFactory, NamesAndErrors) {
  const auto& names = policy_names();
  for (const char* name : {"dense", "lessismore", "tidal", "quest", "streaming", "oracle"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
  TinyModel model(test::TinyModelSpec{});
  PolicyOptions o;
  o.method = "h2o";
  try {
    make_policy(o, model->config(), 64);
    FAIL() << "expected lim::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("quest"), std::string::npos) << e.what();
  }
  o.method = "quest";
  o.first_sparse_layer = 6;
  EXPECT_THROW(make_policy(o, model->config(), 64), Error);
  o.first_sparse_layer = 2;
  o.page_size = 0;
  EXPECT_THROW(make_policy(o, model->config(), 64), Error);
  o.page_size = 16;
  EXPECT_EQ(describe_policy(o, model->config()), "quest K=2048 (128 pages of 16), sparse from layer 2");
}

}  // namespace
}  // namespace lim
