#!/usr/bin/env bash
# Process-level test of `aimc snn` (registered in tests/experiments/CMakeLists.txt) on a tiny spiking MLP
# (aimc train --model snn_mlp, 1 epoch on 1,000 images), both of its dense layers analog:
#   run  the five variants and the cost table are written (every chip done, digital accuracies, activity
#        in [0, 1], the ADC design costs more energy and time than the sense-amplifier one); 1 and 2
#        threads give identical records; --resume of a finished file changes no record; the fine-tuned
#        models are reused on --resume; mapping.readout in the config is an error that names it.
#   mpi  1 process with 2 threads vs `mpirun -n 2` (1 thread each): identical records, training log and
#        cost tables (h5diff, exact), and each fine-tuned model file is written once.
# Usage: test_snn_cli.sh AIMC_BINARY run|mpi [MPIRUN]
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

"$aimc" --threads 2 train --model snn_mlp --epochs 1 --train-limit 1000 --out m.h5 > /dev/null 2>&1
cat > c.toml <<TOML
[model]
path = "$tmp/m.h5"
[data]
subset = 60
calibration = 32
[mapping]
analog_layers = "all"
[adc]
bits = 4
[sense_amp]
sigma_sa = 0.01
[snn]
hwa_epochs = 2
stage_epochs = 1
train_images = 200
[mc]
trials = 4
seed = 3
[sweep]
"mapping.tile_rows" = [64, 512]
TOML

case "$mode" in
run)
  mkdir a b
  (cd a && "$aimc" --threads 1 snn ../c.toml --out r.h5 > out.txt 2> err.txt)
  (cd b && "$aimc" --threads 2 snn ../c.toml --out r.h5 --quiet --no-progress)
  for v in ideal adc sense_amp hwa progressive; do
    for p in p0000 p0001; do
      [ "$(h5_sum a/r.h5 /variants/$v/points/$p/done)" = 4 ] || fail "variant $v point $p: not every chip done"
    done
    h5diff a/r.h5 b/r.h5 /variants/$v /variants/$v || fail "variant $v differs between 1 and 2 threads"
  done
  h5diff a/r.h5 b/r.h5 /cost /cost || fail "the cost tables differ between 1 and 2 threads"
  for f in r.hwa.r64.h5 r.hwa.r512.h5 r.progressive.r64.h5 r.progressive.r512.h5; do
    [ -s "a/$f" ] || fail "fine-tuned model $f is missing"
  done
  grep -q "progressive r64 stage 2/2" a/err.txt || fail "no progress line of the second progressive stage"
  grep -q "E ratio" a/out.txt || fail "no energy/latency table in the summary"
  py=$(bash "$(dirname "$0")/../../scripts/python.sh")
  "$py" - a/r.h5 <<'PY' || fail "results check failed"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f.attrs["time_steps"] == 4
act = f["layers/input_activity"][()]
assert act.shape == (2,) and np.all((act >= 0) & (act <= 1)), act
for v in ["ideal", "adc", "sense_amp", "hwa", "progressive"]:
    d = f["variants/%s/digital_accuracy" % v][()]
    assert d.shape == (2,) and np.all((d > 0) & (d <= 1)), (v, d)
    acc = f["variants/%s/summary/accuracy_mean" % v][()]
    assert np.all((acc >= 0) & (acc <= 1)), (v, acc)
assert list(f["cost/tile_rows"][()]) == [64, 512]
assert np.all(f["cost/energy_ratio"][()] > 1) and np.all(f["cost/latency_ratio"][()] > 1)
assert np.all(f["cost/adc/energy"][()] > 0) and np.all(f["cost/sense_amp/energy"][()] > 0)
PY
  cp a/r.h5 before.h5
  (cd a && "$aimc" --threads 2 snn ../c.toml --out r.h5 --resume --quiet 2> resume.txt)
  grep -q "reusing r.hwa.r64.h5" a/resume.txt || fail "--resume did not reuse the fine-tuned model"
  for v in ideal adc sense_amp hwa progressive; do
    h5diff before.h5 a/r.h5 /variants/$v /variants/$v || fail "--resume of a finished file changed variant $v"
  done
  sed 's/^analog_layers = "all"/analog_layers = "all"\nreadout = "adc"/' c.toml > bad.toml
  set +e
  msg=$("$aimc" snn bad.toml --out bad.h5 2>&1)
  rc=$?
  set -e
  [ "$rc" = 1 ] || fail "mapping.readout: exit status $rc"
  echo "$msg" | grep -q "aimc: error: .*bad.toml.*mapping.readout" || fail "mapping.readout error: $msg"
  [ ! -e bad.h5 ] || fail "a rejected config wrote a results file"
  ;;
mpi)
  mkdir one two
  (cd one && "$aimc" --threads 2 snn ../c.toml --out r.h5 --quiet --no-progress)
  (cd two && "$mpirun" -n 2 --oversubscribe "${as_root[@]}" "$aimc" --threads 1 snn ../c.toml --out r.h5 --quiet --no-progress)
  for g in /variants /layers /training /cost /trial_keys; do
    h5diff one/r.h5 two/r.h5 "$g" "$g" || fail "$g differs between 1 process and 2 MPI ranks"
  done
  h5dump -a /mpi_ranks two/r.h5 | grep -q "(0): 2" || fail "the 2-rank file does not record 2 ranks"
  [ "$(ls two | grep -c '\.r[0-9]*\.h5$')" = 4 ] || fail "the 2-rank run did not leave exactly 4 model files: $(ls two)"
  ;;
*)
  fail "unknown mode $mode"
  ;;
esac
echo "ok"
