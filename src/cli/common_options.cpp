// Options and helpers shared by several subcommands.
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <cctype>
#include <cstdio>
#include <thread>

#include "cli/commands.h"
#include "common.h"
#include "formats/chat_template.h"

namespace lim::cli {

CommandRegistrar::CommandRegistrar(const char* name, CommandFactory factory) {
  registered_commands().push_back({name, std::move(factory)});
}

std::vector<RegisteredCommand>& registered_commands() {
  static std::vector<RegisteredCommand> commands;
  return commands;
}

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

const char* matmul_name(MatmulPrecision precision) {
  return precision == MatmulPrecision::Exact ? "exact" : "int8";
}

void warn_if_oversubscribed(int n_threads) {
  const unsigned hardware = std::thread::hardware_concurrency();
  if (hardware > 0 && static_cast<unsigned>(n_threads) > hardware) {
    std::fprintf(stderr,
                 "lim: warning: %d worker threads on %u hardware threads; every parallel loop then waits for "
                 "descheduled threads, which makes decoding many times slower. Use -t %u or fewer.\n",
                 n_threads, hardware, hardware);
  }
}

std::string read_text_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw Error(what + " '" + path + "' is a directory; give a text file.");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + what + " '" + path + "'; check the path.");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error("reading " + what + " '" + path + "' failed; check that it is a readable file.");
  return text;
}

CLI::Validator at_least(int64_t minimum) {
  return CLI::Validator(
      [minimum](std::string& text) -> std::string {
        int64_t value = 0;
        if (!CLI::detail::lexical_cast(text, value) || value < minimum) {
          return "'" + text + "' is invalid; give an integer of at least " + std::to_string(minimum);
        }
        return {};
      },
      ">=" + std::to_string(minimum));
}

void add_session_options(CLI::App* cmd, SessionOptions& o) {
  // Accepts the type names in any case and hands CLI11 the enum's value.
  const CLI::Validator kv_type(
      [](std::string& text) -> std::string {
        std::string upper = text;
        for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        for (DType type : {DType::F32, DType::F16, DType::BF16}) {
          if (upper == dtype_name(type)) {
            text = std::to_string(static_cast<uint32_t>(type));
            return {};
          }
        }
        return "'" + text + "' is not a KV cache type; use F32, F16 or BF16";
      },
      "F32|F16|BF16");
  cmd->add_option("--kv-type", o.kv_type,
                  "KV cache element type: F32, F16 or BF16 (F16 and BF16 halve the cache's memory and reads)")
      ->transform(kv_type)
      ->default_str(dtype_name(o.kv_type));

  const CLI::Validator precision(
      [](std::string& text) -> std::string {
        std::string lower = text;
        for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (lower == "exact" || lower == "int8") {
          text = std::to_string(static_cast<int>(lower == "exact" ? MatmulPrecision::Exact
                                                                  : MatmulPrecision::Int8Activations));
          return {};
        }
        return "'" + text + "' is not a product path; use int8 or exact";
      },
      "int8|exact");
  cmd->add_option("--matmul", o.matmul,
                  "Decode weight products: int8 quantizes activations to 8 bits for quantized weights "
                  "(faster), exact dequantizes weights to float")
      ->transform(precision)
      ->default_str(matmul_name(o.matmul));
}

void add_policy_options(CLI::App* cmd, PolicyOptions& o) {
  std::string names;
  for (const auto& name : policy_names()) names += (names.empty() ? "" : ", ") + name;
  cmd->add_option("--attention", o.method, "Attention method: " + names)->capture_default_str();
  cmd->add_option("--budget", o.budget, "Tokens attended per sparse layer and decode step (K)")
      ->capture_default_str()
      ->check(at_least(1));
  cmd->add_option("--recency-ratio", o.recency_ratio, "LessIsMore: share of the budget for the most recent tokens")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--sinks", o.sinks, "Leading tokens always attended, taken from the recency share")
      ->capture_default_str()
      ->check(at_least(0));
  cmd->add_option("--selection-layers", o.selection_layers,
                  "Layers that attend densely and choose the token set, comma separated (default: 2 and n_layer/3)")
      ->delimiter(',');
  cmd->add_option("--dense-layers", o.dense_layers, "LessIsMore, TidalDecode: layers that always attend densely, comma separated")
      ->delimiter(',')
      ->capture_default_str();

  cmd->add_option("--first-sparse-layer", o.first_sparse_layer,
                  "Quest, StreamingLLM, oracle: first layer that attends sparsely; layers below attend densely")
      ->capture_default_str()
      ->check(at_least(0));
  cmd->add_option("--page-size", o.page_size, "Quest: tokens per page of key min/max metadata")
      ->capture_default_str()
      ->check(at_least(1));

  cmd->add_flag("--randomized-topk", o.randomized_topk,
                "LessIsMore ablation: per GQA group one random query head's top-K serves the group (seeded by --seed)");
  cmd->add_flag("--select-every-layer", o.select_every_layer,
                "LessIsMore ablation: every sparse layer selects from its own full logits, not only the selection layers");

  // The policy's random draws follow the command's own --seed, so one seed fixes a whole run.
  cmd->parse_complete_callback([cmd, &o]() {
    const CLI::Option* seed = cmd->get_option_no_throw("--seed");
    if (seed && seed->count() > 0) o.seed = seed->as<uint64_t>();
  });
}

void add_chat_options(CLI::App* cmd, PromptOptions& o) {
  cmd->add_flag("--chat", o.chat, "Wrap the prompt as a user message in the model's chat template");
  cmd->add_option("--system", o.system, "System message for --chat (default: the template's own, if any)");
}

std::vector<int32_t> encode_prompt(const Tokenizer& tokenizer, const std::string& text, const PromptOptions& o) {
  if (o.chat) {
    std::vector<ChatMessage> messages;
    if (!o.system.empty()) messages.push_back({"system", o.system});
    messages.push_back({"user", text});
    const std::string rendered =
        apply_chat_template(tokenizer, messages, /*add_generation_prompt=*/true, /*enable_thinking=*/!o.no_think);
    return tokenizer.encode(rendered, /*parse_special=*/true);
  }
  std::vector<int32_t> ids;
  if (tokenizer.add_bos() && tokenizer.bos_id() >= 0) ids.push_back(tokenizer.bos_id());
  const std::vector<int32_t> encoded = tokenizer.encode(text, /*parse_special=*/false);
  ids.insert(ids.end(), encoded.begin(), encoded.end());
  return ids;
}

}  // namespace lim::cli
