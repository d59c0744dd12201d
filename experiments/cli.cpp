#include "experiments/cli.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>

#include "core/error.hpp"

namespace aimc::experiments {

int run_cli(int argc, char** argv) {
  CLI::App app{"aimc: analog in-memory computing noise and reliability studies"};
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}

}  // namespace aimc::experiments
