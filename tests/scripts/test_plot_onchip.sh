#!/usr/bin/env bash
# CTest driver for scripts/plot_onchip.py: runs a tiny `aimc onchip` study (2 chips x 2 folds, 3 epochs,
# sweeps of onchip.levels with the infinite-resolution point, rram_pulse.nu_ltp and mosfet_update.sigma_pulse),
# plots it, checks the PNG and the printed table (one row per run); plots a study without sweeps and checks
# that panels (b) and (c) are reported empty; and checks that a missing file, a file that is not an
# aimc-onchip results file and a results file missing a dataset each fail with one line and exit status 1.
#   test_plot_onchip.sh AIMC_BINARY SOURCE_DIR
set -euo pipefail

source "$(dirname "$0")/plot_test_lib.sh"
plot_test_setup plot-onchip "$@"
plot=("$py" "$src/scripts/plot_onchip.py")

cat >tiny.toml <<'TOML'
[study]
chips = 2
folds = 2

[onchip]
epochs = 3

[sweep.onchip]
levels = [8, 0]

[sweep.rram_pulse]
nu_ltp = [1, 3]

[sweep.mosfet_update]
sigma_pulse = [0, 0.1]
TOML
"$aimc" onchip tiny.toml --out tiny.h5 --quiet --no-progress

"${plot[@]}" tiny.h5 >report.txt || fail "plot_onchip.py failed: $(cat report.txt)"
[ "$(tail -n 1 report.txt)" = "tiny.png" ] || fail "default output: last line is not tiny.png: $(tail -n 1 report.txt)"
check_png tiny.png
[ "$(stat -c %s tiny.png)" -gt 20000 ] || fail "tiny.png is suspiciously small"
has() { grep -qF -- "$1" report.txt || fail "the report lacks '$1': $(cat report.txt)"; }
has "2 chips x 2 folds per run"
# base: 3 devices; levels: 2 points x 3 devices; nu_ltp: 2 x rram; sigma_pulse: 2 x mosfet
[ "$(grep -cE '^\| (base|onchip\.levels|rram_pulse\.nu_ltp|mosfet_update\.sigma_pulse) \| ' report.txt)" = 13 ] ||
  fail "expected 13 run rows: $(cat report.txt)"
has "| onchip.levels | inf | mosfet | "
has "| rram_pulse.nu_ltp | 1 | rram | "
! grep -q "left empty" report.txt || fail "a panel was left empty: $(cat report.txt)"

"${plot[@]}" tiny.h5 --out other.png >report.txt || fail "plot_onchip.py --out failed: $(cat report.txt)"
[ "$(tail -n 1 report.txt)" = "other.png" ] || fail "--out: last line is $(tail -n 1 report.txt)"
check_png other.png

cat >base.toml <<'TOML'
[study]
chips = 2
folds = 2
devices = ["float", "rram"]

[onchip]
epochs = 2
TOML
"$aimc" onchip base.toml --out base.h5 --quiet --no-progress
"${plot[@]}" base.h5 >report.txt || fail "plot_onchip.py failed on a study without sweeps: $(cat report.txt)"
check_png base.png
has "panel (b) left empty: no onchip.levels sweep of mosfet or rram in this file"
has "panel (c) left empty: no other swept series in this file"

check_fails "missing file" "plot_onchip.py: missing.h5: no such file" "${plot[@]}" missing.h5
"$aimc" train --model mlp --epochs 1 --train-limit 200 --out m.h5 >/dev/null
check_fails "not a results file" "plot_onchip.py: m.h5: not an aimc-onchip results file" "${plot[@]}" m.h5
echo "not HDF5" >text.h5
check_fails "not HDF5" "plot_onchip.py: text.h5: not an aimc-onchip results file (not HDF5" "${plot[@]}" text.h5
cp tiny.h5 broken.h5
"$py" -c 'import h5py, sys; f = h5py.File(sys.argv[1], "r+"); del f["runs/curve_train_loss"]; f.close()' broken.h5
check_fails "malformed file" "broken.h5: malformed aimc-onchip results file (missing" "${plot[@]}" broken.h5 --out broken.png
[ ! -e broken.png ] || fail "a PNG was written for a malformed file"
echo "all plot_onchip.py checks passed"
