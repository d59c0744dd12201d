#include "experiments/cli.hpp"

int main(int argc, char** argv) { return aimc::experiments::run_cli(argc, argv); }
