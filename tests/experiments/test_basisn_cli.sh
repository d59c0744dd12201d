#!/usr/bin/env bash
# Process-level test of `aimc basisn` (registered in tests/experiments/CMakeLists.txt):
#   mpi  1 process with 2 threads vs `mpirun -n 2` (1 thread each): identical per-chip records, basis,
#        training log and cost tables (h5diff, exact), the file records 2 ranks, and the BasisN model
#        file is written once, next to the results.
# Usage: test_basisn_cli.sh AIMC_BINARY mpi MPIRUN
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

# A small trained model (1 epoch on 1,000 images).
"$aimc" --threads 2 train --model mlp --epochs 1 --train-limit 1000 --out m.h5 > /dev/null 2>&1
cat > c.toml <<TOML
[model]
path = "$tmp/m.h5"
[data]
subset = 100
calibration = 32
[mapping]
readout = "ideal"
[basisn]
length = 16
size = 12
train_images = 200
rounds = 1
coeff_epochs = 1
basis_epochs = 1
qat_epochs = 1
coeff_bits = 4
n_xbar = "1,2,4,100"
[mc]
trials = 6
seed = 4
[sweep]
"rram.sigma_prog" = [0.0, 0.1]
TOML

case "$mode" in
mpi)
  mkdir one two
  (cd one && "$aimc" --threads 2 basisn ../c.toml --out r.h5 --quiet --no-progress)
  (cd two && "$mpirun" -n 2 --oversubscribe "${as_root[@]}" "$aimc" --threads 1 basisn ../c.toml --out r.h5 --quiet --no-progress)
  for g in /variants /layers /training /cost /trial_keys; do
    h5diff one/r.h5 two/r.h5 "$g" "$g" || fail "$g differs between 1 process and 2 MPI ranks"
  done
  [ "$(h5_sum one/r.h5 /variants/basisn/points/p0001/done)" = 6 ] || fail "the 1-process run did not finish its chips"
  h5dump -a /mpi_ranks two/r.h5 | grep -q "(0): 2" || fail "the 2-rank file does not record 2 ranks"
  [ -s one/r.basisn.h5 ] && [ -s two/r.basisn.h5 ] || fail "a BasisN model file is missing"
  [ "$(ls two | grep -c basisn)" = 1 ] || fail "the 2-rank run left other model files: $(ls two)"
  ;;
*)
  fail "unknown mode $mode"
  ;;
esac
echo "ok"
