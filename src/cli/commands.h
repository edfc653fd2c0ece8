// Subcommands of the `lim` command-line tool.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace lim::cli {

// Registers `lim generate` on app; the returned function runs it after parsing.
std::function<int()> add_generate_command(CLI::App& app);

// The model used when --model is absent: $LIM_MODEL, else the file that
// scripts/fetch-model.sh caches.
std::string default_model_path();

}  // namespace lim::cli
