#!/usr/bin/env bash
# CTest driver for scripts/plot_hardnn.py: runs a tiny HarDNN campaign (1-epoch MLP, 200 images, 25
# injections per fmap, verification on), plots it, checks the PNG, and checks that a missing file and a
# file that is not an aimc-hardnn results file each fail with exit status 1 and one line on stderr.
#   test_plot_hardnn.sh AIMC_BINARY SOURCE_DIR
set -euo pipefail

source "$(dirname "$0")/plot_test_lib.sh"
plot_test_setup plot-hardnn "$@"
plot=("$py" "$src/scripts/plot_hardnn.py")

"$aimc" train --model mlp --epochs 1 --train-limit 2000 --out m.h5 >/dev/null

cat >tiny.toml <<'TOML'
[model]
path = "m.h5"
[data]
subset = 200
[hardnn]
error_model = "random_value"
margin = 0.2
verify_injections = 500
TOML
"$aimc" hardnn tiny.toml --out tiny.h5 --quiet --no-progress

out=$("${plot[@]}" tiny.h5)
[ "$out" = "tiny.png" ] || fail "default output: printed '$out', expected tiny.png"
check_png tiny.png
out=$("${plot[@]}" tiny.h5 --out other.png)
[ "$out" = "other.png" ] || fail "--out: printed '$out'"
check_png other.png

check_fails "missing file" "no such file" "${plot[@]}" missing.h5
check_fails "not a results file" "not an aimc-hardnn results file" "${plot[@]}" m.h5
[ ! -e missing.png ] || fail "a PNG was written for a missing file"
echo "all plot_hardnn.py checks passed"
