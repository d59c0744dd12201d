#!/usr/bin/env bash
# Process-level tests of `aimc mc` (registered in tests/experiments/CMakeLists.txt):
#   resume  kill -9 a campaign mid-run, --resume it, and compare every per-trial and summary dataset
#           with an uninterrupted run (h5diff: exact equality);
#   mpi     1 rank vs `mpirun -n 2` (and 1 vs 2 threads): identical datasets, and the file records
#           that 2 ranks ran.
# Usage: test_mc_cli.sh AIMC_BINARY resume [SUBSET]   (test images per trial, default 2000; the
#                                                  sanitizer build passes fewer: same logic, ~4x less work)
#        test_mc_cli.sh AIMC_BINARY mpi [MPIRUN]
set -euo pipefail
aimc=$1
mode=$2
mpirun=${3:-mpirun}
subset=${3:-2000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

source "$(dirname "$0")/cli_test_lib.sh"
done_trials() { h5_sum "$1" /summary/trials; }  # completed trials of a results file
same_results() {  # exact equality of the per-trial and summary datasets (and their attributes)
  h5diff "$1" "$2" /points /points || fail "/points of $1 and $2 differ"
  h5diff "$1" "$2" /summary /summary || fail "/summary of $1 and $2 differ"
}

# A small trained model (1 epoch on 2,000 images: ~80% accuracy, so variation matters).
"$aimc" --threads 2 train --model mlp --epochs 1 --train-limit 2000 --out m.h5 > /dev/null 2>&1

case "$mode" in
resume)
  cat > c.toml <<TOML
[model]
path = "m.h5"
[data]
subset = $subset
[rram]
sigma_read = 0.01
[mc]
trials = 200
seed = 9
[sweep]
"rram.sigma_prog" = [0.02, 0.08]
TOML
  "$aimc" --threads 2 mc c.toml --out full.h5 --quiet --no-progress
  [ "$(done_trials full.h5)" = 400 ] || fail "uninterrupted run did not complete 400 trials"
  "$aimc" --threads 1 mc c.toml --out part.h5 --quiet --no-progress &
  pid=$!
  kill_between_rewrites "$pid" part.h5 done_trials
  n=$(done_trials part.h5)
  j=0
  [ -f part.h5.journal ] && j=$(grep -c " end$" part.h5.journal || true)
  echo "killed with $n trials in the file and $j more in its journal"
  [ "$j" -gt 0 ] || fail "nothing in the journal: the test would not exercise its replay"
  { [ "$n" -gt 0 ] && [ "$n" -lt 400 ]; } || fail "killed file holds $n trials, expected 0 < n < 400"
  "$aimc" --threads 2 mc c.toml --out part.h5 --quiet --no-progress && fail "an existing file was reused without --resume"
  "$aimc" --threads 2 mc c.toml --out part.h5 --resume --quiet --no-progress
  [ "$(done_trials part.h5)" = 400 ] || fail "resumed run did not complete 400 trials"
  same_results full.h5 part.h5
  ;;
mpi)
  cat > c.toml <<TOML
[model]
path = "m.h5"
[data]
subset = 300
[rram]
sigma_read = 0.01
[mc]
trials = 7
round = 3
seed = 4
[sweep]
"rram.sigma_prog" = [0.0, 0.05, 0.1]
TOML
  "$aimc" --threads 1 mc c.toml --out one.h5 --quiet --no-progress
  "$aimc" --threads 2 mc c.toml --out threads.h5 --quiet --no-progress
  as_root=()
  [ "$(id -u)" = 0 ] && as_root=(--allow-run-as-root)
  "$mpirun" -n 2 --oversubscribe "${as_root[@]}" "$aimc" --threads 1 mc c.toml --out two.h5 --quiet --no-progress
  h5dump -a /mpi_ranks two.h5 | grep -q "(0): 2" || fail "two.h5 was not written by a 2-rank run"
  [ "$(done_trials two.h5)" = 21 ] || fail "2-rank run did not complete 21 trials"
  same_results one.h5 threads.h5
  same_results one.h5 two.h5
  ;;
*) fail "unknown mode $mode" ;;
esac
echo "ok: $mode"
