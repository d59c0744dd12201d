#!/usr/bin/env bash
# CTest driver for test_results_schema.py: writes one small results file per campaign type (a 1-epoch MLP
# on 500 training images; `aimc mc` 2 x 2 sweep with 3 trials on 200 images, `aimc hardnn` with
# verification, `aimc snr` with QS and QR over two row counts and an accumulator table) and checks each
# against docs/results.md (types, shapes, units, root attributes, and the summaries recomputed in Python).
#   test_results_schema.sh AIMC_BINARY SOURCE_DIR
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 AIMC_BINARY SOURCE_DIR" >&2
  exit 2
fi
aimc=$(realpath "$1")
src=$(realpath "$2")
py=$("$src/scripts/python.sh")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aimc-schema-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

"$aimc" train --model mlp --epochs 1 --train-limit 500 --out m.h5 >/dev/null

cat >mc.toml <<'TOML'
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
snr_samples = 50
[rram]
sigma_read = 0.02
[sweep]
"rram.sigma_prog" = [0.0, 0.1]
"adc.bits" = [4, 8]
TOML
"$aimc" mc mc.toml --out mc.h5 --quiet --no-progress

cat >hardnn.toml <<'TOML'
[model]
path = "m.h5"
[data]
subset = 200
[hardnn]
error_model = "random_value"
margin = 0.25
verify_injections = 300
TOML
"$aimc" hardnn hardnn.toml --out hardnn.h5 --quiet --no-progress

cat >snr.toml <<'TOML'
[snr]
models = "qs,qr"
samples = 200
seed = 7
[qs]
technology = "65nm"
[qr]
technology = "65nm"
[sweep]
n_rows = [16, 64]
[accumulation]
n = [16, 64]
mantissa_bits = [4, 8]
trials = 50
TOML
"$aimc" snr snr.toml --out snr.h5 --quiet --no-progress

"$py" "$src/tests/experiments/test_results_schema.py" "$src/docs/results.md" mc.h5 hardnn.h5 snr.h5
