// `lim eval`: run a benchmark with several attention methods and budgets, appending one JSONL
// record per finished sample; rerunning the same command resumes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "cli/commands.h"
#include "common.h"
#include "engine/generator.h"
#include "engine/model.h"
#include "engine/policy_factory.h"
#include "engine/session.h"
#include "eval/dataset.h"
#include "eval/runner.h"

namespace lim::cli {

namespace {

// The instruction of the LessIsMore evaluation (arXiv 2508.07101), appended to every problem after
// a newline.
constexpr const char* kInstruction = "Please reason step by step, and put your final answer within \\boxed{}.";

struct EvalOptions {
  std::string model;
  std::string dataset;
  std::string data_dir;
  int64_t limit = -1;
  std::vector<std::string> ids;
  std::vector<int64_t> levels;
  bool no_chat = false;
  std::string system;
  std::vector<std::string> methods = {"dense"};
  std::vector<int64_t> budgets = {2048};
  PolicyOptions policy;  // the parameters besides method and budget
  SessionOptions session;
  int64_t samples = 1;
  uint64_t seed = 0;
  int64_t max_tokens = 32768;
  int64_t n_ctx = 0;
  int threads = 0;
  double temperature = 0.6;
  int64_t top_k = 20;
  double top_p = 0.95;
  bool recall = false;
  std::string out = "results.jsonl";
  std::string shard = "0/1";
  bool no_progress = false;
};

// Generates with the engine: one fresh session and policy per sample.
class ModelBackend final : public GenerationBackend {
 public:
  ModelBackend(const EvalOptions& o, const Model& model, ThreadPool& pool) : o_(o), model_(model), pool_(pool) {}

  SampleOutput generate(const SampleRequest& request) override {
    const Tokenizer& tokenizer = model_.tokenizer();
    PromptOptions prompt_options;
    prompt_options.chat = !o_.no_chat;
    prompt_options.system = o_.system;
    const std::vector<int32_t> prompt =
        encode_prompt(tokenizer, request.problem->problem + "\n" + kInstruction, prompt_options);
    const int64_t n_ctx = o_.n_ctx > 0 ? o_.n_ctx : static_cast<int64_t>(prompt.size()) + o_.max_tokens;

    PolicyOptions policy_options = o_.policy;
    policy_options.method = request.method;
    if (request.budget) policy_options.budget = *request.budget;
    auto policy = make_policy(policy_options, model_.config(), n_ctx);
    Session session(model_, n_ctx, pool_, policy.get(), o_.session);
    double recall_sum = 0.0;
    int64_t recall_count = 0;
    if (o_.recall && policy) {
      session.set_recall_observer([&](const RecallSample& s) {
        recall_sum += s.recall;
        ++recall_count;
      });
    }

    GenerateParams params;
    params.max_tokens = o_.max_tokens;
    params.sampling = SamplerParams{static_cast<float>(o_.temperature), o_.top_k, static_cast<float>(o_.top_p),
                                    request.seed};
    std::string text;
    const GenerateResult result =
        lim::generate(session, tokenizer, prompt, params, [&](const std::string& piece) { text += piece; });

    SampleOutput out;
    out.text = text;
    out.n_prompt = result.n_prompt;
    out.n_generated = static_cast<int64_t>(result.tokens.size());
    out.thinking_tokens = count_thinking_tokens(tokenizer, result.tokens);
    out.prefill_seconds = result.prefill_seconds;
    out.decode_seconds = result.decode_seconds;
    out.n_decode_passes = result.n_decode_passes;
    out.stop = stop_reason_name(result.stop);
    out.mean_attended = mean_attended(session, policy.get(), result);
    if (recall_count > 0) out.recall = recall_sum / static_cast<double>(recall_count);
    return out;
  }

