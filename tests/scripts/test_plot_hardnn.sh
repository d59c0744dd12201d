#!/usr/bin/env bash
# CTest driver for scripts/plot_hardnn.py: runs a tiny HarDNN campaign (1-epoch MLP, 200 images, 25
# injections per fmap, verification on), plots it, checks the PNG, and checks that a missing file and a
# file that is not an aimc-hardnn results file each fail with exit status 1 and one line on stderr.
#   test_plot_hardnn.sh AIMC_BINARY SOURCE_DIR
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 AIMC_BINARY SOURCE_DIR" >&2
  exit 2
fi
aimc=$(realpath "$1")
src=$(realpath "$2")
py=$("$src/scripts/python.sh")
plot=("$py" "$src/scripts/plot_hardnn.py")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/aimc-plot-hardnn-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

fail() { echo "FAIL: $*" >&2; exit 1; }

check_png() {
  [ -s "$1" ] || fail "$1 missing or empty"
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "$1 is not a PNG"
  echo "ok: $1 ($(stat -c %s "$1") bytes)"
}

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
