#!/usr/bin/env bash
# CTest driver for scripts/plot_mc.py: runs a tiny Monte Carlo campaign (2 x 2 sweep, 3 trials on 200
# images with a 1-epoch MLP), plots accuracy and SNR, checks the PNGs, and checks that a missing
# file, a file that is not an aimc-mc results file and an unknown axis each fail with exit status 1.
#   test_plot_mc.sh AIMC_BINARY SOURCE_DIR
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 AIMC_BINARY SOURCE_DIR" >&2
  exit 2
fi
aimc=$(realpath "$1")
src=$(realpath "$2")
py=$("$src/scripts/python.sh")
plot=("$py" "$src/scripts/plot_mc.py")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aimc-plot-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

fail() { echo "FAIL: $*" >&2; exit 1; }

# A valid PNG starts with the 8-byte signature 89 50 4E 47 0D 0A 1A 0A.
check_png() {
  [ -s "$1" ] || fail "$1 missing or empty"
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "$1 is not a PNG"
  echo "ok: $1 ($(stat -c %s "$1") bytes)"
}

# Expects exit status 1 and a single line on stderr containing $2.
check_fails() {
  local what=$1 expect=$2
  shift 2
  local rc=0
  "$@" >"$tmp/out.txt" 2>"$tmp/err.txt" || rc=$?
  [ "$rc" -eq 1 ] || fail "$what: exit status $rc, expected 1 (stderr: $(cat "$tmp/err.txt"))"
  [ "$(wc -l <"$tmp/err.txt")" -eq 1 ] || fail "$what: expected one line on stderr, got: $(cat "$tmp/err.txt")"
  grep -qF -- "$expect" "$tmp/err.txt" || fail "$what: stderr lacks '$expect': $(cat "$tmp/err.txt")"
  echo "ok: $what -> $(cat "$tmp/err.txt")"
}

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
