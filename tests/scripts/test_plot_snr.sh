#!/usr/bin/env bash
# CTest driver for scripts/plot_snr.py: runs a tiny `aimc snr` analysis (QS and QR, n_rows = 16 and 64,
# 200 Monte Carlo samples per point, a 2 x 2 accumulator table), plots it (default output, --out,
# --x n_rows), checks the PNGs and the findings printed before the PNG's path, and checks that a missing
# file, a file that is not an aimc-snr results file and an unknown axis each fail with exit status 1.
#   test_plot_snr.sh AIMC_BINARY SOURCE_DIR
set -euo pipefail

source "$(dirname "$0")/plot_test_lib.sh"
plot_test_setup plot-snr "$@"
plot=("$py" "$src/scripts/plot_snr.py")

# Expects a line of the findings ($1, the script's stdout) that starts with $2.
check_finding() {
  local line
  while IFS= read -r line; do
    [[ $line == "$2"* ]] && return 0
  done <<<"$1"
  fail "no findings line starting with '$2' in:"$'\n'"$1"
}

cat >tiny.toml <<'TOML'
[snr]
models = "qs,qr"
samples = 200
seed = 7

[qs]
technology = "65nm"
b_x = 4
b_w = 4

[qr]
technology = "65nm"
b_x = 4
b_w = 4

[sweep]
n_rows = [16, 64]

[accumulation]
n = [16, 64]
mantissa_bits = [4, 8]
trials = 50
TOML
"$aimc" snr tiny.toml --out tiny.h5 --quiet --no-progress

out=$("${plot[@]}" tiny.h5)
last=$(tail -n 1 <<<"$out")
[ "$last" = "tiny.png" ] || fail "default output: last line '$last', expected tiny.png"
check_png tiny.png
for m in QS QR; do
  check_finding "$out" "$m: max SNR_a (analytical): "
  check_finding "$out" "$m: SNR_A - SNR_T(MPC) median "
  check_finding "$out" "$m: worst |SNR_a analytical - MC| "
done
check_finding "$out" "crossover: QS is cheaper than QR"
check_finding "$out" "accumulation: min mantissa bits for VRR >= "
grep -q "^QS: max SNR_a (analytical): [0-9.-]* dB at n_rows = " <<<"$out" || fail "max SNR_a line lacks the n_rows point: $out"
[ "$(wc -l <<<"$out")" -eq 9 ] || fail "expected 8 findings lines and the PNG path, got:"$'\n'"$out"
echo "ok: findings"$'\n'"$out"

out=$("${plot[@]}" tiny.h5 --x n_rows --out rows.png)
[ "$(tail -n 1 <<<"$out")" = "rows.png" ] || fail "--out: last line '$(tail -n 1 <<<"$out")'"
check_png rows.png

"$py" -c 'import h5py; h5py.File("other.h5", "w").attrs["format"] = "aimc-mc"'
check_fails "missing file" "no such file" "${plot[@]}" missing.h5
check_fails "not a results file (HDF5)" "not an aimc-snr results file" "${plot[@]}" other.h5
check_fails "not a results file (text)" "not an aimc-snr results file" "${plot[@]}" tiny.toml
check_fails "unknown axis" "unknown axis 'nope'" "${plot[@]}" tiny.h5 --x nope
[ ! -e missing.png ] || fail "a PNG was written for a missing file"
[ ! -e other.png ] || fail "a PNG was written for a file that is not an aimc-snr results file"
echo "all plot_snr.py checks passed"
