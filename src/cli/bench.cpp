// `lim bench`: prefill and per-token decode latency against context length, per attention method
// and budget. The Markdown report goes to stdout (or --markdown), one JSONL record per measurement
// to --jsonl, and progress to stderr.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "common.h"
#include "engine/model.h"
#include "eval/bandwidth.h"
#include "eval/bench_report.h"
#include "eval/bench_run.h"
#include "eval/dataset.h"
#include "ops/quant.h"

namespace lim::cli {

namespace {

struct BenchOptions {
  std::string model;
  std::vector<std::string> contexts = {"1024", "2048", "4096", "8192"};
  std::vector<std::string> methods = {"dense", "lessismore"};
  std::vector<int64_t> budgets = {512};
  PolicyOptions policy;  // everything but method and budget, which the lists give
  int64_t steps = 32;
  int64_t repeats = 5;
  int64_t warmup = 4;
  int64_t ctx_limit = 0;
  int threads = 0;
  std::string prompt_file;
  std::string jsonl;
  std::string markdown;
  uint64_t seed = 0;
  int64_t bandwidth_mib = 1024;  // buffer for the memory bandwidth measurement; 0 skips it
  SessionOptions session;
};

// Prompt source: texts to tokenize, or none for pseudo-random token ids.
struct PromptSource {
  std::vector<std::string> texts;
  std::string description;
};

// --prompt-file, else the GSM8K test questions of the shared data directory, else nothing.
PromptSource prompt_source(const BenchOptions& o) {
  if (!o.prompt_file.empty()) {
    std::string text = read_text_file(o.prompt_file, "--prompt-file");
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
      throw Error("--prompt-file '" + o.prompt_file + "' is empty; give a file with text in it.");
    }
    return {{std::move(text)}, "the text of " + o.prompt_file + ", repeated"};
  }
  std::string data_dir;
  try {
    data_dir = find_data_dir("");
  } catch (const Error&) {
    return {{}, "pseudo-random token ids"};
  }
  const std::string gsm8k = (std::filesystem::path(data_dir) / "gsm8k" / "test.jsonl").string();
  if (!std::filesystem::is_regular_file(gsm8k)) return {{}, "pseudo-random token ids"};
  PromptSource source;
  for (Problem& p : load_problems(gsm8k)) source.texts.push_back(std::move(p.problem));
  source.description = "GSM8K test questions from " + gsm8k + ", repeated";
  return source;
}

// Fails before the minutes of measuring, rather than after them, when an output cannot be written.
void check_outputs(const BenchOptions& o) {
  for (const auto& [option, path] : {std::pair<const char*, const std::string&>{"--jsonl", o.jsonl},
                                     std::pair<const char*, const std::string&>{"--markdown", o.markdown}}) {
    std::error_code ec;
    if (!path.empty() && std::filesystem::is_directory(path, ec)) {
      throw Error(std::string(option) + " '" + path + "' is a directory; give a file path inside it.");
    }
  }
  if (!o.jsonl.empty() && !std::ofstream(o.jsonl, std::ios::app | std::ios::binary)) {
    throw Error("cannot append to --jsonl file '" + o.jsonl + "'; check that its directory exists and is writable.");
  }
  const std::filesystem::path dir = std::filesystem::path(o.markdown).parent_path();
  if (!o.markdown.empty() && !dir.empty() && !std::filesystem::is_directory(dir)) {
    throw Error("the directory of --markdown file '" + o.markdown + "' does not exist; create it or choose another path.");
  }
}

int run_bench_command(BenchOptions& o) {
  if (o.model.empty()) o.model = default_model_path();
  check_outputs(o);
  PromptSource source = prompt_source(o);

  auto model = Model::load(o.model);
  const ModelConfig& c = model->config();

  BenchConfig config;
  config.contexts = parse_contexts(o.contexts, c.n_ctx_train);
  config.methods = o.methods;
  config.budgets = o.budgets;
  config.policy = o.policy;
  config.steps = o.steps;
  config.repeats = o.repeats;
  config.warmup = o.warmup;
  config.ctx_limit = o.ctx_limit;
  config.session = o.session;
  config = normalize_bench_config(config, c);

  const int64_t longest = config.contexts.back();
  if (c.n_ctx_train > 0 && bench_session_ctx(config, longest) > c.n_ctx_train) {
    std::fprintf(stderr,
                 "bench: note: decoding at L=%lld runs to position %lld, past the %lld tokens the model was trained "
                 "for; the timings are still valid, the generated text is not used\n",
                 static_cast<long long>(longest), static_cast<long long>(bench_session_ctx(config, longest)),
                 static_cast<long long>(c.n_ctx_train));
  }

  const std::vector<int32_t> prompt = source.texts.empty()
                                          ? random_tokens(longest + 1, c.n_vocab, o.seed)
                                          : repeat_text_tokens(model->tokenizer(), source.texts, longest + 1);
  if (source.texts.empty()) source.description += " (seed " + std::to_string(o.seed) + ")";

  ThreadPool pool(o.threads);
  warn_if_oversubscribed(pool.n_threads());
  BenchSetup setup;
  setup.model_path = o.model;
  setup.model_name = c.name;
  setup.arch = c.arch;
  setup.weight_bytes = model_weight_bytes(o.model);
  setup.kv_type = dtype_name(o.session.kv_type);
  setup.matmul = matmul_name(o.session.matmul);
  setup.cpu = cpu_model();
  setup.threads = pool.n_threads();
  setup.hardware_threads = std::thread::hardware_concurrency();
  setup.prompt = source.description;
  setup.steps = config.steps;
  setup.repeats = config.repeats;
  setup.warmup = config.warmup;
  setup.date = utc_timestamp();
  setup.decode_weight_bytes = decode_weight_bytes(*model);
  if (o.bandwidth_mib > 0) {
    std::fprintf(stderr, "bench: measuring memory read bandwidth (%lld MiB buffer)\n",
                 static_cast<long long>(o.bandwidth_mib));
    const BandwidthMeasurement bw = measure_read_bandwidth(pool, static_cast<size_t>(o.bandwidth_mib) << 20);
    setup.bandwidth_bytes_per_s = bw.bytes_per_second;
    setup.bandwidth_median_bytes_per_s = bw.median_bytes_per_second;
    setup.bandwidth_buffer_bytes = bw.buffer_bytes;
    std::fprintf(stderr, "bench: memory read bandwidth %.1f GB/s (median %.1f GB/s)\n", bw.bytes_per_second / 1e9,
                 bw.median_bytes_per_second / 1e9);
  }

  std::fprintf(stderr, "bench: %s (%s, %lld layers), threads: %d, contexts:", c.name.c_str(), c.arch.c_str(),
               static_cast<long long>(c.n_layer), pool.n_threads());
  for (int64_t context : config.contexts) std::fprintf(stderr, " %lld", static_cast<long long>(context));
  std::fprintf(stderr, "; prompt: %s\n", setup.prompt.c_str());

  BenchCallbacks callbacks;
  callbacks.progress = [](const std::string& line) { std::fprintf(stderr, "bench: %s\n", line.c_str()); };
  callbacks.on_measurement = [&](const PrefillPoint& prefill, const BenchMeasurement& m, const BenchMeasurement* dense) {
    // Appended as each measurement ends, so an interrupted run keeps what it measured.
    if (!o.jsonl.empty()) append_jsonl_line(o.jsonl, bench_record(setup, prefill, m, dense));
  };
  const BenchResult result = run_bench(*model, pool, prompt, config, callbacks);

  const std::string markdown = bench_markdown(setup, result);
  if (o.markdown.empty()) {
    std::fwrite(markdown.data(), 1, markdown.size(), stdout);
  } else {
    std::ofstream out(o.markdown, std::ios::binary);
    if (!out || !(out << markdown)) {
      throw Error("cannot write --markdown file '" + o.markdown + "'; check that the directory is writable.");
    }
    std::fprintf(stderr, "bench: wrote %s\n", o.markdown.c_str());
  }
  if (!o.jsonl.empty()) {
    std::fprintf(stderr, "bench: appended %zu record%s to %s\n", result.measurements.size(),
                 result.measurements.size() == 1 ? "" : "s", o.jsonl.c_str());
  }
  return 0;
}

std::function<int()> add_bench_command(CLI::App& app) {
  auto options = std::make_shared<BenchOptions>();
  BenchOptions& o = *options;
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure prefill and per-token decode latency against context length, per attention method and budget");

  cmd->add_option("-m,--model", o.model,
                  "GGUF file or Hugging Face model directory (default: $LIM_MODEL, else the cached SmolLM2-135M-Instruct)");
  cmd->add_option("--contexts", o.contexts,
                  "Context lengths to measure at, comma separated; max: the model's training context")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--methods", o.methods, "Attention methods, comma separated")->delimiter(',')->capture_default_str();
  cmd->add_option("--budgets", o.budgets, "Budgets K for every method but dense, comma separated")
      ->delimiter(',')
      ->capture_default_str()
      ->check(at_least(1));
  cmd->add_option("--steps", o.steps, "Decode steps timed per repetition")->capture_default_str()->check(at_least(1));
  cmd->add_option("--repeats", o.repeats, "Repetitions per context, method and budget")
      ->capture_default_str()
      ->check(at_least(1));
  cmd->add_option("--warmup", o.warmup, "Untimed decode steps before the first repetition")
      ->capture_default_str()
      ->check(at_least(0));
  cmd->add_option("-c,--ctx", o.ctx_limit,
                  "Largest KV cache a measurement may allocate, in tokens (default: no limit but the model's context)")
      ->check(at_least(0));
  cmd->add_option("-t,--threads", o.threads, "Worker threads (default: one per hardware thread)")->check(at_least(0));
  cmd->add_option("-f,--prompt-file", o.prompt_file,
                  "Text to tokenize and repeat up to the longest context (default: the GSM8K test questions of the "
                  "shared data directory, else pseudo-random token ids)");
  cmd->add_option("--seed", o.seed, "Seed of the pseudo-random prompt and of --randomized-topk")->capture_default_str();
  cmd->add_option("--bandwidth-mib", o.bandwidth_mib,
                  "MiB read to measure memory bandwidth for the bandwidth-limit columns; 0 skips the measurement")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            int64_t value = -1;
            if (!CLI::detail::lexical_cast(text, value) || (value != 0 && value < 64)) {
              return "'" + text + "' is invalid; give 0 to skip the measurement, or at least 64 MiB (well above "
                     "the last-level cache, so that memory, not cache, is read)";
            }
            return {};
          },
          "0 or >= 64"));
  cmd->add_option("--jsonl", o.jsonl, "Append one JSON record per context, method and budget to this file");
  cmd->add_option("--markdown", o.markdown, "Write the Markdown report to this file instead of stdout");
  add_session_options(cmd, o.session);
  add_policy_options(cmd, o.policy);
  // Method and budget come from --methods and --budgets here.
  cmd->remove_option(cmd->get_option("--attention"));
  cmd->remove_option(cmd->get_option("--budget"));

  return [options]() { return run_bench_command(*options); };
}

const CommandRegistrar kBenchCommand("bench", add_bench_command);

}  // namespace
}  // namespace lim::cli
