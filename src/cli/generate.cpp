// `lim generate`: decode one prompt and stream the answer to stdout; statistics go to stderr.
#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common.h"
#include "eval/bench_report.h"
#include "engine/generator.h"
#include "engine/model.h"
#include "formats/hf_config.h"
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
  SessionOptions session;
  int64_t max_tokens = 512;
  int64_t n_ctx = 4096;
  int threads = 0;
  float temperature = 0.6f;
  int64_t top_k = 20;
  float top_p = 0.95f;
  uint64_t seed = 0;
  bool recall = false;
  std::string recall_out;
  bool show_thinking = false;
  std::vector<int32_t> stop_ids;
  // Set by the parser; a sampling option the user did not give takes the checkpoint's default.
  const CLI::Option* temperature_option = nullptr;
  const CLI::Option* top_k_option = nullptr;
  const CLI::Option* top_p_option = nullptr;
};

// Streams generated text, hiding the reasoning between <think> and </think> unless it is shown.
// Reasoning models write "<think> ... </think>" before the answer; the R1 distills' prompt
// already opens the block, so generation may start inside it.
class ThinkingFilter {
 public:
  ThinkingFilter(bool show, bool starts_inside) : show_(show), inside_(starts_inside) {}

  void push(const std::string& piece) {
    pending_ += piece;
    while (!pending_.empty()) {
      const std::string tag = inside_ ? "</think>" : "<think>";
      const size_t at = pending_.find(tag);
      if (at == std::string::npos) {
        // Hold back a possible partial tag at the end; emit the rest.
        const size_t keep = std::min(pending_.size(), tag.size() - 1);
        emit(pending_.substr(0, pending_.size() - keep));
        pending_.erase(0, pending_.size() - keep);
        return;
      }
      emit(pending_.substr(0, at + (show_ ? tag.size() : 0)));
      pending_.erase(0, at + tag.size());
      inside_ = !inside_;
      if (!inside_ && !show_) {
        std::fprintf(stderr, "[reasoning hidden; --show-thinking prints it]\n");
        trim_leading_newlines_ = true;
      }
    }
  }

  void finish() { emit(pending_); pending_.clear(); }

