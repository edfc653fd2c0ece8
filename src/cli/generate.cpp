// `lim generate`: decode one prompt and stream the answer to stdout; statistics go to stderr.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common.h"
#include "engine/generator.h"
#include "engine/model.h"
#include "engine/policy_factory.h"
#include "engine/session.h"

namespace lim::cli {

namespace {

struct GenerateOptions {
  std::string model;
  std::string prompt;
  std::string prompt_file;
  PromptOptions prompt_options;
  PolicyOptions policy;
  int64_t max_tokens = 512;
  int64_t n_ctx = 4096;
  int threads = 0;
  float temperature = 0.6f;
  int64_t top_k = 20;
  float top_p = 0.95f;
  uint64_t seed = 0;
  bool recall = false;
  std::string recall_out;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open prompt file '" + path + "'; check the path.");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string read_prompt(const GenerateOptions& o) {
  if (!o.prompt.empty()) return o.prompt;
  if (!o.prompt_file.empty()) return read_file(o.prompt_file);
  std::ostringstream text;
  text << std::cin.rdbuf();
  return text.str();
}

void print_summary(const GenerateOptions& o, const ModelConfig& config, const GenerateResult& r, const Session& session,
                   const AttentionPolicy* policy, double recall_sum, int64_t recall_count) {
  const int64_t n_generated = static_cast<int64_t>(r.tokens.size());
  std::fprintf(stderr, "\n\nprompt tokens: %lld, generated tokens: %lld (stopped: %s)\n",
               static_cast<long long>(r.n_prompt), static_cast<long long>(n_generated), stop_reason_name(r.stop));
  std::fprintf(stderr, "prefill: %.1f tokens/s (%.3f s)\n", r.n_prompt / r.prefill_seconds, r.prefill_seconds);
  if (r.n_decode_passes > 0) {
    std::fprintf(stderr, "decode: %.1f tokens/s (%.2f ms/token over %lld steps)\n",
                 r.n_decode_passes / r.decode_seconds, 1000.0 * r.decode_seconds / r.n_decode_passes,
                 static_cast<long long>(r.n_decode_passes));
  }

  const AttentionStats& s = session.stats();
  if (!policy) {
    std::fprintf(stderr, "attention: dense, every layer attended to the whole context\n");
    return;
  }
  std::fprintf(stderr, "attention: %s\n", describe_policy(o.policy, config).c_str());
  if (s.sparse_layer_steps > 0) {
    std::fprintf(stderr, "attended tokens: %.1f per sparse layer and step on average (%lld layer-steps; %lld of %lld steps dense because the budget covered the context)\n",
                 s.attended_sum / s.sparse_layer_steps, static_cast<long long>(s.sparse_layer_steps),
                 static_cast<long long>(s.dense_fallback_steps), static_cast<long long>(s.decode_steps));
  }
  if (o.recall) {
    if (recall_count > 0) {
      std::fprintf(stderr, "recall: %.4f mean over %lld sparse layer-steps (steps where the budget was below the context)\n",
                   recall_sum / recall_count, static_cast<long long>(recall_count));
    } else {
      std::fprintf(stderr, "recall: no sparse steps; the context never exceeded the budget of %lld tokens\n",
                   static_cast<long long>(o.policy.budget));
    }
  }
}

int run_generate(GenerateOptions& o) {
  if (o.model.empty()) o.model = default_model_path();
  if (!o.recall_out.empty()) o.recall = true;
  if (o.n_ctx < 2) throw Error("--ctx " + std::to_string(o.n_ctx) + " is invalid; it must be at least 2.");

  const std::string text = read_prompt(o);
  if (text.empty()) throw Error("the prompt is empty; pass --prompt, --prompt-file, or text on stdin.");

  auto model = Model::load(o.model);
  const ModelConfig& c = model->config();
  const Tokenizer& tokenizer = model->tokenizer();
  if (c.n_ctx_train > 0 && o.n_ctx > c.n_ctx_train) {
    std::fprintf(stderr, "lim: warning: --ctx %lld exceeds the %lld tokens the model was trained for\n",
                 static_cast<long long>(o.n_ctx), static_cast<long long>(c.n_ctx_train));
  }

  const std::vector<int32_t> prompt = encode_prompt(tokenizer, text, o.prompt_options);
  if (static_cast<int64_t>(prompt.size()) + 1 > o.n_ctx) {
    throw Error("the prompt has " + std::to_string(prompt.size()) + " tokens but --ctx is " +
                std::to_string(o.n_ctx) + "; raise --ctx above the prompt length or shorten the prompt.");
  }

  ThreadPool pool(o.threads);
  auto policy = make_policy(o.policy, c, o.n_ctx);
  Session session(*model, o.n_ctx, pool, policy.get());

  std::ofstream recall_file;
  if (!o.recall_out.empty()) {
    recall_file.open(o.recall_out);
    if (!recall_file) throw Error("cannot write --recall-out file '" + o.recall_out + "'; check the directory.");
    recall_file << "step,layer,n_kv,recall,attended\n";
  }
  double recall_sum = 0.0;
  int64_t recall_count = 0;
  if (o.recall && policy) {
    session.set_recall_observer([&](const RecallSample& sample) {
      recall_sum += sample.recall;
      ++recall_count;
      if (recall_file.is_open()) {
        recall_file << sample.step << ',' << sample.layer << ',' << sample.n_kv << ',' << sample.recall << ','
                    << sample.attended << '\n';
      }
    });
  }

  std::fprintf(stderr, "lim: %s (%s, %lld layers), %lld prompt tokens, %s attention, %d threads\n",
               c.name.c_str(), c.arch.c_str(), static_cast<long long>(c.n_layer),
               static_cast<long long>(prompt.size()), o.policy.method.c_str(), pool.n_threads());
  GenerateParams params;
  params.max_tokens = o.max_tokens;
  params.sampling = SamplerParams{o.temperature, o.top_k, o.top_p, o.seed};
  const GenerateResult result = generate(session, tokenizer, prompt, params, [](const std::string& piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  });
  print_summary(o, c, result, session, policy.get(), recall_sum, recall_count);
  return 0;
}

std::function<int()> add_generate_command(CLI::App& app) {
  auto options = std::make_shared<GenerateOptions>();
  GenerateOptions& o = *options;
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt; the text streams to stdout");

  cmd->add_option("-m,--model", o.model, "GGUF model file (default: $LIM_MODEL, else the cached SmolLM2-135M-Instruct)");
  auto* prompt = cmd->add_option("-p,--prompt", o.prompt, "Prompt text (default: read stdin)");
  cmd->add_option("-f,--prompt-file", o.prompt_file, "Read the prompt from this file")->excludes(prompt);
  add_chat_options(cmd, o.prompt_options);
  cmd->add_option("-n,--max-tokens", o.max_tokens, "Maximum tokens to generate")->capture_default_str()->check(at_least(1));
  cmd->add_option("-c,--ctx", o.n_ctx, "KV cache size in tokens (prompt + generated)")->capture_default_str()->check(at_least(2));
  add_policy_options(cmd, o.policy);
  cmd->add_option("-t,--threads", o.threads, "Worker threads (default: one per hardware thread)")->check(at_least(0));
  cmd->add_option("--temperature", o.temperature, "Sampling temperature; 0 is greedy")->capture_default_str();
  cmd->add_option("--top-k", o.top_k, "Sample from the k most likely tokens; 0 disables")->capture_default_str();
  cmd->add_option("--top-p", o.top_p, "Sample from the smallest set of tokens whose probability reaches p")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Random seed for sampling")->capture_default_str();
  cmd->add_flag("--recall", o.recall, "Measure attention recall of sparse layers (computes full attention too; slower)");
  cmd->add_option("--recall-out", o.recall_out, "Write per-step, per-layer recall as CSV to this file (implies --recall)");

  return [options]() { return run_generate(*options); };
}

const CommandRegistrar kGenerateCommand("generate", add_generate_command);

}  // namespace
}  // namespace lim::cli
