#include "eval/bench_run.h"

#include "eval/bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "common.h"
#include "engine/sampler.h"
#include "engine/session.h"

namespace lim {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string joined_policy_names() {
  std::string names;
  for (const auto& n : policy_names()) names += (names.empty() ? "" : ", ") + n;
  return names;
}

std::string label(const std::string& method, const std::optional<int64_t>& budget) {
  return method + (budget ? " K=" + std::to_string(*budget) : "");
}

template <typename T>
void sort_unique(std::vector<T>& values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
}

struct PlanEntry {
  std::string method;
  std::optional<int64_t> budget;
};

std::vector<PlanEntry> plan_of(const BenchConfig& config) {
  std::vector<PlanEntry> plan;
  for (const std::string& method : config.methods) {
    if (method == "dense") {
      plan.push_back({method, std::nullopt});
      continue;
    }
    for (int64_t k : config.budgets) plan.push_back({method, k});
  }
  return plan;
}

BenchMeasurement measure(const Model& model, ThreadPool& pool, const Session& source, std::span<const int32_t> prompt,
                         int64_t context, const PlanEntry& entry, const BenchConfig& config,
                         const BenchCallbacks& callbacks) {
  const ModelConfig& c = model.config();
  PolicyOptions options = config.policy;
  options.method = entry.method;
  if (entry.budget) options.budget = *entry.budget;

  BenchMeasurement m;
  m.context = context;
  m.method = entry.method;
  m.budget = entry.budget;
  m.policy = entry.method == "dense" ? "dense" : describe_policy(options, c);
  m.n_ctx = bench_session_ctx(config, context);

  auto policy = make_policy(options, c, m.n_ctx);
  Session session(model, m.n_ctx, pool, policy.get(), config.session);
  session.copy_prefix_from(source, context);
  m.kv_cache_bytes = session.cache().bytes();
  int64_t n_sparse_layers = 0;
  for (int64_t il = 0; il < c.n_layer && policy; ++il) n_sparse_layers += policy->is_sparse_layer(il) ? 1 : 0;
  const double weight_bytes = decode_weight_bytes(model);

  // Decoding starts from the prompt token after the copied prefix, then follows the greedy choice.
  int32_t token = prompt[static_cast<size_t>(context)];
  const auto step = [&]() { token = argmax(session.decode(token), c.n_vocab); };
  for (int64_t i = 0; i < config.warmup; ++i) step();

  const std::string name = "L=" + std::to_string(context) + " " + label(entry.method, entry.budget);
  for (int64_t rep = 0; rep < config.repeats; ++rep) {
    BenchRepetition r;
    r.n_past_start = session.n_past();
    const DecodeTimings t0 = session.timings();
    const AttentionStats s0 = session.stats();
    double context_sum = 0.0;
    r.step_ms.reserve(static_cast<size_t>(config.steps));
    for (int64_t i = 0; i < config.steps; ++i) {
      context_sum += static_cast<double>(session.n_past() + 1);
      const auto start = Clock::now();
      step();
      r.step_ms.push_back(ms_since(start));
    }
    const DecodeTimings& t1 = session.timings();
    const AttentionStats& s1 = session.stats();
    const double per_step = 1000.0 / static_cast<double>(config.steps);
    r.median_ms = median(r.step_ms);
    r.total_ms = (t1.total_s - t0.total_s) * per_step;
    r.matmul_ms = (t1.matmul_s - t0.matmul_s) * per_step;
    r.attention_ms = (t1.attention_s - t0.attention_s) * per_step;
    r.selection_ms = (t1.selection_s - t0.selection_s) * per_step;
    r.rest_ms = r.total_ms - r.matmul_ms - r.attention_ms - r.selection_ms;
    const int64_t layer_steps = s1.sparse_layer_steps - s0.sparse_layer_steps;
    r.attended_rows = layer_steps > 0 ? (s1.attended_sum - s0.attended_sum) / static_cast<double>(layer_steps)
                                      : context_sum / static_cast<double>(config.steps);
    r.dense_fallback_steps = s1.dense_fallback_steps - s0.dense_fallback_steps;
    const double mean_context = context_sum / static_cast<double>(config.steps);
    r.rows_per_layer = (static_cast<double>(c.n_layer - n_sparse_layers) * mean_context +
                        static_cast<double>(n_sparse_layers) * r.attended_rows) /
                       static_cast<double>(c.n_layer);
    r.step_bytes = weight_bytes + decode_kv_bytes(model, session.cache().row_bytes(), r.rows_per_layer);
    if (callbacks.progress) {
      char line[160];
      std::snprintf(line, sizeof line, "rep %lld/%lld: %.2f ms/token (median of %lld steps), %.1f rows attended",
                    static_cast<long long>(rep + 1), static_cast<long long>(config.repeats), r.median_ms,
                    static_cast<long long>(config.steps), r.attended_rows);
      callbacks.progress(name + " " + line);
    }
    m.repetitions.push_back(std::move(r));
  }
  m.peak_rss_bytes = peak_rss_bytes();
  m.load_average = load_average();
  return m;
}

}  // namespace

