#!/usr/bin/env bash
# Process-level test of `aimc import` (registered in tests/experiments/CMakeLists.txt), in the style of
# test_cli_errors.sh:
#   a successful import of PyTorch exports (tests/nets/torch_export.py) writes a model file whose
#   attributes and architecture h5py reads back, and prints the summary and MACs;
#   every failure is exit status 1, exactly one "aimc: error: " line on stderr naming the file, node,
#   operator or option, nothing on stdout, and an existing model given as --out (with --force) stays
#   byte-identical, with no temporary file left beside it.
# Needs a Python 3 with torch, onnx and h5py (Debian's python3-torch python3-onnx python3-h5py; run
# scripts/bootstrap.sh): without them the test fails.
# Usage: test_import_cli.sh AIMC_BINARY SOURCE_DIR [verbose]
set -uo pipefail
aimc=$(realpath "$1")
src=$(realpath "$2")
verbose=${3:-}
[ -x "$aimc" ] || { echo "FAIL: $1 is not an executable aimc binary" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/aimc-import-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

py=""
for cand in /usr/bin/python3 "$(command -v python3 2>/dev/null)"; do
  [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c 'import torch, onnx, h5py' > /dev/null 2>&1 && { py=$cand; break; }
done
[ -n "$py" ] || { echo "FAIL: no Python 3 can import torch, onnx and h5py; run scripts/bootstrap.sh" >&2; exit 1; }
"$py" "$src/tests/nets/torch_export.py" . > export.log 2>&1 || { echo "FAIL: torch_export.py failed:" >&2; cat export.log >&2; exit 1; }

cases=0
failures=0
fail_now() { echo "FAIL [$1]: $2" >&2; failures=$((failures + 1)); }

# ---- successful imports ----------------------------------------------------------------------------
cases=$((cases + 1))
if "$aimc" import concat.onnx --out keep.h5 --name two-branches > out.txt 2> err.txt; then
  [ -s err.txt ] && fail_now "import concat" "stderr not empty: $(head -c 300 err.txt)"
  grep -q "^imported concat.onnx (pytorch .*, opset 13): 15 ONNX nodes -> 8 aimc nodes$" out.txt ||
    fail_now "import concat" "no 'imported' line: $(head -n 1 out.txt)"
  grep -q "concat h=5 w=5 channels=\[2,4\]" out.txt || fail_now "import concat" "summary lacks the concat node"
  grep -q "^MACs per sample: [1-9][0-9]*$" out.txt || fail_now "import concat" "no MACs line"
  # the file: aimc-model format 2, name, dataset, input shape and the printed architecture
  "$py" - keep.h5 out.txt <<'PY' || fail_now "import concat" "the model file does not hold what was printed"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
a = {k: v.decode() if isinstance(v, bytes) else v for k, v in f.attrs.items()}
text = open(sys.argv[2]).read()
assert a["format"] == "aimc-model" and a["format_version"] == 2, dict(a)
assert a["name"] == "two-branches" and a["dataset"] == "imported", (a["name"], a["dataset"])
assert (a["input_c"], a["input_h"], a["input_w"]) == (3, 5, 5)
assert a["architecture"] in text, a["architecture"]
assert f["layers"].attrs["count"] == 8 and len(f["layers"]) == 8
PY
else
  fail_now "import concat" "exit status $?: $(head -c 300 err.txt)"
fi
cp keep.h5 keep.ref

cases=$((cases + 1))
"$aimc" import mlp.onnx --out mlp.h5 > out.txt 2> err.txt || fail_now "import mlp" "failed: $(head -c 300 err.txt)"
name_is() { "$py" -c 'import sys, h5py; assert h5py.File(sys.argv[1], "r").attrs["name"] in (sys.argv[2], sys.argv[2].encode())' "$@"; }
name_is mlp.h5 mlp ||
  fail_now "import mlp" "the default name is not the file stem"
cases=$((cases + 1))
"$aimc" import dynamic.onnx --input-shape 2,6,5 --out dyn.h5 > out.txt 2> err.txt ||
  fail_now "import dynamic --input-shape" "failed: $(head -c 300 err.txt)"
grep -q "^input (2,6,5)$" out.txt || fail_now "import dynamic --input-shape" "input shape not (2,6,5): $(head -n 2 out.txt | tail -n 1)"
cases=$((cases + 1))
"$aimc" import concat.onnx --out keep.h5 --name renamed --force > /dev/null 2> err.txt || fail_now "import --force" "failed: $(head -c 300 err.txt)"
name_is keep.h5 renamed ||
  fail_now "import --force" "keep.h5 was not rewritten"
cp keep.h5 keep.ref

# ---- failures --------------------------------------------------------------------------------------
problems=()
bad() { problems+=("$1"); }
# expect_error NAME WANT ARGS...: `aimc ARGS...` fails as described at the top and its message contains
# every piece of WANT (fixed strings separated by "~~").
expect_error() {
  local name=$1 want=$2
  shift 2
  cases=$((cases + 1))
  problems=()
  "$aimc" "$@" > out.txt 2> err.txt < /dev/null
  local rc=$? err=() msg
  mapfile -t err < err.txt
  msg=${err[0]:-}
  [ "$rc" = 1 ] || bad "exit status $rc, expected 1 (stderr: ${msg:0:300})"
  [ "${#err[@]}" = 1 ] || bad "${#err[@]} lines on stderr, expected 1: $(printf '%s|' "${err[@]:0:5}")"
  [ -s out.txt ] && bad "stdout not empty: $(head -c 300 out.txt | tr '\n' '|')"
  [[ $msg == "aimc: error: "* ]] || bad "stderr does not start with 'aimc: error: ': ${msg:0:300}"
  local piece rest=$want~~
  while [ -n "$rest" ]; do
    piece=${rest%%~~*}
    rest=${rest#*~~}
    [[ $msg == *"$piece"* ]] || bad "message lacks '$piece': ${msg:0:300}"
  done
  cmp -s keep.h5 keep.ref || bad "the existing model file keep.h5 was changed"
  [ -n "$verbose" ] && echo "[$name] rc $rc: ${msg:0:300}"
  if [ "${#problems[@]}" -gt 0 ]; then
    printf "FAIL [$name]: %s\n" "${problems[@]}" >&2
    failures=$((failures + 1))
  fi
}
size=$(stat -c %s mlp.onnx)
head -c $((size / 2)) mlp.onnx > half.onnx
head -c 100 mlp.onnx > head.onnx
: > empty.onnx
"$py" -c 'import random, sys; random.seed(5); sys.stdout.buffer.write(bytes(random.getrandbits(8) for _ in range(3000)))' > random.onnx
printf 'ir_version: 8\n' > text.onnx
mkdir adir
K=(--out keep.h5 --force)

expect_error "missing model argument" "model is required" import --out keep.h5
expect_error "missing --out" "--out is required" import mlp.onnx
expect_error "unknown option" "--bogus" import mlp.onnx --out keep.h5 --bogus
expect_error "model file missing" "missing.onnx: cannot open the ONNX model file" import missing.onnx "${K[@]}"
expect_error "model is a directory" "adir: is a directory" import adir "${K[@]}"
expect_error "empty model file" "empty.onnx: empty file" import empty.onnx "${K[@]}"
expect_error "model truncated to half" "half.onnx: " import half.onnx "${K[@]}"
expect_error "model truncated to 100 bytes" "head.onnx: " import head.onnx "${K[@]}"
expect_error "random bytes" "random.onnx: " import random.onnx "${K[@]}"
expect_error "text file" "text.onnx: not an ONNX model" import text.onnx "${K[@]}"
expect_error "HDF5 file as model" "keep.ref: not an ONNX model" import keep.ref "${K[@]}"
expect_error "unsupported operator" "bad_softmax.onnx: node 1 'probs' (Softmax): operator 'Softmax' is not supported" \
  import bad_softmax.onnx "${K[@]}"
expect_error "auto_pad SAME_UPPER" "bad_autopad.onnx: node 0 'conv_same' (Conv): attribute 'auto_pad' = \"SAME_UPPER\"" \
  import bad_autopad.onnx "${K[@]}"
expect_error "ceil_mode" "bad_ceil.onnx: node 0 'pool' (MaxPool): attribute 'ceil_mode' = 1" import bad_ceil.onnx "${K[@]}"
expect_error "double weights" "bad_double.onnx: node 0 'fc64' (Gemm): initializer 'Wd' has type DOUBLE" import bad_double.onnx "${K[@]}"
expect_error "short tensor" "bad_short_tensor.onnx: node 0 'fc' (Gemm): initializer 'Wt' has 12 values" \
  import bad_short_tensor.onnx "${K[@]}"
expect_error "two inputs" "bad_two_inputs.onnx: the graph has 2 inputs" import bad_two_inputs.onnx "${K[@]}"
expect_error "two outputs" "bad_two_outputs.onnx: the graph has 2 outputs" import bad_two_outputs.onnx "${K[@]}"
expect_error "flattened CHW into Concat" "bad_flat_concat.onnx: node 2 'join' (Concat): input 0 'f' is a flattened" \
  import bad_flat_concat.onnx "${K[@]}"
expect_error "dynamic shape" "dynamic.onnx: graph input 'x' has a dynamic dimension H~~--input-shape" import dynamic.onnx "${K[@]}"
expect_error "--input-shape disagrees" "dynamic.onnx: graph input 'x' has C = 2 but --input-shape gives 3" \
  import dynamic.onnx --input-shape 3,6,6 "${K[@]}"
expect_error "--input-shape two values" "--input-shape: expected three values C,H,W, got 2" import dynamic.onnx --input-shape 2,6 "${K[@]}"
expect_error "--input-shape zero" "--input-shape: 0 is not a whole number" import dynamic.onnx --input-shape 2,0,6 "${K[@]}"
expect_error "--input-shape text" "--input-shape" import dynamic.onnx --input-shape 2,x,6 "${K[@]}"
expect_error "--mean without --std" "--mean and --std go together" import flatcnn.onnx --mean 0.5,0.5 "${K[@]}"
expect_error "--mean count" "flatcnn.onnx: --mean and --std need one value per input channel: 2 each, got 3 and 2" \
  import flatcnn.onnx --mean 0.1,0.2,0.3 --std 1,1 "${K[@]}"
expect_error "--std zero" "flatcnn.onnx: --std value 0 is not a finite positive number" import flatcnn.onnx --mean 0,0 --std 1,0 "${K[@]}"
expect_error "--mean nan" "flatcnn.onnx: --mean value nan" import flatcnn.onnx --mean nan,0 --std 1,1 "${K[@]}"
expect_error "--out exists" "keep.h5: model file exists; pass --force" import mlp.onnx --out keep.h5
expect_error "--out is a directory" "adir: is a directory" import mlp.onnx --out adir --force

# nothing but the inputs and the successful outputs may be left behind
leftovers=$(ls -A | grep -v -x -E '.*\.onnx|keep\.h5|keep\.ref|mlp\.h5|dyn\.h5|reference\.h5|export\.log|out\.txt|err\.txt|adir' || true)
[ -z "$leftovers" ] || fail_now "leftovers" "files left behind: $(echo $leftovers)"

echo "$cases cases, $failures failed"
[ "$failures" = 0 ]