 private:
  // Rows attended per layer and decode step: the policy's sparse layers for a sparse method; the
  // mean context length for dense, which attends to everything.
  static std::optional<double> mean_attended(const Session& session, const AttentionPolicy* policy,
                                             const GenerateResult& r) {
    const AttentionStats& s = session.stats();
    if (policy && s.sparse_layer_steps > 0) return s.attended_sum / static_cast<double>(s.sparse_layer_steps);
    if (r.n_decode_passes == 0) return std::nullopt;
    return static_cast<double>(r.n_prompt) + static_cast<double>(r.n_decode_passes + 1) / 2.0;
  }

  const EvalOptions& o_;
  const Model& model_;
  ThreadPool& pool_;
};

void check_methods(const std::vector<std::string>& methods) {
  const auto& known = policy_names();
  for (const auto& method : methods) {
    if (std::find(known.begin(), known.end(), method) == known.end()) {
      std::string names;
      for (const auto& name : known) names += (names.empty() ? "" : ", ") + name;
      throw Error("--attention '" + method + "' is unknown; choose from " + names + ".");
    }
  }
}

int run_eval_command(EvalOptions& o) {
  if (o.model.empty()) o.model = default_model_path();
  check_methods(o.methods);

  const std::string path = resolve_dataset(o.dataset, o.data_dir);
  ProblemFilter filter;
  filter.ids = o.ids;
  filter.levels = o.levels;
  if (o.limit >= 0) filter.limit = o.limit;
  const std::vector<Problem> problems = select_problems(load_problems(path), filter);
  if (problems.empty()) throw Error("no problems selected from " + path + "; check --ids, --levels and --limit.");

  EvalConfig config;
  config.dataset = dataset_label(o.dataset);
  config.model = std::filesystem::path(o.model).filename().string();
  config.methods = o.methods;
  config.budgets = o.budgets;
  config.samples = o.samples;
  config.seed = o.seed;
  config.max_tokens = o.max_tokens;
  config.temperature = o.temperature;
  config.top_k = o.top_k;
  config.top_p = o.top_p;
  config.kv_type = dtype_name(o.session.kv_type);
  config.chat = !o.no_chat;
  config.shard = parse_shard(o.shard);

  auto model = Model::load(o.model);
  ThreadPool pool(o.threads);
  ModelBackend backend(o, *model, pool);

  std::fprintf(stderr, "lim eval: %s, %zu problems from %s, %s, shard %s, %d threads -> %s\n", config.model.c_str(),
               problems.size(), path.c_str(), config.dataset.c_str(), o.shard.c_str(), pool.n_threads(),
               o.out.c_str());
  const bool progress = !o.no_progress;
  const bool tty = isatty(fileno(stderr)) != 0;
  const auto start = std::chrono::steady_clock::now();
  int64_t correct = 0;
  RunCallbacks callbacks;
  callbacks.on_record = [&](const nlohmann::json& record, int64_t done, int64_t pending) {
    if (record["correct"].get<bool>()) ++correct;
    if (!progress) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string budget = record["budget"].is_null() ? "" : " K=" + record["budget"].dump();
    std::fprintf(stderr, "%s%s  %s %s%s %s%s", tty ? "\r\033[K" : "", progress_line(done, pending, elapsed).c_str(),
                 record["id"].get<std::string>().c_str(), record["method"].get<std::string>().c_str(), budget.c_str(),
                 record["correct"].get<bool>() ? "correct" : "wrong", tty ? "" : "\n");
    std::fflush(stderr);
  };
  const RunSummary summary = run_eval(problems, config, backend, o.out, callbacks);
  if (progress && tty && summary.generated > 0) std::fprintf(stderr, "\n");
  if (summary.dropped_torn_line) {
    std::fprintf(stderr, "lim eval: the results file ended in a torn line (an interrupted write); it was removed\n");
  }
  std::fprintf(stderr, "lim eval: %lld samples in this shard, %lld already done, %lld generated now (%lld correct)\n",
               static_cast<long long>(summary.planned), static_cast<long long>(summary.skipped),
               static_cast<long long>(summary.generated), static_cast<long long>(correct));
  return 0;
}

std::function<int()> add_eval_command(CLI::App& app) {
  auto options = std::make_shared<EvalOptions>();
  EvalOptions& o = *options;
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate methods and budgets on a benchmark; results go to a JSONL file");

  cmd->add_option("-m,--model", o.model, "GGUF model file (default: $LIM_MODEL, else the cached SmolLM2-135M-Instruct)");
  std::string names;
  for (const auto& name : dataset_names()) names += (names.empty() ? "" : ", ") + name;
  cmd->add_option("-d,--dataset", o.dataset, "Dataset name (" + names + ") or JSONL file")->required();
  cmd->add_option("--data-dir", o.data_dir, "Shared data directory (default: $LIM_DATA_DIR, else shared/data beside the repository)");
  cmd->add_option("--limit", o.limit, "Use only the first N selected problems")->check(at_least(0));
  cmd->add_option("--ids", o.ids, "Use only these problem ids, comma separated")->delimiter(',');
  cmd->add_option("--levels", o.levels, "Use only problems of these levels (MATH-500), comma separated")->delimiter(',');
  cmd->add_flag("--no-chat", o.no_chat, "Give the prompt as plain text instead of a chat user message");
  cmd->add_option("--system", o.system, "System message for the chat template (default: the template's own, if any)");

  std::string methods;
  for (const auto& name : policy_names()) methods += (methods.empty() ? "" : ", ") + name;
  cmd->add_option("--attention", o.methods, "Attention methods, comma separated: " + methods)
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--budget", o.budgets, "Token budgets K, comma separated (dense runs once, ignoring them)")
      ->delimiter(',')
      ->capture_default_str()
      ->check(at_least(1));
  cmd->add_option("--recency-ratio", o.policy.recency_ratio, "LessIsMore: share of the budget for the most recent tokens")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--sinks", o.policy.sinks, "Leading tokens always attended")->capture_default_str()->check(at_least(0));
  cmd->add_option("--selection-layers", o.policy.selection_layers, "Layers that choose the token set, comma separated")
      ->delimiter(',');
  cmd->add_option("--dense-layers", o.policy.dense_layers, "Layers that always attend densely, comma separated")
      ->delimiter(',')
      ->capture_default_str();

  cmd->add_option("--samples", o.samples, "Samples per problem, method and budget")->capture_default_str()->check(at_least(1));
  cmd->add_option("--seed", o.seed, "Seed of the first sample; sample s uses seed + s")->capture_default_str();
  cmd->add_option("-n,--max-tokens", o.max_tokens, "Maximum tokens to generate per sample")->capture_default_str()->check(at_least(1));
  cmd->add_option("-c,--ctx", o.n_ctx, "KV cache size (default: prompt length + --max-tokens)")->check(at_least(0));
  cmd->add_option("-t,--threads", o.threads, "Worker threads (default: one per hardware thread)")->check(at_least(0));
  cmd->add_option("--temperature", o.temperature, "Sampling temperature; 0 is greedy")->capture_default_str();
  cmd->add_option("--top-k", o.top_k, "Sample from the k most likely tokens; 0 disables")->capture_default_str();
  cmd->add_option("--top-p", o.top_p, "Nucleus sampling threshold")->capture_default_str();
  add_session_options(cmd, o.session);
  cmd->add_flag("--recall", o.recall, "Measure attention recall of sparse layers (computes full attention too; slower)");
  cmd->add_option("-o,--out", o.out, "Results JSONL file; an existing one is resumed")->capture_default_str();
  cmd->add_option("--shard", o.shard, "Run only the problems of shard i of n (i/n, 0-based: every n-th problem from problem i); shards together cover every sample once")
      ->capture_default_str();
  cmd->add_flag("--no-progress", o.no_progress, "Do not print progress on stderr");

  return [options]() { return run_eval_command(*options); };
}

const CommandRegistrar kEvalCommand("eval", add_eval_command);

}  // namespace
}  // namespace lim::cli
