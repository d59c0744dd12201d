#!/usr/bin/env bash
# CTest driver for scripts/plot_basisn.py: runs a tiny `aimc basisn` study (1-epoch MLP, 16 x 12 basis,
# 3 chips at 2 sweep points, 4 crossbar counts), plots it, checks the PNG and the printed tables (the
# converted layers, one Monte Carlo row per sweep point, one cost row per n_xbar with the mapping the
# standard design needs there), and that a missing file, a file that is not an aimc-basisn results file
# and a results file missing a dataset each fail with one line and exit status 1.
#   test_plot_basisn.sh AIMC_BINARY SOURCE_DIR
set -euo pipefail

source "$(dirname "$0")/plot_test_lib.sh"
plot_test_setup plot-basisn "$@"
plot=("$py" "$src/scripts/plot_basisn.py")

"$aimc" train --model mlp --epochs 1 --train-limit 500 --out m.h5 >/dev/null

cat >tiny.toml <<'TOML'
[model]
path = "m.h5"

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
trials = 3

[sweep]
"rram.sigma_prog" = [0.0, 0.1]
TOML
"$aimc" basisn tiny.toml --out tiny.h5 --quiet --no-progress
[ -s tiny.basisn.h5 ] || fail "aimc basisn did not write tiny.basisn.h5"

"${plot[@]}" tiny.h5 --out bn.png >report.txt || fail "plot_basisn.py failed: $(cat report.txt)"
check_png bn.png
[ "$(tail -n 1 report.txt)" = "bn.png" ] || fail "last line is not the PNG path: $(tail -n 1 report.txt)"
has() { grep -qF -- "$1" report.txt || fail "the report lacks '$1': $(cat report.txt)"; }
# The MLP 784-256-128-10 on 128 x 128 crossbars: every Dense layer converted, S = ceil(K / 16) segments;
# the standard mapping needs 7 x 2 + 2 x 1 + 1 x 1 = 17 crossbars, so 1, 2 and 4 reprogram and 100 fits.
has "basis 16 x 12 (1 crossbar(s)); the standard mapping needs 17 crossbars"
has "| dense_1 | 784 x 256 | 1 | 49 |"
has "| dense_3 | 256 x 128 | 1 | 16 |"
has "| dense_5 | 128 x 10 | 1 | 8 |"
has "| rram.sigma_prog | standard | BasisN |"
[ "$(grep -cE '^\| 0(\.1)? \| .*\(n=3\) \| .*\(n=3\) \| (yes|no) \|$' report.txt)" = 2 ] ||
  fail "expected two Monte Carlo rows (sigma_prog 0 and 0.1, 3 chips each): $(cat report.txt)"
for n in 1 2 4; do has "| $n | reprogram |"; done
has "| 100 | standard |"
[ "$(grep -cE '^\| (1|2|4|100) \| (reprogram|standard) \|' report.txt)" = 4 ] || fail "expected four cost rows"
grep -qE "^clean accuracy: standard 0\.[0-9]{4}, BasisN 0\.[0-9]{4}" report.txt || fail "no clean accuracy line"

check_fails "missing file" "plot_basisn.py: missing.h5: no such file" "${plot[@]}" missing.h5
check_fails "not a results file" "not an aimc-basisn results file" "${plot[@]}" m.h5
cp tiny.h5 broken.h5
"$py" -c 'import h5py, sys; f = h5py.File(sys.argv[1], "r+"); del f["cost/n_xbar"]; f.close()' broken.h5
check_fails "malformed file" "broken.h5: malformed aimc-basisn results file (missing" "${plot[@]}" broken.h5 --out broken.png
[ ! -e missing.png ] || fail "a PNG was written for a missing file"
[ ! -e broken.png ] || fail "a PNG was written for a malformed file"
echo "all plot_basisn.py checks passed"
