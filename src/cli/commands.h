// Subcommands of the `lim` command-line tool and the options they share.
//
// Each subcommand lives in its own file and registers itself with a static CommandRegistrar, so
// adding one needs no change to main.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/policy_factory.h"
#include "engine/session.h"
#include "formats/tokenizer.h"

namespace lim::cli {

// Adds a subcommand to app and returns the function that runs it after parsing.
using CommandFactory = std::function<std::function<int()>(CLI::App& app)>;

struct CommandRegistrar {
  CommandRegistrar(const char* name, CommandFactory factory);
};

struct RegisteredCommand {
  std::string name;
  CommandFactory factory;
};
std::vector<RegisteredCommand>& registered_commands();

// The model used when --model is absent: $LIM_MODEL, else the file that
// scripts/fetch-model.sh caches. Throws lim::Error with the fix when neither exists.
std::string default_model_path();

// Accepts integers >= minimum, with a message that names the value.
CLI::Validator at_least(int64_t minimum);

// Adds --attention, --budget, --recency-ratio, --sinks, --selection-layers, --dense-layers,
// --first-sparse-layer, --page-size, --randomized-topk and --select-every-layer.
void add_policy_options(CLI::App* cmd, PolicyOptions& options);

// "int8" or "exact", as --matmul spells them.
const char* matmul_name(MatmulPrecision precision);

// Prints a warning to stderr when n_threads exceeds the hardware threads.
void warn_if_oversubscribed(int n_threads);

// Returns the whole file as text. Throws lim::Error naming `what` and the path when the file is
// missing, unreadable or a directory.
std::string read_text_file(const std::string& path, const std::string& what);

// Adds --kv-type (F32, F16 or BF16; any case) and --matmul (exact or int8).
void add_session_options(CLI::App* cmd, SessionOptions& options);

struct PromptOptions {
  bool chat = false;
  std::string system;     // system message for chat; empty: the template's default
  bool no_think = false;  // Qwen3: render the prompt with enable_thinking = false
};
void add_chat_options(CLI::App* cmd, PromptOptions& options);

// Tokenizes a prompt. With options.chat it is rendered as a user message by the model family's
// chat template (special tokens parsed; the template writes BOS where the family has one);
// otherwise it is plain text, after BOS when the model's metadata requests it.
std::vector<int32_t> encode_prompt(const Tokenizer& tokenizer, const std::string& text, const PromptOptions& options);

}  // namespace lim::cli