 private:
  void emit(std::string text) {
    if (inside_ && !show_) return;
    if (trim_leading_newlines_) {
      const size_t first = text.find_first_not_of("\n");
      text.erase(0, first == std::string::npos ? text.size() : first);
      if (!text.empty()) trim_leading_newlines_ = false;
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }

  bool show_;
  bool inside_;
  bool trim_leading_newlines_ = false;
  std::string pending_;
};

bool prompt_opens_thinking(const std::string& text) {
  const size_t open = text.rfind("<think>");
  if (open == std::string::npos) return false;
  const size_t close = text.rfind("</think>");
  return close == std::string::npos || close < open;
}

// Applies generation_config.json of a Hugging Face directory: sampling defaults the user did not
// override, and its end-of-sequence ids as extra stop tokens.
void apply_generation_defaults(GenerateOptions& o) {
  if (!std::filesystem::is_directory(o.model)) return;
  const GenerationDefaults defaults = read_generation_config(o.model);
  if (defaults.temperature && o.temperature_option->count() == 0) o.temperature = *defaults.temperature;
  if (defaults.top_k && o.top_k_option->count() == 0) o.top_k = *defaults.top_k;
  if (defaults.top_p && o.top_p_option->count() == 0) o.top_p = *defaults.top_p;
  o.stop_ids = defaults.eos_token_ids;
}

std::string read_prompt(const GenerateOptions& o) {
  if (!o.prompt.empty()) return o.prompt;
  if (!o.prompt_file.empty()) return read_text_file(o.prompt_file, "prompt file");
  std::ostringstream text;
  text << std::cin.rdbuf();
  return text.str();
}

void print_summary(const GenerateOptions& o, const ModelConfig& config, const GenerateResult& r, int64_t thinking_tokens,
                   const Session& session, const AttentionPolicy* policy, double recall_sum, int64_t recall_count) {
  const int64_t n_generated = static_cast<int64_t>(r.tokens.size());
  std::fprintf(stderr, "\n\nprompt tokens: %lld, generated tokens: %lld (stopped: %s)\n",
               static_cast<long long>(r.n_prompt), static_cast<long long>(n_generated), stop_reason_name(r.stop));
  if (thinking_tokens > 0) {
    std::fprintf(stderr, "thinking tokens: %lld, answer tokens: %lld\n", static_cast<long long>(thinking_tokens),
                 static_cast<long long>(n_generated - thinking_tokens));
  }
  std::fprintf(stderr, "prefill: %.1f tokens/s (%.3f s)\n", r.n_prompt / r.prefill_seconds, r.prefill_seconds);
  if (r.n_decode_passes > 0) {
    std::fprintf(stderr, "decode: %.1f tokens/s (%.2f ms/token over %lld steps)\n",
                 r.n_decode_passes / r.decode_seconds, 1000.0 * r.decode_seconds / r.n_decode_passes,
                 static_cast<long long>(r.n_decode_passes));
  }

  const DecodeTimings& t = session.timings();
  if (t.steps > 0 && t.total_s > 0) {
    const double other = t.total_s - t.matmul_s - t.attention_s - t.selection_s - t.recall_s;
    const auto share = [&t](double part) { return 100.0 * part / t.total_s; };
    char recall_part[48] = "";
    if (t.recall_s > 0) std::snprintf(recall_part, sizeof(recall_part), "recall %.1f%%, ", share(t.recall_s));
    std::fprintf(stderr, "decode step: %.2f ms = matmul %.1f%%, attention %.1f%%, selection %.1f%%, %sother %.1f%%\n",
                 1000.0 * t.total_s / static_cast<double>(t.steps), share(t.matmul_s), share(t.attention_s),
                 share(t.selection_s), recall_part, share(other));
  }

  // The peak includes the weights' file pages that were read (they are memory-mapped), the whole
  // KV cache (allocated up front for --ctx tokens) and the activations.
  const double mib = 1024.0 * 1024.0;
  std::fprintf(stderr, "memory: peak RSS %.1f MiB; weights %.1f MiB, KV cache %.1f MiB (%s, %lld tokens)\n",
               static_cast<double>(peak_rss_bytes()) / mib, static_cast<double>(model_weight_bytes(o.model)) / mib,
               static_cast<double>(session.cache().bytes()) / mib, dtype_name(session.cache().type()),
               static_cast<long long>(session.n_ctx()));

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
  apply_generation_defaults(o);
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
  warn_if_oversubscribed(pool.n_threads());
  auto policy = make_policy(o.policy, c, o.n_ctx);
  Session session(*model, o.n_ctx, pool, policy.get(), o.session);

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

  std::fprintf(stderr,
               "lim: %s (%s, %lld layers), %lld prompt tokens, %s attention, %d threads, KV cache %s, %s products\n",
               c.name.c_str(), c.arch.c_str(), static_cast<long long>(c.n_layer),
               static_cast<long long>(prompt.size()), o.policy.method.c_str(), pool.n_threads(),
               dtype_name(o.session.kv_type), matmul_name(o.session.matmul));
  GenerateParams params;
  params.max_tokens = o.max_tokens;
  params.sampling = SamplerParams{o.temperature, o.top_k, o.top_p, o.seed};
  params.stop_ids = o.stop_ids;

  // Generation starts inside the reasoning block when the prompt opened it (R1 distills).
  const bool starts_inside = prompt_opens_thinking(tokenizer.decode(prompt));
  ThinkingFilter filter(o.show_thinking, starts_inside);
  const GenerateResult result =
      generate(session, tokenizer, prompt, params, [&filter](const std::string& piece) { filter.push(piece); });
  filter.finish();
  int64_t thinking_tokens = count_thinking_tokens(tokenizer, result.tokens);
  if (starts_inside && thinking_tokens == 0) thinking_tokens = static_cast<int64_t>(result.tokens.size());
  print_summary(o, c, result, thinking_tokens, session, policy.get(), recall_sum, recall_count);
  return 0;
}

std::function<int()> add_generate_command(CLI::App& app) {
  auto options = std::make_shared<GenerateOptions>();
  GenerateOptions& o = *options;
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt; the text streams to stdout");

  cmd->add_option("-m,--model", o.model, "GGUF file or Hugging Face model directory (default: $LIM_MODEL, else the cached SmolLM2-135M-Instruct)");
  auto* prompt = cmd->add_option("-p,--prompt", o.prompt, "Prompt text (default: read stdin)");
  cmd->add_option("-f,--prompt-file", o.prompt_file, "Read the prompt from this file")->excludes(prompt);
  add_chat_options(cmd, o.prompt_options);
  cmd->add_option("-n,--max-tokens", o.max_tokens, "Maximum tokens to generate")->capture_default_str()->check(at_least(1));
  cmd->add_option("-c,--ctx", o.n_ctx, "KV cache size in tokens (prompt + generated)")->capture_default_str()->check(at_least(2));
  add_policy_options(cmd, o.policy);
  add_session_options(cmd, o.session);
  cmd->add_option("-t,--threads", o.threads, "Worker threads (default: one per hardware thread)")->check(at_least(0));
  o.temperature_option = cmd->add_option("--temperature", o.temperature,
                                         "Sampling temperature; 0 is greedy (default: generation_config.json, else 0.6)");
  o.top_k_option = cmd->add_option("--top-k", o.top_k,
                                   "Sample from the k most likely tokens; 0 disables (default: generation_config.json, else 20)");
  o.top_p_option = cmd->add_option("--top-p", o.top_p,
                                   "Sample from the smallest set of tokens whose probability reaches p (default: generation_config.json, else 0.95)");
  cmd->add_flag("--show-thinking", o.show_thinking, "Print the reasoning between <think> and </think> (hidden by default)");
  cmd->add_flag("--no-think", o.prompt_options.no_think, "Qwen3: render the chat prompt with thinking disabled");
  cmd->add_option("--seed", o.seed, "Random seed for sampling")->capture_default_str();
  cmd->add_flag("--recall", o.recall, "Measure attention recall of sparse layers (computes full attention too; slower)");
  cmd->add_option("--recall-out", o.recall_out, "Write per-step, per-layer recall as CSV to this file (implies --recall)");

  return [options]() { return run_generate(*options); };
}

const CommandRegistrar kGenerateCommand("generate", add_generate_command);

}  // namespace
}  // namespace lim::cli
