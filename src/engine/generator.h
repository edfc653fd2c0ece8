// The decode loop: prefill, then sample and decode until a stop condition, with timings.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/session.h"
#include "formats/tokenizer.h"

namespace lim {

struct GenerateParams {
  int64_t max_tokens = 512;
  SamplerParams sampling;
  std::vector<int32_t> stop_ids;  // end generation as well as the tokenizer's end-of-turn tokens
};

enum class StopReason { EndOfGeneration, MaxTokens, ContextFull };
const char* stop_reason_name(StopReason reason);

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids, the end-of-generation token included
  int64_t n_prompt = 0;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;  // decode forward passes and sampling after the first token
  int64_t n_decode_passes = 0;
  StopReason stop = StopReason::MaxTokens;
};

// Returns how many generated tokens come before the end of the reasoning block: the tokens up to
// and including the one that completes "</think>", or 0 when the text has none.
int64_t count_thinking_tokens(const Tokenizer& tokenizer, const std::vector<int32_t>& tokens);

// Generates from `prompt` (already tokenized). on_text receives each piece of decoded text as
// soon as it forms whole UTF-8 characters; the end-of-generation token itself is not printed.
GenerateResult generate(Session& session, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                        const GenerateParams& params, const std::function<void(const std::string&)>& on_text);

}  // namespace lim
