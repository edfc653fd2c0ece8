// lim: decode reasoning models with dense or sparse attention.
#include <cstdio>
#include <exception>
#include <new>

#include "cli/commands.h"
#include "common.h"

int main(int argc, char** argv) {
  CLI::App app{"lim: LLM decoding with training-free sparse attention (LessIsMore and baselines)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "lim 0.1.0");

  std::vector<std::pair<std::string, std::function<int()>>> runners;
  for (const auto& command : lim::cli::registered_commands()) {
    runners.emplace_back(command.name, command.factory(app));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    for (const auto& [name, run] : runners) {
      if (app.got_subcommand(name)) return run();
    }
  } catch (const lim::Error& e) {
    std::fprintf(stderr, "lim: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "lim: error: out of memory; lower --ctx or use a smaller model.\n");
    return 1;
  }
  return 0;
}
