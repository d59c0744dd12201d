#!/usr/bin/env bash
# Fuzzes every parser that reads user files (tests/fuzz/README.md) under AddressSanitizer + UBSan:
# configures and builds aimc_fuzz and the aimc CLI in a sanitizer build, then runs every target for
# SECONDS (or MAX_INPUTS inputs, whichever comes first). Prints one summary line per target; exits
# non-zero on any finding (inputs and reports are kept in BUILD_DIR/fuzz-findings).
#
# Usage: tests/fuzz/run_fuzz.sh [SECONDS_PER_TARGET [MAX_INPUTS_PER_TARGET [BUILD_DIR]]]
#   defaults 45 s, 100000 inputs, build-fuzz. CI passes 20 s (AIMC_FUZZ_TIMEOUT=5) and build-asan, which it has configured with the
#   same flags, so only aimc_fuzz is compiled. AIMC_FUZZ_SEED (default 1) selects the input streams;
#   AIMC_FUZZ_TARGETS (default all) a subset; AIMC_FUZZ_CMAKE_ARGS adds configure flags (e.g. ccache);
#   AIMC_FUZZ_TIMEOUT (default 10) the seconds one input may run before it counts as a hang (inputs
#   take 0.01-0.2 s here under ASan; a hang costs this much of the target's budget).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-45}
max_inputs=${2:-100000}
build=${3:-build-fuzz}
seed=${AIMC_FUZZ_SEED:-1}

# shellcheck disable=SC2086  # AIMC_FUZZ_CMAKE_ARGS is a list of flags
cmake -S . -B "$build" -DAIMC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
  -DAIMC_WITH_MPI=OFF ${AIMC_FUZZ_CMAKE_ARGS:-} > /dev/null
cmake --build "$build" -j2 --target aimc_fuzz aimc_cli

rm -rf "$build/fuzz-work" "$build/fuzz-findings"
# shellcheck disable=SC2086  # the target list is words
"$build/tests/fuzz/aimc_fuzz" ${AIMC_FUZZ_TARGETS:-all} --seconds "$seconds" --max-inputs "$max_inputs" \
  --seed "$seed" --timeout "${AIMC_FUZZ_TIMEOUT:-10}" --work "$build/fuzz-work" --findings "$build/fuzz-findings" --aimc "$build/aimc"
