#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

#include "common.h"
#include "engine/sampler.h"

namespace lim {
namespace {

TEST(Sampler, GreedyTakesArgmaxLowestIndexOnTies) {
  const std::vector<float> logits = {0.1f, 2.0f, -1.0f, 2.0f};
  Sampler sampler(SamplerParams{0.0f, 0, 1.0f, 0}, 4);
  EXPECT_EQ(sampler.sample(logits.data()), 1);
}

TEST(Sampler, TopKOneIsGreedy) {
  const std::vector<float> logits = {0.1f, 0.3f, 5.0f, 0.2f};
  Sampler sampler(SamplerParams{1.5f, 1, 1.0f, 42}, 4);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sampler.sample(logits.data()), 2);
}

TEST(Sampler, TopPKeepsSmallestNucleus) {
  // Probabilities at temperature 1: about 0.665, 0.245, 0.090 -> top-p 0.8 keeps ids 0 and 1.
  const std::vector<float> logits = {2.0f, 1.0f, 0.0f};
  Sampler sampler(SamplerParams{1.0f, 0, 0.8f, 3}, 3);
  std::map<int32_t, int> counts;
  for (int i = 0; i < 2000; ++i) ++counts[sampler.sample(logits.data())];
  EXPECT_EQ(counts[2], 0);
  EXPECT_GT(counts[1], 400);  // expected about 0.245 / 0.91 * 2000 = 539
  EXPECT_GT(counts[0], 1200);
}

TEST(Sampler, FrequenciesFollowTemperature) {
  const std::vector<float> logits = {0.0f, std::log(3.0f)};
  Sampler sampler(SamplerParams{1.0f, 0, 1.0f, 11}, 2);
  int ones = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ones += sampler.sample(logits.data());
  EXPECT_NEAR(static_cast<double>(ones) / n, 0.75, 0.02);
}

TEST(Sampler, SameSeedSameSequence) {
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i));
  Sampler a(SamplerParams{0.8f, 20, 0.95f, 123}, 50);
  Sampler b(SamplerParams{0.8f, 20, 0.95f, 123}, 50);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.sample(logits.data()), b.sample(logits.data()));
}

TEST(Sampler, RejectsInvalidParameters) {
  EXPECT_THROW(Sampler(SamplerParams{1.0f, -1, 1.0f, 0}, 4), Error);
  EXPECT_THROW(Sampler(SamplerParams{1.0f, 0, 0.0f, 0}, 4), Error);
  EXPECT_THROW(Sampler(SamplerParams{1.0f, 0, 1.5f, 0}, 4), Error);
}

}  // namespace
}  // namespace lim
