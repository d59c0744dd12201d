#!/usr/bin/env bash
# Process-level tests of `aimc hardnn` (registered in tests/experiments/CMakeLists.txt):
#   resume  SIGKILL a campaign while its journal holds batches its file lacks, --resume it, and compare
#           every result dataset with an uninterrupted run (h5diff: exact equality); the optional third
#           argument is the number of injections per fmap (default 7000: ~5 s on one core, Release);
#   mpi     1 rank vs 2 threads vs `mpirun -n 2`: identical datasets, and the file records 2 ranks;
#   mpikill kill -9 every process of a `mpirun -n 2` campaign while both ranks' journals hold batches
#           (before, a 2-rank run journaled nothing and lost the whole phase), then --resume with 1 and
#           with 2 ranks: each does exactly the batches that were lost and equals an uninterrupted run.
# Usage: test_hardnn_cli.sh AIMC_BINARY resume [INJECTIONS] | test_hardnn_cli.sh AIMC_BINARY mpi|mpikill [MPIRUN]
set -euo pipefail
aimc=$1
mode=$2
mpirun=${3:-mpirun}
injections=${3:-7000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

source "$(dirname "$0")/cli_test_lib.sh"
done_jobs() {  # completed campaign + verification batches in a results file
  echo $(($(h5_sum "$1" /jobs/campaign/done) + $(h5_sum "$1" /jobs/verify/done)))
}
same_results() {  # exact equality of every result group (timings and run metadata excluded)
  for g in /fmaps /heuristics /protection /verification /jobs /layers; do
    h5diff "$1" "$2" "$g" "$g" || fail "$g of $1 and $2 differ"
  done
}

# A small trained model (1 epoch on 2,000 images).
"$aimc" --threads 2 train --model mlp --epochs 1 --train-limit 2000 --out m.h5 > /dev/null 2>&1

py=$(bash "$(dirname "$0")/../../scripts/python.sh")
done_jobs_py="$(dirname "$0")/done_jobs.py"
as_root=()
[ "$(id -u)" = 0 ] && as_root=(--allow-run-as-root)

case "$mode" in
resume)
  cat > c.toml <<TOML
[model]
path = "m.h5"
[data]
subset = 500
[hardnn]
error_model = "random_value"
margin = 0.01
max_injections = $injections
batch = 64
seed = 5
verify_injections = 20000
TOML
  # 394 fmaps x 7000 injections (2.8 M, ~5 s on one core) in 43,734 batches of 64 (Release).
  "$aimc" --threads 2 hardnn c.toml --out full.h5 --quiet --no-progress
  total=$(done_jobs full.h5)
  "$aimc" --threads 1 hardnn c.toml --out part.h5 --quiet --no-progress &
  pid=$!
  kill_between_rewrites "$pid" part.h5 done_jobs
  n=$(done_jobs part.h5)
  j=$(grep -c " end$" part.h5.journal || true)
  echo "killed with $n of $total batches in the file and $j more in its journal"
  [ "$j" -gt 0 ] || fail "nothing in the journal: the test would not exercise its replay"
  { [ "$n" -gt 0 ] && [ "$n" -lt "$total" ]; } || fail "killed file holds $n batches, expected 0 < n < $total"
  "$aimc" --threads 2 hardnn c.toml --out part.h5 --quiet --no-progress && fail "an existing file was reused without --resume"
  "$aimc" --threads 2 hardnn c.toml --out part.h5 --resume --quiet --no-progress
  [ "$(done_jobs part.h5)" = "$total" ] || fail "resumed run did not complete $total batches"
  h5dump -a /resumed part.h5 | grep -q "(0): 1" || fail "the resumed file does not record the resume"
  [ ! -e part.h5.journal ] || fail "the journal was not removed at the end"
  same_results full.h5 part.h5
  ;;
mpi)
  cat > c.toml <<TOML
[model]
path = "m.h5"
[data]
subset = 200
[hardnn]
margin = 0.1
batch = 32
seed = 2
verify_injections = 500
TOML
  "$aimc" --threads 1 hardnn c.toml --out one.h5 --quiet --no-progress
  "$aimc" --threads 2 hardnn c.toml --out threads.h5 --quiet --no-progress
  "$mpirun" -n 2 --oversubscribe "${as_root[@]}" "$aimc" --threads 1 hardnn c.toml --out two.h5 --quiet --no-progress
  h5dump -a /mpi_ranks two.h5 | grep -q "(0): 2" || fail "two.h5 was not written by a 2-rank run"
  same_results one.h5 threads.h5
  same_results one.h5 two.h5
  ;;
mpikill)
  out=mpikill-$$.h5  # unique: the ranks are found by their command line
  cat > c.toml <<TOML
[model]
path = "$tmp/m.h5"  # absolute: the resumed runs below start in subdirectories
[data]
subset = 500
[hardnn]
error_model = "random_value"
margin = 0.01
max_injections = 3000
batch = 64
seed = 5
verify_injections = 20000
TOML
  "$aimc" --threads 2 hardnn c.toml --out full.h5 --quiet --no-progress
  total=$(done_jobs full.h5)
  "$mpirun" -n 2 --oversubscribe "${as_root[@]}" "$aimc" --threads 1 hardnn c.toml --out "$out" --quiet --no-progress &
  kill_mpi_run $! "$out"
  read -r in_file in_journals_only kept < <("$py" "$done_jobs_py" hardnn "$out")
  echo "killed: $in_file batches in the file, $in_journals_only more in the journals of 2 ranks ($kept kept of $total)"
  [ "$in_journals_only" -gt 0 ] || fail "the journals held nothing the file lacks: the test would not exercise them"
  for ranks in 1 2; do
    resume_in_copy "$ranks" hardnn "$out"
    redone=$(($(progress_total "r$ranks/err.txt" "hardnn campaign") + $(progress_total "r$ranks/err.txt" "hardnn verification")))
    echo "resumed with $ranks rank(s): $redone batches run"
    [ "$redone" = $((total - kept)) ] || fail "resume with $ranks rank(s) ran $redone batches, expected $((total - kept)): finished batches were lost"
    [ -z "$(ls "r$ranks/$out".journal* 2> /dev/null)" ] || fail "journals left after the resumed run with $ranks rank(s)"
    same_results full.h5 "r$ranks/$out"
  done
  ;;
*) fail "unknown mode $mode" ;;
esac
echo "ok: $mode"