std::vector<int64_t> parse_contexts(const std::vector<std::string>& items, int64_t n_ctx_train) {
  std::vector<int64_t> contexts;
  for (const std::string& item : items) {
    if (item == "max") {
      if (n_ctx_train <= 0) {
        throw Error("--contexts: 'max' needs the model's training context, which its metadata does not state; "
                    "give context lengths as numbers.");
      }
      contexts.push_back(n_ctx_train);
      continue;
    }
    size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size()) {
      throw Error("--contexts: '" + item + "' is not a context length; give token counts such as 1024,2048 or max.");
    }
    contexts.push_back(value);
  }
  return contexts;
}

int64_t bench_session_ctx(const BenchConfig& config, int64_t context) {
  return context + config.warmup + config.steps * config.repeats;
}

BenchConfig normalize_bench_config(BenchConfig config, const ModelConfig& model) {
  if (config.contexts.empty()) throw Error("--contexts is empty; give context lengths such as 1024,2048 or max.");
  if (config.methods.empty()) throw Error("--methods is empty; give methods such as dense,lessismore.");
  if (config.steps < 1) throw Error("--steps " + std::to_string(config.steps) + " is invalid; time at least 1 step.");
  if (config.repeats < 1) {
    throw Error("--repeats " + std::to_string(config.repeats) + " is invalid; run at least 1 repetition.");
  }
  if (config.warmup < 0) throw Error("--warmup " + std::to_string(config.warmup) + " is invalid; give 0 or more steps.");

  for (const std::string& m : config.methods) {
    if (std::find(policy_names().begin(), policy_names().end(), m) == policy_names().end()) {
      throw Error("--methods: '" + m + "' is not a method; use some of: " + joined_policy_names() + ".");
    }
  }
  const bool sparse = std::any_of(config.methods.begin(), config.methods.end(), [](const auto& m) { return m != "dense"; });
  if (sparse && config.budgets.empty()) throw Error("--budgets is empty; give at least one budget, such as 512.");
  for (int64_t k : config.budgets) {
    if (k < 1) throw Error("--budgets: " + std::to_string(k) + " is not a budget; give budgets of at least 1 token.");
  }

  for (int64_t context : config.contexts) {
    if (context < 1) {
      throw Error("--contexts: " + std::to_string(context) + " is not a context length; give positive token counts.");
    }
    if (model.n_ctx_train > 0 && context > model.n_ctx_train) {
      throw Error("--contexts: " + std::to_string(context) + " exceeds the " + std::to_string(model.n_ctx_train) +
                  " tokens " + model.name + " was trained for; use at most " + std::to_string(model.n_ctx_train) +
                  " (or max).");
    }
    const int64_t needed = bench_session_ctx(config, context);
    if (config.ctx_limit > 0 && needed > config.ctx_limit) {
      throw Error("--contexts: " + std::to_string(context) + " plus " + std::to_string(config.warmup) + " warm-up and " +
                  std::to_string(config.steps * config.repeats) + " timed steps needs a KV cache of " +
                  std::to_string(needed) + " tokens, more than --ctx " + std::to_string(config.ctx_limit) +
                  "; raise --ctx, or lower the context, --steps or --repeats.");
    }
  }

  sort_unique(config.contexts);
  sort_unique(config.budgets);
  std::vector<std::string> methods;
  if (std::find(config.methods.begin(), config.methods.end(), "dense") != config.methods.end()) methods.push_back("dense");
  for (const std::string& m : config.methods) {
    if (std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
  }
  config.methods = std::move(methods);

  // Policy parameters that do not fit the model fail here rather than after minutes of prefill.
  for (const PlanEntry& entry : plan_of(config)) {
    PolicyOptions options = config.policy;
    options.method = entry.method;
    if (entry.budget) options.budget = *entry.budget;
    make_policy(options, model, bench_session_ctx(config, config.contexts.front()));
  }
  return config;
}

std::vector<int32_t> repeat_text_tokens(const Tokenizer& tokenizer, const std::vector<std::string>& texts, int64_t n) {
  std::vector<int32_t> ids;
  if (tokenizer.add_bos() && tokenizer.bos_id() >= 0) ids.push_back(tokenizer.bos_id());
  const size_t start = ids.size();
  // Texts are encoded only until n tokens are reached, so a large file costs little.
  for (const std::string& text : texts) {
    if (static_cast<int64_t>(ids.size()) >= n) break;
    const std::vector<int32_t> encoded = tokenizer.encode(text + "\n\n", /*parse_special=*/false);
    ids.insert(ids.end(), encoded.begin(), encoded.end());
  }
  if (ids.size() == start) throw Error("the prompt text has no tokens; give a --prompt-file with text in it.");
  const size_t cycle = ids.size() - start;
  for (size_t i = 0; static_cast<int64_t>(ids.size()) < n; ++i) ids.push_back(ids[start + i % cycle]);
  ids.resize(static_cast<size_t>(n));
  return ids;
}

std::vector<int32_t> random_tokens(int64_t n, int64_t n_vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(n_vocab - 1));
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int32_t& id : ids) id = pick(rng);
  return ids;
}

