#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common.h"
#include "engine/policy_lessismore.h"

namespace lim {
namespace {

PolicyDims dims(int64_t n_layer, int64_t n_head, int64_t n_ctx) {
  return PolicyDims{n_layer, n_head, /*n_kv_head=*/1, n_ctx};
}

TEST(BudgetSplit, PaperArithmetic) {
  struct Case {
    int64_t budget, top, sinks, recent;
  };
  const Case cases[] = {{1000, 750, 4, 246}, {2000, 1500, 4, 496}, {2048, 1536, 4, 508}, {4000, 3000, 4, 996}};
  for (const Case& c : cases) {
    const BudgetSplit s = split_budget(c.budget, 0.25, 4);
    EXPECT_EQ(s.top, c.top) << "budget " << c.budget;
    EXPECT_EQ(s.sinks, c.sinks) << "budget " << c.budget;
    EXPECT_EQ(s.recent, c.recent) << "budget " << c.budget;
    EXPECT_EQ(s.sinks + s.top + s.recent, c.budget);
  }
}

TEST(BudgetSplit, SinksDroppedWhenRecentTooSmall) {
  const BudgetSplit none = split_budget(100, 0.0, 4);  // recent 0 < 4 sinks
  EXPECT_EQ(none.top, 100);
  EXPECT_EQ(none.sinks, 0);
  EXPECT_EQ(none.recent, 0);

  const BudgetSplit all_recent = split_budget(64, 1.0, 4);
  EXPECT_EQ(all_recent.top, 0);
  EXPECT_EQ(all_recent.sinks, 4);
  EXPECT_EQ(all_recent.recent, 60);
}

// The worked example of Figure 5 in arXiv 2508.07101: 8 tokens, K = 4, r = 0.25, no sinks.
TEST(LessIsMore, PaperFigureFiveExample) {
  const float logits[4][8] = {
      {1.1f, 2.1f, 3.2f, 1.3f, 0.3f, 1.4f, 1.5f, 0.0f},
      {2.2f, 3.2f, 4.5f, 2.6f, 2.8f, 1.2f, 0.8f, 0.0f},
      {1.2f, 3.6f, 6.7f, 1.3f, 4.2f, 3.6f, 5.5f, 0.0f},
      {1.9f, 0.9f, 2.1f, 2.4f, 2.8f, 4.2f, 3.6f, 0.0f},
  };
  LessIsMoreParams params;
  params.budget = 4;
  params.recency_ratio = 0.25;
  params.sinks = 0;
  params.dense_layers = {0};
  params.selection_layers = {1};
  LessIsMorePolicy policy(params, dims(/*n_layer=*/3, /*n_head=*/4, /*n_ctx=*/16));

  policy.begin_step(8);
  ASSERT_EQ(policy.role(0), LayerRole::Dense);
  ASSERT_EQ(policy.role(1), LayerRole::DenseSelect);
  ASSERT_EQ(policy.role(2), LayerRole::Sparse);
  policy.select(1, &logits[0][0]);

  EXPECT_EQ(policy.selected(), (std::vector<int32_t>{1, 2, 5, 7}));
  for (int64_t h = 0; h < 4; ++h) {
    const RowSpan span = policy.rows(2, h);
    EXPECT_EQ(span.rows, policy.selected().data()) << "head " << h << " must share the set";
    EXPECT_EQ(span.n, 4);
  }
}

TEST(LessIsMore, MergeWalksRankMajor) {
  // Per-head lists from the Figure 5 example; the walk is 2,2,2,5,1,1,6,...
  const int32_t ranked[4][3] = {{2, 1, 6}, {2, 1, 4}, {2, 6, 4}, {5, 6, 4}};
  std::vector<uint32_t> seen(8, 0);
  int32_t out[3];
  EXPECT_EQ(merge_by_rank(&ranked[0][0], 4, 3, 3, 3, seen, 1, out), 3);
  EXPECT_EQ(std::vector<int32_t>(out, out + 3), (std::vector<int32_t>{2, 5, 1}));

  // A larger quota continues the walk: rank 1 gives 1,1,6,6 and rank 2 gives 6,4,4,4, so the
  // first five distinct positions are 2,5,1,6,4.
  int32_t more[5];
  EXPECT_EQ(merge_by_rank(&ranked[0][0], 4, 3, 3, 5, seen, 2, more), 5);
  EXPECT_EQ(std::vector<int32_t>(more, more + 5), (std::vector<int32_t>{2, 5, 1, 6, 4}));
}

TEST(LessIsMore, DenseWhenBudgetCoversContext) {
  LessIsMoreParams params;
  params.budget = 32;
  params.selection_layers = {2, 4};
  LessIsMorePolicy policy(params, dims(6, 4, 64));
  for (int64_t n_kv : {1, 5, 31, 32}) {
    policy.begin_step(n_kv);
    for (int64_t il = 0; il < 6; ++il) EXPECT_EQ(policy.role(il), LayerRole::Dense) << "n_kv " << n_kv << " layer " << il;
  }
  policy.begin_step(33);
  EXPECT_EQ(policy.role(1), LayerRole::Dense);
  EXPECT_EQ(policy.role(2), LayerRole::DenseSelect);
  EXPECT_EQ(policy.role(3), LayerRole::Sparse);
  EXPECT_EQ(policy.role(4), LayerRole::DenseSelect);
  EXPECT_EQ(policy.role(5), LayerRole::Sparse);
}

// The middle of a selection, recomputed from the definition: the `top` candidates with the best
// (rank, head) over heads, where a head ranks the candidates [begin, end) by descending logit with
// ties towards the lower position.
std::set<int32_t> reference_middle(const std::vector<float>& logits, int64_t n_head, int64_t n_kv, int64_t begin,
                                   int64_t end, int64_t top) {
  std::vector<std::pair<int64_t, int64_t>> best(static_cast<size_t>(n_kv), {INT64_MAX, INT64_MAX});
  for (int64_t h = 0; h < n_head; ++h) {
    std::vector<int32_t> order;
    for (int64_t j = begin; j < end; ++j) order.push_back(static_cast<int32_t>(j));
    const float* s = logits.data() + h * n_kv;
    std::stable_sort(order.begin(), order.end(), [s](int32_t a, int32_t b) { return s[a] > s[b]; });
    for (int64_t rank = 0; rank < static_cast<int64_t>(order.size()); ++rank) {
      auto& b = best[static_cast<size_t>(order[static_cast<size_t>(rank)])];
      b = std::min(b, std::make_pair(rank, h));
    }
  }
  std::vector<std::pair<std::pair<int64_t, int64_t>, int32_t>> keyed;  // ((best rank, head), pos)
  for (int64_t j = begin; j < end; ++j) keyed.push_back({best[static_cast<size_t>(j)], static_cast<int32_t>(j)});
  std::sort(keyed.begin(), keyed.end());
  std::set<int32_t> expected;
  for (int64_t i = 0; i < top; ++i) expected.insert(keyed[static_cast<size_t>(i)].second);
  return expected;
}

// Checks the set of one select(): exactly K distinct positions, ascending, with the sinks, the
// recency window and the reference middle.
void expect_selection_matches_reference(const LessIsMorePolicy& policy, const std::vector<float>& logits,
                                        int64_t n_head, int64_t n_kv, int64_t budget, const std::string& what) {
  const auto& sel = policy.selected();
  const BudgetSplit split = policy.split();
  ASSERT_EQ(static_cast<int64_t>(sel.size()), budget) << what;
  const std::set<int32_t> unique(sel.begin(), sel.end());
  EXPECT_EQ(static_cast<int64_t>(unique.size()), budget) << what;
  EXPECT_TRUE(std::is_sorted(sel.begin(), sel.end())) << what;
  for (int64_t j = 0; j < split.sinks; ++j) EXPECT_TRUE(unique.count(static_cast<int32_t>(j))) << what << " sink " << j;
  for (int64_t j = n_kv - split.recent; j < n_kv; ++j) {
    EXPECT_TRUE(unique.count(static_cast<int32_t>(j))) << what << " recent " << j;
  }
  for (int32_t pos : sel) {
    ASSERT_GE(pos, 0) << what;
    ASSERT_LT(pos, n_kv) << what;
  }
  const int64_t begin = split.sinks;
  const int64_t end = n_kv - split.recent;
  std::set<int32_t> middle;
  for (int32_t pos : sel) {
    if (pos >= begin && pos < end) middle.insert(pos);
  }
  EXPECT_EQ(middle, reference_middle(logits, n_head, n_kv, begin, end, split.top)) << what;
}

// Property test over random logits: the set has exactly K distinct positions, contains the sinks
// and the recency window, and its middle is exactly the `top` positions with the best rank over
// heads.
TEST(LessIsMore, SelectionInvariantsOnRandomLogits) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  const int64_t n_head = 6;
  for (int trial = 0; trial < 50; ++trial) {
    const int64_t n_kv = 20 + static_cast<int64_t>(rng() % 300);
    const int64_t budget = 1 + static_cast<int64_t>(rng() % (n_kv - 1));
    const double ratio = (rng() % 5) * 0.25;
    LessIsMoreParams params;
    params.budget = budget;
    params.recency_ratio = ratio;
    params.sinks = 4;
    params.selection_layers = {2};
    LessIsMorePolicy policy(params, dims(4, n_head, 512));
    policy.begin_step(n_kv);
    std::vector<float> logits(static_cast<size_t>(n_head * n_kv));
    for (float& x : logits) x = normal(rng);
    policy.select(2, logits.data());
    expect_selection_matches_reference(policy, logits, n_head, n_kv, budget,
                                       "trial " + std::to_string(trial) + " n_kv " + std::to_string(n_kv) +
                                           " budget " + std::to_string(budget));
  }
}

// The same at the head count and contexts of a real model, where the per-head ranking takes its
// sampled-threshold path. Logits have many ties, and several steps reuse one policy's buffers.
TEST(LessIsMore, LongContextsMatchReference) {
  std::mt19937 rng(31);
  std::normal_distribution<float> normal(0.0f, 1.5f);
  const int64_t n_head = 9;
  const int64_t n_ctx = 6000;
  for (int64_t budget : {64, 512, 1500}) {
    LessIsMoreParams params;
    params.budget = budget;
    params.selection_layers = {2};
    LessIsMorePolicy policy(params, dims(4, n_head, n_ctx));
    for (int step = 0; step < 4; ++step) {
      const int64_t n_kv = budget + 1 + static_cast<int64_t>(rng() % (n_ctx - budget));
      std::vector<float> common(static_cast<size_t>(n_kv));
      for (float& x : common) x = normal(rng);
      std::vector<float> logits(static_cast<size_t>(n_head * n_kv));
      for (int64_t h = 0; h < n_head; ++h) {
        for (int64_t j = 0; j < n_kv; ++j) {
          // Heads share part of their preference; a grid of 1/4 makes ties common.
          const float x = 0.7f * common[static_cast<size_t>(j)] + 0.7f * normal(rng);
          logits[static_cast<size_t>(h * n_kv + j)] = std::round(x * 4.0f) / 4.0f;
        }
      }
      policy.begin_step(n_kv);
      policy.select(2, logits.data());
      expect_selection_matches_reference(policy, logits, n_head, n_kv, budget,
                                         "budget " + std::to_string(budget) + " step " + std::to_string(step) +
                                             " n_kv " + std::to_string(n_kv));
    }
  }
}

TEST(LessIsMore, RejectsInvalidParameters) {
  LessIsMoreParams params;
  params.selection_layers = {2};
  params.budget = 0;
  EXPECT_THROW(LessIsMorePolicy(params, dims(4, 2, 16)), Error);
  params.budget = 8;
  params.recency_ratio = 1.5;
  EXPECT_THROW(LessIsMorePolicy(params, dims(4, 2, 16)), Error);
  params.recency_ratio = 0.25;
  params.selection_layers = {9};
  EXPECT_THROW(LessIsMorePolicy(params, dims(4, 2, 16)), Error);
  params.selection_layers = {1};
  EXPECT_THROW(LessIsMorePolicy(params, dims(4, 2, 16)), Error);  // layer 1 is dense
}

TEST(LessIsMore, DefaultSelectionLayers) {
  EXPECT_EQ(default_selection_layers("qwen3", 36, 4096), (std::vector<int64_t>{2, 12}));  // Qwen3-8B
  EXPECT_EQ(default_selection_layers("qwen3", 36, 2560), (std::vector<int64_t>{2, 20}));  // Qwen3-4B
  EXPECT_EQ(default_selection_layers("llama", 30, 576), (std::vector<int64_t>{2, 10}));   // SmolLM2-135M
  EXPECT_EQ(default_selection_layers("llama", 6, 64), (std::vector<int64_t>{2}));
}

}  // namespace
}  // namespace lim
