#!/usr/bin/env bash
# CTest driver for scripts/plot_mc.py: runs a tiny Monte Carlo campaign (2 x 2 sweep, 3 trials on 200
# images with a 1-epoch MLP), plots accuracy and SNR, checks the PNGs, and checks that a missing
# file, a file that is not an aimc-mc results file and an unknown axis each fail with exit status 1.
#   test_plot_mc.sh AIMC_BINARY SOURCE_DIR
set -euo pipefail

source "$(dirname "$0")/plot_test_lib.sh"
plot_test_setup plot "$@"
plot=("$py" "$src/scripts/plot_mc.py")

"$aimc" train --model mlp --epochs 1 --train-limit 2000 --out m.h5 >/dev/null

cat >tiny.toml <<'TOML'
[model]
path = "m.h5"

[data]
subset = 200
calibration = 64

[mapping]
substrate = "rram"
readout = "adc"
analog_layers = "all"

[mc]
trials = 3
snr_samples = 100

[sweep]
"rram.sigma_prog" = [0.0, 0.1]
"adc.bits" = [4, 8]
TOML
"$aimc" mc tiny.toml --out tiny.h5 --quiet --no-progress

out=$("${plot[@]}" tiny.h5)
[ "$out" = "tiny.png" ] || fail "default output: printed '$out', expected tiny.png"
check_png tiny.png
out=$("${plot[@]}" tiny.h5 --x adc.bits --percentiles --out acc_bits.png)
[ "$out" = "acc_bits.png" ] || fail "--out: printed '$out'"
check_png acc_bits.png
"${plot[@]}" tiny.h5 --metric snr --out snr.png >/dev/null
check_png snr.png

check_fails "missing file" "no such file" "${plot[@]}" missing.h5
check_fails "not a results file" "not an aimc-mc results file" "${plot[@]}" m.h5
check_fails "unknown axis" "unknown axis 'rram.nope'" "${plot[@]}" tiny.h5 --x rram.nope
[ ! -e missing.png ] || fail "a PNG was written for a missing file"
echo "all plot_mc.py checks passed"
