#!/usr/bin/env bash
# Process-level test of `aimc denoise` (registered in tests/experiments/CMakeLists.txt):
#   mpi  1 process with 2 threads vs `mpirun -n 2` (1 thread each): identical noise and analog results
#        (h5diff, exact), the file records 2 ranks, and the block model files exist once.
# Usage: test_denoise_cli.sh AIMC_BINARY mpi MPIRUN
set -euo pipefail
aimc=$1
mode=$2
mpirun=${3:-mpirun}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
source "$(dirname "$0")/cli_test_lib.sh"
as_root=()
[ "$(id -u)" = 0 ] && as_root=(--allow-run-as-root)

# A small trained model (1 epoch on 2,000 images).
"$aimc" --threads 2 train --model mlp --epochs 1 --train-limit 2000 --out m.h5 > /dev/null 2>&1
cat > c.toml <<TOML
[model]
path = "$tmp/m.h5"
[data]
subset = 200
calibration = 64
[mapping]
readout = "ideal"
[noise]
levels = "0.05"
[denoise]
reduction = 16
budgets = "0.02, 0.05"
epochs = 1
train_images = 300
rank_images = 200
random_draws = 1
[mc]
trials = 6
seed = 4
[sweep]
"rram.sigma_prog" = [0.05]
TOML

case "$mode" in
mpi)
  # The same --out in two directories: the files record their block models' paths.
  mkdir one two
  (cd one && "$aimc" --threads 2 denoise ../c.toml --out r.h5 --quiet --no-progress)
  (cd two && "$mpirun" -n 2 --oversubscribe "${as_root[@]}" "$aimc" --threads 1 denoise ../c.toml --out r.h5 --quiet --no-progress)
  for g in /noise /analog /sites /activation_ranges; do
    h5diff one/r.h5 two/r.h5 "$g" "$g" || fail "$g differs between 1 process and 2 MPI ranks"
  done
  h5dump -a /mpi_ranks two/r.h5 | grep -q "(0): 2" || fail "the 2-rank file does not record 2 ranks"
  n1=$(ls one/r.blocks | wc -l)
  n2=$(ls two/r.blocks | wc -l)
  { [ "$n1" -gt 0 ] && [ "$n1" = "$n2" ]; } || fail "block model files: $n1 vs $n2"
  ;;
*)
  fail "unknown mode $mode"
  ;;
esac
echo "ok"
