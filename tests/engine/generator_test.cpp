#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/generator.h"
#include "support/tiny_model.h"

namespace lim {
namespace {

// The tiny model's vocabulary has no "</think>" token, so the tag is spelled by byte tokens.
TEST(ThinkingTokens, CountsThroughMultiTokenTag) {
  test::TinyModel model(test::TinyModelSpec{});
  const Tokenizer& tokenizer = model->tokenizer();
  const std::vector<int32_t> thinking = tokenizer.encode("plan</think>", /*parse_special=*/false);
  const std::vector<int32_t> answer = tokenizer.encode(" done", /*parse_special=*/false);
  std::vector<int32_t> tokens = thinking;
  tokens.insert(tokens.end(), answer.begin(), answer.end());

  EXPECT_EQ(count_thinking_tokens(tokenizer, tokens), static_cast<int64_t>(thinking.size()));
  EXPECT_EQ(count_thinking_tokens(tokenizer, answer), 0);
  EXPECT_EQ(count_thinking_tokens(tokenizer, {}), 0);
}

}  // namespace
}  // namespace lim
