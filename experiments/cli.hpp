#pragma once
namespace aimc::experiments {
/// Parses the command line and dispatches to a campaign. Returns the process exit code.
int run_cli(int argc, char** argv);
}
