#!/usr/bin/env bash
# CTest driver for scripts/plot_snn.py: runs a tiny `aimc snn` study (1-epoch spiking MLP, both dense
# layers analog, 2 chips at 2 tile sizes), plots it, checks the PNG and the printed tables (the analog
# layers, one Monte Carlo row per sweep point with all five variants, one cost row per tile size), and
# that a missing file, a file that is not an aimc-snn results file and a results file missing a dataset
# each fail with one line and exit status 1.
#   test_plot_snn.sh AIMC_BINARY SOURCE_DIR
set -euo pipefail

source "$(dirname "$0")/plot_test_lib.sh"
plot_test_setup plot-snn "$@"
plot=("$py" "$src/scripts/plot_snn.py")

"$aimc" train --model snn_mlp --epochs 1 --train-limit 500 --out m.h5 >/dev/null

cat >tiny.toml <<'TOML'
[model]
path = "m.h5"

[data]
subset = 50
calibration = 32

[mapping]
analog_layers = "all"

[snn]
hwa_epochs = 1
stage_epochs = 1
train_images = 100

[mc]
trials = 2

[sweep]
"mapping.tile_rows" = [64, 256]
TOML
"$aimc" snn tiny.toml --out tiny.h5 --quiet --no-progress

"${plot[@]}" tiny.h5 --out snn.png >report.txt || fail "plot_snn.py failed: $(cat report.txt)"
check_png snn.png
[ "$(tail -n 1 report.txt)" = "snn.png" ] || fail "last line is not the PNG path: $(tail -n 1 report.txt)"
has() { grep -qF -- "$1" report.txt || fail "the report lacks '$1': $(cat report.txt)"; }
has "T = 4 time steps, 2 chips per point"
has "| dense_2 | 784 x 128 | 1 |"
has "| dense_4 | 128 x 10 | 1 |"
has "| mapping.tile_rows | (1) ideal partial sums | (2) 8-bit ADC | (3) 1-bit, ordinary training | (4) 1-bit, hardware-aware | (5) 1-bit, progressive |"
[ "$(grep -cE '^\| (64|256) \|( [0-9.]+ \[[0-9.]+, [0-9.]+\] \(n=2; clean [0-9.]+\) \|){5}$' report.txt)" = 2 ] ||
  fail "expected two Monte Carlo rows with five variants of 2 chips: $(cat report.txt)"
[ "$(grep -cE '^\| (64|256) \| [0-9.e+-]+ \| [0-9.e+-]+ \| [0-9.e+-]+ \| [0-9.e+-]+ \| [0-9.]+ \| [0-9.]+ \|$' report.txt)" = 2 ] ||
  fail "expected two cost rows: $(cat report.txt)"

check_fails "missing file" "plot_snn.py: missing.h5: no such file" "${plot[@]}" missing.h5
check_fails "not a results file" "not an aimc-snn results file" "${plot[@]}" m.h5
cp tiny.h5 broken.h5
"$py" -c 'import h5py, sys; f = h5py.File(sys.argv[1], "r+"); del f["cost/tile_rows"]; f.close()' broken.h5
check_fails "malformed file" "broken.h5: malformed aimc-snn results file (missing" "${plot[@]}" broken.h5 --out broken.png
[ ! -e broken.png ] || fail "a PNG was written for a malformed file"
echo "all plot_snn.py checks passed"
