// The `lim bench` procedure: decode latency against context length, per attention method and
// budget, on one model.
//
// Prefilling thousands of tokens takes far longer than the decode steps measured after it, so the
// prompt is prefilled once, by a dense "source" session, in ascending context order. Each
// measurement at context L then starts a fresh session with its own policy, copies the source's
// first L cached tokens into it, and times greedy decode steps after a few warm-up steps.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/policy_factory.h"
#include "engine/session.h"
#include "eval/bench_report.h"
#include "ops/thread_pool.h"

namespace lim {

struct BenchConfig {
  std::vector<int64_t> contexts;     // context lengths L to measure at
  std::vector<std::string> methods;  // names from policy_names()
  std::vector<int64_t> budgets;      // K for every method except dense
  PolicyOptions policy;              // every other policy parameter
  int64_t steps = 32;                // timed decode steps per repetition
  int64_t repeats = 5;
  int64_t warmup = 4;                // untimed decode steps before the first repetition
  int64_t ctx_limit = 0;             // largest KV cache a session may have; 0: no limit
  SessionOptions session;            // KV cache type, for the source and every measurement
};

// Parses context lengths: positive integers, or "max" for the model's training context
// (n_ctx_train). Throws lim::Error naming the item otherwise.
std::vector<int64_t> parse_contexts(const std::vector<std::string>& items, int64_t n_ctx_train);

// KV cache capacity of a measurement at context L: L plus every warm-up and timed step.
int64_t bench_session_ctx(const BenchConfig& config, int64_t context);

// Checks the configuration against the model and returns it normalized: contexts and budgets
// sorted without duplicates, dense before the other methods. Throws lim::Error naming the value
// and the fix for an empty or non-positive context list, a context beyond the model's training
// context or the --ctx limit, an unknown method, a budget below 1, or a step count below 1.
BenchConfig normalize_bench_config(BenchConfig config, const ModelConfig& model);

// The prompt: the texts' tokens (each text followed by a blank line) repeated until n tokens,
// after BOS when the tokenizer adds one to prompts. Throws lim::Error when the texts have no tokens.
std::vector<int32_t> repeat_text_tokens(const Tokenizer& tokenizer, const std::vector<std::string>& texts, int64_t n);

// n deterministic pseudo-random token ids below n_vocab, the same for the same seed.
std::vector<int32_t> random_tokens(int64_t n, int64_t n_vocab, uint64_t seed);

struct BenchCallbacks {
  std::function<void(const std::string&)> progress;  // one line, without a newline
  std::function<void(const PrefillPoint&, const BenchMeasurement&, const BenchMeasurement* dense)> on_measurement;
};

// Runs the whole benchmark. prompt needs at least max(contexts) + 1 tokens: the last cached one
// is followed by the token that starts decoding. Throws lim::Error for an invalid configuration
// (see normalize_bench_config) or a short prompt.
BenchResult run_bench(const Model& model, ThreadPool& pool, std::span<const int32_t> prompt, const BenchConfig& config,
                      const BenchCallbacks& callbacks = {});

}  // namespace lim
