#include "engine/generator.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "common.h"

namespace lim {

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::EndOfGeneration: return "end of generation token";
    case StopReason::MaxTokens: return "max tokens reached";
    case StopReason::ContextFull: return "context full";
  }
  return "unknown";
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int64_t count_thinking_tokens(const Tokenizer& tokenizer, const std::vector<int32_t>& tokens) {
  static const std::string kEnd = "</think>";
  if (const std::optional<int32_t> end_id = tokenizer.find_token(kEnd)) {
    const auto it = std::find(tokens.begin(), tokens.end(), *end_id);
    if (it != tokens.end()) return static_cast<int64_t>(it - tokens.begin()) + 1;
  }
  if (tokenizer.decode(tokens).find(kEnd) == std::string::npos) return 0;

  // The tag is spelled by several tokens: find the shortest prefix whose text contains it by
  // binary search, because containment only grows with the prefix length.
  int64_t lo = 1;
  int64_t hi = static_cast<int64_t>(tokens.size());
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    const std::vector<int32_t> prefix(tokens.begin(), tokens.begin() + mid);
    if (tokenizer.decode(prefix).find(kEnd) != std::string::npos) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

GenerateResult generate(Session& session, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                        const GenerateParams& params, const std::function<void(const std::string&)>& on_text) {
  GenerateResult result;
  result.n_prompt = static_cast<int64_t>(prompt.size());
  if (params.max_tokens < 1) {
    throw Error("--max-tokens " + std::to_string(params.max_tokens) + " is invalid; it must be at least 1.");
  }
  if (result.n_prompt + 1 > session.n_ctx()) {
    throw Error("the prompt has " + std::to_string(result.n_prompt) + " tokens, which leaves no room to generate in a context of " +
                std::to_string(session.n_ctx()) + " tokens; raise --ctx or shorten the prompt.");
  }

  Sampler sampler(params.sampling, tokenizer.n_vocab());
  StreamDecoder stream(tokenizer);

  auto start = std::chrono::steady_clock::now();
  const float* logits = session.prefill(prompt);
  result.prefill_seconds = seconds_since(start);

  start = std::chrono::steady_clock::now();
  while (true) {
    const int32_t token = sampler.sample(logits);
    result.tokens.push_back(token);
    const bool stop_token = std::find(params.stop_ids.begin(), params.stop_ids.end(), token) != params.stop_ids.end();
    if (stop_token || tokenizer.is_end_of_generation(token)) {
      result.stop = StopReason::EndOfGeneration;
      break;
    }
    const std::string text = stream.push(token);
    if (!text.empty()) on_text(text);
    if (static_cast<int64_t>(result.tokens.size()) >= params.max_tokens) {
      result.stop = StopReason::MaxTokens;
      break;
    }
    if (session.n_past() >= session.n_ctx()) {
      result.stop = StopReason::ContextFull;
      break;
    }
    logits = session.decode(token);
    ++result.n_decode_passes;
  }
  result.decode_seconds = seconds_since(start);

  const std::string rest = stream.flush();
  if (!rest.empty()) on_text(rest);
  return result;
}

}  // namespace lim
