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
#include "engine/policy_lessismore.h"
#include "engine/session.h"

namespace lim::cli {

namespace {

struct GenerateOptions {
  std::string model;
  std::string prompt;
  std::string prompt_file;
  bool chat = false;
  std::string system;
  int64_t max_tokens = 512;
  int64_t n_ctx = 4096;
  std::string attention = "dense";
  int64_t budget = 2048;
  double recency_ratio = 0.25;
  int64_t sinks = 4;
  std::vector<int64_t> selection_layers;
  std::vector<int64_t> dense_layers = {0, 1};
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

std::unique_ptr<AttentionPolicy> make_policy(const GenerateOptions& o, const ModelConfig& c, int64_t n_ctx) {
  if (o.attention == "dense") return nullptr;
  LessIsMoreParams params;
  params.budget = o.budget;
  params.recency_ratio = o.recency_ratio;
  params.sinks = o.sinks;
  params.dense_layers = o.dense_layers;
  params.selection_layers =
      o.selection_layers.empty() ? default_selection_layers(c.arch, c.n_layer, c.n_embd) : o.selection_layers;
  const PolicyDims dims{c.n_layer, c.n_head, c.n_kv_head, n_ctx};
  return std::make_unique<LessIsMorePolicy>(params, dims);
}

std::string layer_list(const std::vector<int64_t>& layers) {
  std::string out;
  for (int64_t il : layers) out += (out.empty() ? "" : ",") + std::to_string(il);
  return out;
}

void print_summary(const GenerateOptions& o, const GenerateResult& r, const Session& session,
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
  const auto* lim_policy = dynamic_cast<const LessIsMorePolicy*>(policy);
  if (lim_policy) {
    const BudgetSplit split = split_budget(o.budget, o.recency_ratio, o.sinks);
    std::fprintf(stderr, "attention: lessismore, budget %lld = %lld sinks + %lld top + %lld recent, selection layers %s\n",
                 static_cast<long long>(o.budget), static_cast<long long>(split.sinks),
                 static_cast<long long>(split.top), static_cast<long long>(split.recent),
                 layer_list(lim_policy->params().selection_layers).c_str());
  }
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
                   static_cast<long long>(o.budget));
    }
  }
}

int run_generate(GenerateOptions& o) {
  if (o.model.empty()) o.model = default_model_path();
  if (!o.recall_out.empty()) o.recall = true;
  if (o.attention != "dense" && o.attention != "lessismore") {
    throw Error("--attention '" + o.attention + "' is not supported; use dense or lessismore.");
  }
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

  std::string rendered = text;
  if (o.chat) {
    std::vector<ChatMessage> messages;
    if (!o.system.empty()) messages.push_back({"system", o.system});
    messages.push_back({"user", text});
    rendered = format_chatml(messages, tokenizer.chat_template());
  }
  std::vector<int32_t> prompt;
  if (tokenizer.add_bos() && tokenizer.bos_id() >= 0) prompt.push_back(tokenizer.bos_id());
  const std::vector<int32_t> encoded = tokenizer.encode(rendered, /*parse_special=*/o.chat);
  prompt.insert(prompt.end(), encoded.begin(), encoded.end());
  if (static_cast<int64_t>(prompt.size()) + 1 > o.n_ctx) {
    throw Error("the prompt has " + std::to_string(prompt.size()) + " tokens but --ctx is " +
                std::to_string(o.n_ctx) + "; raise --ctx above the prompt length or shorten the prompt.");
  }

  ThreadPool pool(o.threads);
  auto policy = make_policy(o, c, o.n_ctx);
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
               static_cast<long long>(prompt.size()), o.attention.c_str(), pool.n_threads());
  GenerateParams params;
  params.max_tokens = o.max_tokens;
  params.sampling = SamplerParams{o.temperature, o.top_k, o.top_p, o.seed};
  const GenerateResult result = generate(session, tokenizer, prompt, params, [](const std::string& piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  });
  print_summary(o, result, session, policy.get(), recall_sum, recall_count);
  return 0;
}

}  // namespace

std::string default_model_path() {
  if (const char* env = std::getenv("LIM_MODEL"); env && *env) return env;
  std::string cache;
  if (const char* dir = std::getenv("LIM_CACHE_DIR"); dir && *dir) {
    cache = dir;
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    cache = std::string(home) + "/.cache/lessismore";
  } else {
    cache = ".cache/lessismore";
  }
  const std::string path = cache + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::ifstream(path)) {
    throw Error("no --model given and the default model " + path +
                " is missing; run scripts/fetch-model.sh to download it, or pass --model FILE.gguf.");
  }
  return path;
}

std::function<int()> add_generate_command(CLI::App& app) {
  auto options = std::make_shared<GenerateOptions>();
  GenerateOptions& o = *options;
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a prompt; the text streams to stdout");

  cmd->add_option("-m,--model", o.model, "GGUF model file (default: $LIM_MODEL, else the cached SmolLM2-135M-Instruct)");
  auto* prompt = cmd->add_option("-p,--prompt", o.prompt, "Prompt text (default: read stdin)");
  cmd->add_option("-f,--prompt-file", o.prompt_file, "Read the prompt from this file")->excludes(prompt);
  cmd->add_flag("--chat", o.chat, "Wrap the prompt as a user message in the model's ChatML chat format");
  cmd->add_option("--system", o.system, "System message for --chat (default: the template's own, if any)");
  cmd->add_option("-n,--max-tokens", o.max_tokens, "Maximum tokens to generate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("-c,--ctx", o.n_ctx, "KV cache size in tokens (prompt + generated)")->capture_default_str();
  cmd->add_option("--attention", o.attention, "Attention method: dense or lessismore")->capture_default_str();
  cmd->add_option("--budget", o.budget, "LessIsMore: tokens attended per sparse layer and step (K)")->capture_default_str();
  cmd->add_option("--recency-ratio", o.recency_ratio, "LessIsMore: share of the budget for the most recent tokens")->capture_default_str();
  cmd->add_option("--sinks", o.sinks, "LessIsMore: leading tokens always attended, taken from the recency share")->capture_default_str();
  cmd->add_option("--selection-layers", o.selection_layers,
                  "LessIsMore: layers that attend densely and choose the token set, comma separated (default: 2 and n_layer/3)")
      ->delimiter(',');
  cmd->add_option("--dense-layers", o.dense_layers, "LessIsMore: layers that always attend densely, comma separated")
      ->delimiter(',')->capture_default_str();
  cmd->add_option("-t,--threads", o.threads, "Worker threads (default: one per hardware thread)");
  cmd->add_option("--temperature", o.temperature, "Sampling temperature; 0 is greedy")->capture_default_str();
  cmd->add_option("--top-k", o.top_k, "Sample from the k most likely tokens; 0 disables")->capture_default_str();
  cmd->add_option("--top-p", o.top_p, "Sample from the smallest set of tokens whose probability reaches p")->capture_default_str();
  cmd->add_option("--seed", o.seed, "Random seed for sampling")->capture_default_str();
  cmd->add_flag("--recall", o.recall, "Measure attention recall of sparse layers (computes full attention too; slower)");
  cmd->add_option("--recall-out", o.recall_out, "Write per-step, per-layer recall as CSV to this file (implies --recall)");

  return [options]() { return run_generate(*options); };
}

}  // namespace lim::cli