BenchResult run_bench(const Model& model, ThreadPool& pool, std::span<const int32_t> prompt, const BenchConfig& raw,
                      const BenchCallbacks& callbacks) {
  const BenchConfig config = normalize_bench_config(raw, model.config());
  const int64_t longest = config.contexts.back();
  if (static_cast<int64_t>(prompt.size()) < longest + 1) {
    throw Error("the prompt has " + std::to_string(prompt.size()) + " tokens; measuring at context " +
                std::to_string(longest) + " needs " + std::to_string(longest + 1) + ".");
  }
  const auto progress = [&](const std::string& line) {
    if (callbacks.progress) callbacks.progress(line);
  };

  BenchResult result;
  Session source(model, longest, pool, nullptr, config.session);
  double prefill_seconds = 0.0;
  for (int64_t context : config.contexts) {
    const int64_t done = source.n_past();
    const auto start = Clock::now();
    source.prefill(prompt.subspan(static_cast<size_t>(done), static_cast<size_t>(context - done)));
    prefill_seconds += ms_since(start) / 1000.0;
    const PrefillPoint point{context, prefill_seconds};
    result.prefill.push_back(point);
    char line[160];
    std::snprintf(line, sizeof line, "prefill to L=%lld: %.2f s so far (%.1f tokens/s)",
                  static_cast<long long>(context), point.seconds, point.tokens_per_s());
    progress(line);

    for (const PlanEntry& entry : plan_of(config)) {
      BenchMeasurement m = measure(model, pool, source, prompt, context, entry, config, callbacks);
      result.measurements.push_back(std::move(m));
      if (callbacks.on_measurement) {
        callbacks.on_measurement(point, result.measurements.back(), dense_at(result.measurements, context));
      }
    }
  }
  return result;
}

}  // namespace lim
