#!/usr/bin/env bash
# Process-level test of issue 13, "bad input never crashes" (registered in tests/experiments/CMakeLists.txt).
# Every failure of every command (train, eval, import, mc, hardnn, correctnet, denoise, basisn, snn, onchip, snr, params) must be:
#   exit status 1 (an internal error, a bug, would be 3; a crash 134/139; CLI11's own codes 105-115),
#   exactly one line on stderr, starting "aimc: error: " and naming what was wrong (file, key, option),
#   nothing on stdout,
#   and an existing results file given as --out (with --force) byte-identical afterwards.
# Each case prints what failed and the script goes on, so one run lists every broken case.
# Usage: test_cli_errors.sh AIMC_BINARY [verbose]   (verbose: print every message)
set -uo pipefail
aimc=$1
verbose=${2:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

cases=0
failures=0
pending_cases=0
problems=()
bad() { problems+=("$2"); }  # collects what is wrong with the current case of expect_error
fail_now() { echo "FAIL [$1]: $2" >&2; failures=$((failures + 1)); }  # a check outside expect_error

# expect_error NAME WANT ARGS...: `aimc ARGS...` fails as described above and its message contains
# WANT: fixed strings (the file, key or option and the problem) separated by "~~", each required.
# With PENDING=<file> set, the case documents a known bug whose fix belongs to <file>: its failure
# is reported as XFAIL and not counted, and its passing is a failure (remove the PENDING mark then).
expect_error() {
  local name=$1 want=$2
  shift 2
  cases=$((cases + 1))
  problems=()
  "$aimc" "$@" > out.txt 2> err.txt < /dev/null
  local rc=$? err=() msg
  mapfile -t err < err.txt  # (builtins only below: ~200 cases stay fast in the sanitizer build)
  msg=${err[0]:-}
  [ "$rc" = 1 ] || bad "$name" "exit status $rc, expected 1 (stderr: ${msg:0:300})"
  [ "${#err[@]}" = 1 ] || bad "$name" "${#err[@]} lines on stderr, expected 1: $(printf '%s|' "${err[@]:0:5}")"
  [ -s out.txt ] && bad "$name" "stdout not empty: $(head -c 300 out.txt | tr '\n' '|')"
  [[ $msg == "aimc: error: "* ]] || bad "$name" "stderr does not start with 'aimc: error: ': ${msg:0:300}"
  local piece rest=$want~~
  while [ -n "$rest" ]; do
    piece=${rest%%~~*}
    rest=${rest#*~~}
    [[ $msg == *"$piece"* ]] || bad "$name" "message lacks '$piece': ${msg:0:300}"
  done
  cmp -s keep.h5 keep.ref || bad "$name" "the existing results file keep.h5 was changed"
  [ -n "$verbose" ] && echo "[$name] rc $rc: ${msg:0:300}"
  if [ -n "${PENDING:-}" ]; then
    if [ "${#problems[@]}" = 0 ]; then
      echo "FAIL [$name]: passes now; remove its PENDING=$PENDING mark" >&2
      failures=$((failures + 1))
    else
      echo "XFAIL [$name] (known bug, fix pending in $PENDING): ${problems[0]}" >&2
      pending_cases=$((pending_cases + 1))
    fi
  elif [ "${#problems[@]}" -gt 0 ]; then
    printf "FAIL [$name]: %s\n" "${problems[@]}" >&2
    failures=$((failures + 1))
  fi
}

# A tiny model (1 epoch on 500 images) and a real results file of a tiny campaign, kept as keep.h5.
"$aimc" --threads 2 train --model mlp --epochs 1 --train-limit 500 --out m.h5 > /dev/null 2>&1 ||
  { echo "FAIL: could not train the test model" >&2; exit 1; }
# the training recipe is recorded in the model file: the MLP's defaults, then overridden
recipe() { for a in train_optimizer train_lr train_weight_decay train_augment train_augment_shift; do
  h5dump -a "/$a" "$1" | awk '/\(0\)/{sub(/.*\(0\): */, ""); printf "%s ", $0}'; done; }
[ "$(recipe m.h5)" = '"adam" 0.001 0 "none" 1 ' ] || { echo "FAIL: recipe of m.h5: $(recipe m.h5)" >&2; exit 1; }
"$aimc" --threads 2 train --model mlp --epochs 1 --train-limit 300 --augment shift-flip --augment-shift 2 \
  --weight-decay 0.05 --lr 0.003 --out aug.h5 > /dev/null 2>&1 || { echo "FAIL: augmented training" >&2; exit 1; }
[ "$(recipe aug.h5)" = '"adam" 0.003 0.05 "shift-flip" 2 ' ] || { echo "FAIL: recipe of aug.h5: $(recipe aug.h5)" >&2; exit 1; }
cat > ok.toml <<'TOML'
[model]
path = "m.h5"
[data]
subset = 20
calibration = 16
[mc]
trials = 2
TOML
"$aimc" --threads 2 mc ok.toml --out keep.h5 --quiet --no-progress > /dev/null 2>&1 ||
  { echo "FAIL: the reference campaign ok.toml did not run" >&2; exit 1; }
cp keep.h5 keep.ref
size=$(stat -c %s m.h5)
head -c $((size / 2)) m.h5 > half.h5
head -c 800 m.h5 > head.h5
: > empty.h5
mkdir adir

# conf FILE LINES...: writes a config from its lines (one argument per line).
conf() {
  local f=$1
  shift
  printf '%s\n' "$@" > "$f"
}
M='[model]
path = "m.h5"'  # the one required table of mc and hardnn configs

# ---- command line (CLI11) -------------------------------------------------------------------------
expect_error "no subcommand" "missing command (expected train, eval, import, mc, hardnn, correctnet, denoise, basisn, snn, onchip, snr or params)"
expect_error "unknown subcommand" "unknown command 'bogus'" bogus
expect_error "unknown subcommand after --threads" "unknown command 'bogus'" --threads 2 bogus
expect_error "unknown global option" "--bogus" --bogus mc ok.toml
expect_error "mc: missing config" "config is required" mc
expect_error "hardnn: missing config" "config is required" hardnn
expect_error "snr: missing config" "config is required" snr
expect_error "correctnet: missing config" "config is required" correctnet
expect_error "denoise: missing config" "config is required" denoise
expect_error "mc: unknown option" "--bogus" mc ok.toml --bogus
expect_error "mc: extra positional" "extra.toml" mc ok.toml extra.toml
expect_error "--threads not a number" "--threads" --threads x mc ok.toml
expect_error "--threads negative" "--threads" --threads -1 mc ok.toml
expect_error "--threads fractional" "--threads" --threads 1.5 mc ok.toml
expect_error "--threads beyond int" "--threads" --threads 4294967297 mc ok.toml
expect_error "--threads absurd" "--threads" --threads 1000000 mc ok.toml
expect_error "--threads without value" "--threads" mc ok.toml --threads
expect_error "train: missing --out" "--out is required" train --model mlp
expect_error "train: unknown model" "--model" train --model rnn --out t.h5
expect_error "train: --epochs 0" "--epochs" train --epochs 0 --out t.h5
expect_error "train: --epochs beyond int" "--epochs" train --epochs 4294967304 --out t.h5
expect_error "train: --epochs fractional" "--epochs" train --epochs 2.5 --out t.h5
expect_error "train: --lr nan" "--lr" train --lr nan --out t.h5
expect_error "train: --lr inf" "--lr" train --lr inf --out t.h5
expect_error "train: --lr negative" "--lr" train --lr -0.1 --out t.h5
expect_error "train: --lr text" "--lr" train --lr fast --out t.h5
expect_error "train: --seed negative" "--seed" train --seed -1 --out t.h5
expect_error "train: --seed beyond int" "--seed" train --seed 2147483648 --out t.h5
expect_error "train: --batch-size text" "--batch-size" train --batch-size many --out t.h5
expect_error "train: --train-limit negative" "--train-limit" train --train-limit -5 --out t.h5
expect_error "train: --train-limit beyond long long" "--train-limit" train --train-limit 99999999999999999999 --out t.h5
expect_error "train: --augment unknown" "--augment" train --augment rotate --out t.h5
expect_error "train: --augment-shift too large" "--augment-shift" train --augment-shift 65 --out t.h5
expect_error "train: --weight-decay negative" "--weight-decay" train --weight-decay -0.1 --out t.h5
expect_error "train: --weight-decay nan" "--weight-decay" train --weight-decay nan --out t.h5
expect_error "eval: missing --model" "--model is required" eval
expect_error "eval: --limit negative" "--limit" eval --model m.h5 --limit -1
expect_error "params: extra positional" "extra" params extra
expect_error "params: unknown option" "--bogus" params --bogus
[ -e t.h5 ] && fail_now "train cli" "a failed train wrote t.h5"

# --help keeps CLI11's normal output and exit 0
for h in "--help" "mc --help" "train --help" "params --help"; do
  cases=$((cases + 1))
  # shellcheck disable=SC2086
  "$aimc" $h > out.txt 2> err.txt
  rc=$?
  [ "$rc" = 0 ] || fail_now "$h" "exit status $rc, expected 0"
  grep -q "Usage" out.txt || fail_now "$h" "no usage text on stdout"
done

# ---- train and eval: files ------------------------------------------------------------------------
cp m.h5 model_keep.h5
expect_error "train: model file exists" "pass --force" train --model mlp --epochs 1 --train-limit 100 --out keep.h5
expect_error "train: --out is a directory" "adir" train --model mlp --epochs 1 --train-limit 100 --out adir --force
expect_error "train: missing data dir" "/nonexistent-data" train --model mlp --epochs 1 --train-limit 100 \
  --data-dir /nonexistent-data --out keep.h5 --force
expect_error "eval: missing model" "missing.h5" eval --model missing.h5 --limit 10
expect_error "eval: model is a directory" "adir" eval --model adir --limit 10
expect_error "eval: model is a TOML file" "ok.toml" eval --model ok.toml --limit 10
expect_error "eval: empty model file" "empty.h5" eval --model empty.h5 --limit 10
expect_error "eval: model truncated to half" "half.h5" eval --model half.h5 --limit 10
expect_error "eval: model truncated to 800 bytes" "head.h5" eval --model head.h5 --limit 10
expect_error "eval: results file as model" "keep.h5" eval --model keep.h5 --limit 10
expect_error "eval: missing data dir" "/nonexistent-data" eval --model m.h5 --data-dir /nonexistent-data
cmp -s m.h5 model_keep.h5 || fail_now "eval" "a failed eval changed the model file"

# ---- config files, common to mc, hardnn and snr ----------------------------------------------------
printf '[model\npath = "m.h5"\n' > broken.toml
printf '[model]\npath = "m.h5"\npath = "n.h5"\n' > dupkey.toml
printf '\x00\x01\x02binary' > binary.toml
printf '[model]\npath = "m\xff.h5"\n' > badutf8.toml
for cmd in mc hardnn snr correctnet denoise; do
  run() { expect_error "$cmd: $1" "$2" "$cmd" "$3" --out keep.h5 --force --quiet --no-progress; }
  run "missing config" "missing.toml: cannot open config file" missing.toml
  run "directory as config" "adir: cannot read config file" adir
  run "broken TOML" "broken.toml:1:" broken.toml
  run "duplicate key" "dupkey.toml:3:" dupkey.toml
  run "binary file" "binary.toml:" binary.toml
  run "invalid UTF-8" "badutf8.toml:" badutf8.toml
  conf c.toml '[bogus]' 'x = 1'
  run "unknown section" "c.toml: bogus: unknown key" c.toml
  conf c.toml 'answer = 42'
  run "unknown top-level key" "c.toml: answer: unknown key" c.toml
done
expect_error "mc: existing --out without --force" "results file exists" mc ok.toml --out keep.h5 --quiet --no-progress

# ---- mc --------------------------------------------------------------------------------------------
# mc_case NAME SUBSTRING LINES...: an mc config of [model] plus LINES must fail with SUBSTRING.
mc_case() {
  local name=$1 want=$2
  shift 2
  conf c.toml "$M" "$@"
  expect_error "mc: $name" "$want" mc c.toml --out keep.h5 --force --quiet --no-progress
}
conf c.toml '[data]' 'subset = 20'
expect_error "mc: no [model]" "c.toml: model.path: missing" mc c.toml --out keep.h5 --force --quiet --no-progress
conf c.toml 'model = "m.h5"'
expect_error "mc: model = value" "c.toml: model: expected a table" mc c.toml --out keep.h5 --force --quiet --no-progress
conf c.toml 'mc = 3' "$M"
expect_error "mc: mc = value" "c.toml: mc: expected a table" mc c.toml --out keep.h5 --force --quiet --no-progress
mc_case "key of another section" "c.toml: model.trials: unknown key" 'trials = 3'
mc_case "unknown key" "c.toml: mc.trialz: unknown key (did you mean 'trials'?)" '[mc]' 'trialz = 3'
mc_case "bits beyond 32 bits" "c.toml: parameter 'adc.bits' = 4294967304" '[adc]' 'bits = 4294967304'
mc_case "bits beyond int" "c.toml: parameter 'dac.bits' = 2147483648" '[dac]' 'bits = 2147483648'
mc_case "bits fractional" "c.toml: adc.bits: expected an integer, got 2.5" '[adc]' 'bits = 2.5'
mc_case "trials fractional" "c.toml: mc.trials: expected an integer, got 2.5" '[mc]' 'trials = 2.5'
mc_case "trials negative" "c.toml: parameter 'mc.trials' = -3" '[mc]' 'trials = -3'
mc_case "seed negative" "c.toml: parameter 'mc.seed' = -1" '[mc]' 'seed = -1'
mc_case "seed beyond int" "c.toml: parameter 'mc.seed' = 9223372036854775807" '[mc]' 'seed = 9223372036854775807'
mc_case "integer beyond TOML" "c.toml:4:" '[mc]' 'seed = 9223372036854775808'
mc_case "trials nan" "c.toml: mc.trials: expected an integer, got nan" '[mc]' 'trials = nan'
mc_case "sigma_prog nan" "c.toml: rram.sigma_prog: expected a finite number, got nan" '[rram]' 'sigma_prog = nan'
mc_case "sigma_read inf" "c.toml: rram.sigma_read: expected a finite number, got inf" '[rram]' 'sigma_read = inf'
mc_case "g_max_S inf" "c.toml: rram.g_max_S: expected a finite number, got inf" '[rram]' 'g_max_S = +inf'
mc_case "ci_half_width -inf" "c.toml: mc.ci_half_width: expected a finite number, got -inf" '[mc]' 'ci_half_width = -inf'
mc_case "zeta nan" "c.toml: adc.zeta: expected a finite number, got nan" '[adc]' 'zeta = -nan'
mc_case "sigma_prog negative" "c.toml: parameter 'rram.sigma_prog' = -0.1" '[rram]' 'sigma_prog = -0.1'
mc_case "string for number" "c.toml: rram.sigma_prog: expected a number, got \"0.1\"" '[rram]' 'sigma_prog = "0.1"'
mc_case "boolean for number" "c.toml: rram.sigma_prog: expected a number, got true" '[rram]' 'sigma_prog = true'
mc_case "boolean for integer" "c.toml: adc.bits: expected an integer, got false" '[adc]' 'bits = false'
mc_case "array for integer" "c.toml: adc.bits: expected an integer, got an array" '[adc]' 'bits = [8]'
mc_case "table for integer" "c.toml: adc.bits: expected an integer, got a table" '[adc.bits]' 'v = 8'
mc_case "number for string" "c.toml: mapping.readout: expected a string, got 1" '[mapping]' 'readout = 1'
mc_case "number for enum" "c.toml: data.dataset: expected a string, got 3" '[data]' 'dataset = 3'
mc_case "date for number" "c.toml: mc.confidence: expected a number, got a date" '[mc]' 'confidence = 2024-01-01'
mc_case "adc.calibration bogus" "parameter 'adc.calibration' = \"bogus\": must be one of max|clip|optimal" '[adc]' 'calibration = "bogus"'
mc_case "substrate bogus" "parameter 'mapping.substrate' = \"bogus\"" '[mapping]' 'substrate = "bogus"'
mc_case "readout bogus" "parameter 'mapping.readout' = \"bogus\"" '[mapping]' 'readout = "bogus"'
mc_case "prog_model bogus" "parameter 'rram.prog_model' = \"bogus\"" '[rram]' 'prog_model = "bogus"'
mc_case "read_model empty" "parameter 'rram.read_model' = \"\"" '[rram]' 'read_model = ""'
mc_case "dataset bogus" "parameter 'data.dataset' = \"mnist\"" '[data]' 'dataset = "mnist"'
mc_case "enum with a newline" "parameter 'adc.calibration' = \"a\\nb\"" '[adc]' 'calibration = "a\nb"'
mc_case "analog_layers bogus" "analog_layers" '[mapping]' 'analog_layers = "bogus"'
mc_case "analog_layers huge ordinal" "analog_layers" '[mapping]' 'analog_layers = "99999999999999999999"'
mc_case "sram technology bogus" "c.toml: sram_qs.technology" '[sram_qs]' 'technology = "1nm"'
mc_case "sram n_rows rejected" "c.toml: sram_qs.n_rows" '[sram_qs]' 'n_rows = 4294967304'
mc_case "sram integer beyond int" "c.toml: parameter 'sram_qs.b_w' = 4294967304" '[sram_qs]' 'b_w = 4294967304'
mc_case "sram double nan" "c.toml: sram_qs.v_dd_V: expected a finite number, got nan" '[sram_qs]' 'v_dd_V = nan'
mc_case "sweep: empty array" "c.toml: sweep.rram.sigma_prog: empty array" '[sweep]' '"rram.sigma_prog" = []'
mc_case "sweep: nan" "c.toml: sweep.rram.sigma_prog: expected a finite number, got nan" '[sweep]' '"rram.sigma_prog" = [0.1, nan]'
mc_case "sweep: inf" "c.toml: sweep.rram.sigma_prog: expected a finite number, got inf" '[sweep]' '"rram.sigma_prog" = inf'
mc_case "sweep: string element" "c.toml: sweep.rram.sigma_prog: expected an array of numbers" '[sweep]' '"rram.sigma_prog" = ["0.1"]'
mc_case "sweep: boolean" "c.toml: sweep.rram.sigma_prog: expected a number or an array of numbers, got true" '[sweep]' '"rram.sigma_prog" = true'
mc_case "sweep: unknown key" "c.toml: sweep.rram.sigma_prgo: not a numeric hardware parameter" '[sweep]' '"rram.sigma_prgo" = [0.1]'
mc_case "sweep: string parameter" "c.toml: sweep.adc.calibration" '[sweep]' '"adc.calibration" = [1]'
mc_case "sweep: int fractional" "c.toml: ~~adc.bits~~4.5: must be a whole number" '[sweep]' '"adc.bits" = [4, 4.5]'
mc_case "sweep: first int fractional" "c.toml: sweep.adc.bits~~must be a whole number" '[sweep]' '"adc.bits" = [4.5]'
mc_case "sweep: later int beyond int" "c.toml: ~~adc.bits~~4294967304" '[sweep]' '"adc.bits" = [4, 4294967304]'
mc_case "sweep: int beyond int" "c.toml: sweep.adc.bits" '[sweep]' '"adc.bits" = [4294967304]'
mc_case "sweep: int out of range" "adc.bits' = 40" '[sweep]' '"adc.bits" = [4, 40]'
mc_case "sweep: negative" "rram.sigma_prog' = -1" '[sweep]' '"rram.sigma_prog" = [0.1, -1]'
mc_case "sweep: too many points" "c.toml: sweep: more than 100,000" '[sweep]' \
  "\"rram.sigma_prog\" = [$(seq -s, 0 0.01 3.2 | sed 's/,$//')]" "\"rram.sigma_read\" = [$(seq -s, 0 0.01 3.2 | sed 's/,$//')]"
axis=$(seq -s, 1 65536)  # 4 axes of 2^16 values: 2^64 points, which a plain size_t product wraps to 0
mc_case "sweep: 2^64 points" "c.toml: sweep: more than 100,000" '[sweep]' "\"rram.sigma_prog\" = [$axis]" \
  "\"rram.sigma_read\" = [$axis]" "\"rram.p_stuck_min\" = [$axis]" "\"rram.p_stuck_max\" = [$axis]"
mc_case "layer: not an ordinal" "c.toml: layer.x: expected a layer ordinal" '[layer.x.adc]' 'bits = 4'
mc_case "layer: huge ordinal" "c.toml: layer.99999999999999999999" '[layer.99999999999999999999.adc]' 'bits = 4'
mc_case "layer: value not a table" "c.toml: layer.0: expected section tables" '[layer]' '0 = 3'
mc_case "layer: bits beyond int" "c.toml: layer.0.adc.bits" '[layer.0.adc]' 'bits = 4294967304'
mc_case "layer: bits beyond 2^53" "c.toml: layer.0.adc.bits: ~~must be in [-2147483648, 2147483647]" '[layer.0.adc]' 'bits = 9007199254740993'
mc_case "layer: bits fractional" "c.toml: layer.0.adc.bits" '[layer.0.adc]' 'bits = 4.5'
mc_case "layer: nan" "c.toml: layer.0.rram.sigma_prog" '[layer.0.rram]' 'sigma_prog = nan'
mc_case "layer: inf" "c.toml: layer.0.rram.sigma_read" '[layer.0.rram]' 'sigma_read = inf'
mc_case "layer: flag from number" "c.toml: layer.0.dac.bit_serial" '[layer.0.dac]' 'bit_serial = 0.5'
mc_case "layer: array" "c.toml: layer.0.adc.bits" '[layer.0.adc]' 'bits = [4]'
mc_case "layer: enum bogus" "c.toml: layer 0~~'adc.calibration' = \"bogus\"" '[layer.0.adc]' 'calibration = "bogus"'
mc_case "layer: ordinal beyond the model" "layer" '[layer.7.adc]' 'bits = 4'
mc_case "subset beyond test set" "data.subset" '[data]' 'subset = 20000'
# the model file
mc_model() {
  conf c.toml '[model]' "path = \"$2\"" '[data]' 'subset = 20' 'calibration = 16'
  expect_error "mc: $1" "$2" mc c.toml --out keep.h5 --force --quiet --no-progress
}
mc_model "missing model" missing.h5
mc_model "model is a directory" adir
mc_model "model is a TOML file" ok.toml
mc_model "empty model file" empty.h5
mc_model "model truncated to half" half.h5
mc_model "model truncated to 800 bytes" head.h5
mc_model "results file as model" keep.h5
conf c.toml '[model]' 'path = ""'
expect_error "mc: empty model path" "c.toml: model.path: missing" mc c.toml --out keep.h5 --force --quiet --no-progress
conf c.toml '[model]' 'path = 3'
expect_error "mc: model path a number" "c.toml: model.path: expected a string, got 3" mc c.toml --out keep.h5 --force --quiet --no-progress
conf c.toml "$M" '[data]' 'subset = 20' 'calibration = 16' 'dir = "/nonexistent-data"'
expect_error "mc: missing data dir" "/nonexistent-data" mc c.toml --out keep.h5 --force --quiet --no-progress

# ---- correctnet ------------------------------------------------------------------------------------
cn_case() {
  local name=$1 want=$2
  shift 2
  conf c.toml "$M" "$@"
  expect_error "correctnet: $name" "$want" correctnet c.toml --out keep.h5 --force --quiet --no-progress
}
cn_case "ranks not numbers" "c.toml: compensation.ranks" '[compensation]' 'ranks = "4,x"'
cn_case "ranks negative" "c.toml: compensation.ranks" '[compensation]' 'ranks = "-1"'
cn_case "variation key unknown" "c.toml: compensation.variation_key" '[compensation]' 'variation_key = "rram.sigma"'
cn_case "sigma negative" "c.toml: parameter 'compensation.sigma' = -1" '[compensation]' 'sigma = -1'
cn_case "beta negative" "c.toml: parameter 'lipschitz.beta' = -1" '[lipschitz]' 'beta = -1'
cn_case "agent episodes 0" "c.toml: parameter 'agent.episodes' = 0" '[agent]' 'episodes = 0'
cn_case "search chips 0" "c.toml: parameter 'search.chips' = 0" '[search]' 'chips = 0'
cn_case "train key unknown" "c.toml: train.epochz: unknown key" '[train]' 'epochz = 1'

# ---- denoise ---------------------------------------------------------------------------------------
dn_case() {
  local name=$1 want=$2
  shift 2
  conf c.toml "$M" "$@"
  expect_error "denoise: $name" "$want" denoise c.toml --out keep.h5 --force --quiet --no-progress
}
dn_case "noise model unknown" "c.toml: parameter 'noise.model' = \"gaussian\"" '[noise]' 'model = "gaussian"'
dn_case "noise layers unknown" "c.toml: parameter 'noise.layers' = \"some\"" '[noise]' 'layers = "some"'
dn_case "levels not numbers" "c.toml: noise.levels" '[noise]' 'levels = "0.1,x"'
dn_case "level twice" "c.toml: noise.levels~~appears twice" '[noise]' 'levels = "0.1,0.1"'
dn_case "form unknown" "c.toml: denoise.forms~~'foo' is not a block form" '[denoise]' 'forms = "residual,foo"'
dn_case "budgets decreasing" "c.toml: denoise.budgets~~must increase" '[denoise]' 'budgets = "0.02,0.01"'
dn_case "analog level not a level" "c.toml: denoise.analog_level" '[noise]' 'levels = "0.1"' '[denoise]' 'analog_level = 0.2'
dn_case "key misspelt" "c.toml: denoise.epochz: unknown key (did you mean 'epochs'?)" '[denoise]' 'epochz = 1'
dn_case "section misspelt" "c.toml: denoize: unknown key (did you mean 'denoise'?)" '[denoize]' 'epochs = 1'
dn_case "rank images beyond the training set" "c.toml: denoise.rank_images~~exceeds the 60000 training images" \
  '[data]' 'subset = 20' 'calibration = 16' '[denoise]' 'rank_images = 60001'
[ -e keep.blocks ] && fail_now "denoise" "a failed denoise run created keep.blocks"

# ---- basisn ----------------------------------------------------------------------------------------
bn_case() {
  local name=$1 want=$2
  shift 2
  conf c.toml "$M" '[data]' 'subset = 20' 'calibration = 16' "$@"
  expect_error "basisn: $name" "$want" basisn c.toml --out keep.h5 --force --quiet --no-progress
}
expect_error "basisn: missing config" "config is required" basisn
bn_case "key misspelt" "c.toml: basisn.lenght: unknown key (did you mean 'length'?)" '[basisn]' 'lenght = 8'
bn_case "section misspelt" "c.toml: basis: unknown key (did you mean 'basisn'?)" '[basis]' 'size = 8'
bn_case "size beyond length" "c.toml: basisn.size: 9 exceeds basisn.length = 8" '[basisn]' 'length = 8' 'size = 9'
bn_case "init unknown" "c.toml: basisn.init: \"foo\": must be pretrained or scratch" '[basisn]' 'init = "foo"'
bn_case "coeff_mode unknown" "c.toml: basisn.coeff_mode: \"log\": must be pow2 or uniform" '[basisn]' 'coeff_mode = "log"'
bn_case "coeff_bits 1" "c.toml: basisn.coeff_bits: 1: must be 0 (float) or 2..16" '[basisn]' 'coeff_bits = 1'
bn_case "coeff_bits 17" "c.toml: parameter 'basisn.coeff_bits' = 17" '[basisn]' 'coeff_bits = 17'
bn_case "n_xbar not numbers" "c.toml: basisn.n_xbar: \"2,x\"" '[basisn]' 'n_xbar = "2,x"'
bn_case "n_xbar fractional" "c.toml: basisn.n_xbar: \"2.5\": crossbar counts must be integers" '[basisn]' 'n_xbar = "2.5"'
bn_case "n_xbar zero" "c.toml: basisn.n_xbar: \"0,2\"" '[basisn]' 'n_xbar = "0,2"'
bn_case "xbar_rows set" "c.toml: xbar_cost.xbar_rows: is set by mapping.tile_rows" '[xbar_cost]' 'xbar_rows = 64'
bn_case "xbar_cols set" "c.toml: xbar_cost.xbar_cols: is set by mapping.tile_cols" '[xbar_cost]' 'xbar_cols = 64'
bn_case "coefficients set" "c.toml: xbar_cost.coefficients: is set by basisn.coeff_mode" '[xbar_cost]' 'coefficients = "uniform"'
bn_case "n_wv out of range" "c.toml: parameter 'xbar_cost.n_wv' = 0: must be in" '[xbar_cost]' 'n_wv = 0'
bn_case "adc_bits out of range" "c.toml: parameter 'xbar_cost.adc_bits' = 41" '[xbar_cost]' 'adc_bits = 41'
bn_case "xbar_cost key unknown" "c.toml: xbar_cost.n_wvv: unknown key (did you mean 'n_wv'?)" '[xbar_cost]' 'n_wvv = 3'
bn_case "layers out of range" "c.toml: parameter 'basisn.layers' = \"0,7\": ordinal 7 out of range" '[basisn]' 'layers = "0,7"'
bn_case "train_images beyond the training set" "c.toml: basisn.train_images~~exceeds the 60000 training images" \
  '[basisn]' 'train_images = 60001'
conf c.toml '[model]' 'path = "missing.h5"' '[data]' 'subset = 20' 'calibration = 16'
expect_error "basisn: missing model" "c.toml: model.path = \"missing.h5\": model file not found" \
  basisn c.toml --out keep.h5 --force --quiet --no-progress
[ -e keep.basisn.h5 ] && fail_now "basisn" "a failed basisn run created keep.basisn.h5"

# ---- snn --------------------------------------------------------------------------------------------
sp_case() {
  local name=$1 want=$2
  shift 2
  conf c.toml "$M" '[data]' 'subset = 20' 'calibration = 16' "$@"
  expect_error "snn: $name" "$want" snn c.toml --out keep.h5 --force --quiet --no-progress
}
expect_error "snn: missing config" "config is required" snn
sp_case "not a spiking model" "c.toml: model.path: \"m.h5\" is not a spiking network (no snn_encode layer"
sp_case "readout set" "c.toml: mapping.readout: is set by each variant of this study" '[mapping]' 'readout = "adc"'
sp_case "key misspelt" "c.toml: snn.hwa_epoch: unknown key (did you mean 'hwa_epochs'?)" '[snn]' 'hwa_epoch = 1'
sp_case "section misspelt" "c.toml: snn_costs: unknown key (did you mean 'snn_cost'?)" '[snn_costs]' 't_read_s = 1e-9'
sp_case "lr zero" "c.toml: parameter 'snn.lr' = 0" '[snn]' 'lr = 0'
sp_case "weight noise unknown" "c.toml: parameter 'snn.weight_noise' = \"gauss\"" '[snn]' 'weight_noise = "gauss"'
sp_case "adc_mux unknown" "c.toml: parameter 'snn_cost.adc_mux' = \"time\"" '[snn_cost]' 'adc_mux = "time"'
sp_case "cols_per_adc zero" "c.toml: parameter 'snn_cost.cols_per_adc' = 0" '[snn_cost]' 'cols_per_adc = 0'
sp_case "train_images beyond the training set" "c.toml: snn.train_images~~exceeds the 60000 training images" \
  '[snn]' 'train_images = 60001'
conf c.toml '[model]' 'path = "missing.h5"' '[data]' 'subset = 20' 'calibration = 16'
expect_error "snn: missing model" "c.toml: model.path = \"missing.h5\": model file not found" \
  snn c.toml --out keep.h5 --force --quiet --no-progress
ls keep.hwa.* keep.progressive.* > /dev/null 2>&1 && fail_now "snn" "a failed snn run created a fine-tuned model file"

# ---- onchip -----------------------------------------------------------------------------------------
oc_case() {
  local name=$1 want=$2
  shift 2
  conf c.toml "$@"  # every case fails while the config is read, before any training
  expect_error "onchip: $name" "$want" onchip c.toml --out keep.h5 --force --quiet --no-progress
}
expect_error "onchip: missing config" "config is required" onchip
expect_error "onchip: config not found" "nope.toml" onchip nope.toml --out keep.h5 --force --quiet --no-progress
conf c.toml '[study]' 'chips = 2' 'folds = 2' '[onchip]' 'epochs = 1'
expect_error "onchip: results exist" "keep.h5~~exists" onchip c.toml --out keep.h5 --quiet --no-progress
oc_case "section misspelt" "c.toml: mosfet_updates: unknown key (did you mean 'mosfet_update'?)" '[mosfet_updates]' 'sigma_pulse = 0.1'
oc_case "key misspelt" "c.toml: onchip.epoch: unknown key (did you mean 'epochs'?)" '[onchip]' 'epoch = 3'
oc_case "levels one" "c.toml: parameter 'onchip.levels' = 1" '[onchip]' 'levels = 1'
oc_case "rounding unknown" "c.toml: parameter 'onchip.rounding' = \"floor\"" '[onchip]' 'rounding = "floor"'
oc_case "chips one" "c.toml: parameter 'study.chips' = 1" '[study]' 'chips = 1'
oc_case "folds beyond a class" "c.toml: parameter 'study.folds' = 51" '[study]' 'folds = 51'
oc_case "hidden not an array" "c.toml: study.hidden: expected an array of hidden-layer sizes, got 4" '[study]' 'hidden = 4'
oc_case "hidden zero" "c.toml: study.hidden: layer size 0 not in [1, 4096]" '[study]' 'hidden = [0]'
oc_case "device unknown" "c.toml: study.devices: unknown device 'pcm' (valid: float, mosfet, rram)" '[study]' 'devices = ["pcm"]'
oc_case "device twice" "c.toml: study.devices: 'rram' listed twice" '[study]' 'devices = ["rram", "rram"]'
oc_case "mosfet step set" "c.toml: mosfet.dv_g_step_V: not used by aimc onchip" '[mosfet]' 'dv_g_step_V = 0.01'
oc_case "mosfet x_max set" "c.toml: mosfet.x_max: not used by aimc onchip" '[mosfet]' 'x_max = 2'
oc_case "rram range inverted" "c.toml: parameter 'g_max_S'" '[rram_pulse]' 'g_max_S = 1e-7'
oc_case "leak negative" "c.toml: parameter 'mosfet_update.tau_leak_s' = -1" '[mosfet_update]' 'tau_leak_s = -1'
oc_case "sweep unknown section" "c.toml: sweep.rram: unknown key" '[sweep.rram]' 'nu_ltp = [1]'
oc_case "sweep unknown key" "c.toml: sweep.onchip.level: not a numeric parameter of [onchip]" '[sweep.onchip]' 'level = [8]'
oc_case "sweep a string key" "c.toml: sweep.onchip.rounding: not a numeric parameter of [onchip]" '[sweep.onchip]' 'rounding = [1]'
oc_case "sweep bad value" "c.toml: sweep.onchip.levels~~parameter 'onchip.levels' = 1" '[sweep.onchip]' 'levels = [8, 1]'
oc_case "sweep empty" "c.toml: sweep.mosfet.a_vt_Vm" '[sweep.mosfet]' 'a_vt_Vm = []'
oc_case "iris file missing" "missing.csv" '[study]' 'iris_csv = "missing.csv"'

# ---- hardnn ----------------------------------------------------------------------------------------
hd_case() {
  local name=$1 want=$2
  shift 2
  conf c.toml "$M" "$@"
  expect_error "hardnn: $name" "$want" hardnn c.toml --out keep.h5 --force --quiet --no-progress
}
hd_case "unknown key" "c.toml: hardnn.marginn: unknown key" '[hardnn]' 'marginn = 0.1'
hd_case "sweep section" "c.toml: sweep: unknown key" '[sweep]' '"rram.sigma_prog" = [0.1]'
hd_case "error_model bogus" "parameter 'hardnn.error_model' = \"bogus\"" '[hardnn]' 'error_model = "bogus"'
hd_case "rank_by bogus" "parameter 'hardnn.rank_by' = \"bogus\"" '[hardnn]' 'rank_by = "bogus"'
hd_case "propagation bogus" "parameter 'hardnn.propagation' = \"sparse\"" '[hardnn]' 'propagation = "sparse"'
hd_case "max_injections beyond int" "c.toml: parameter 'hardnn.max_injections' = 4294967304" '[hardnn]' 'max_injections = 4294967304'
hd_case "max_injections fractional" "c.toml: hardnn.max_injections: expected an integer, got 2.5" '[hardnn]' 'max_injections = 2.5'
hd_case "seed negative" "c.toml: parameter 'hardnn.seed' = -1" '[hardnn]' 'seed = -1'
hd_case "margin nan" "c.toml: hardnn.margin: expected a finite number, got nan" '[hardnn]' 'margin = nan'
hd_case "loss_cap inf" "c.toml: hardnn.loss_cap: expected a finite number, got inf" '[hardnn]' 'loss_cap = inf'
hd_case "margin a string" "c.toml: hardnn.margin: expected a number, got \"x\"" '[hardnn]' 'margin = "x"'
hd_case "verify_overheads nan" "hardnn.verify_overheads" '[hardnn]' 'verify_overheads = "0.1,nan"'
hd_case "verify_overheads empty item" "hardnn.verify_overheads" '[hardnn]' 'verify_overheads = "0.1,,0.3"'
hd_case "verify_overheads array" "c.toml: hardnn.verify_overheads: expected a string, got an array" '[hardnn]' 'verify_overheads = [0.1, 0.3]'
hd_case "layers huge ordinal" "hardnn.layers" '[hardnn]' 'layers = "99999999999999999999"'
hd_case "layers negative" "hardnn.layers" '[hardnn]' 'layers = "-1"'
hd_case "layers beyond the model" "hardnn.layers" '[hardnn]' 'layers = "0,50"'
hd_case "adc bits beyond int" "c.toml: parameter 'adc.bits' = 4294967304" '[hardnn]' 'error_model = "analog"' '[adc]' 'bits = 4294967304'
hd_case "layer override nan" "c.toml: layer.0.rram.sigma_prog" '[hardnn]' 'error_model = "analog"' '[layer.0.rram]' 'sigma_prog = nan'
hd_model() {
  conf c.toml '[model]' "path = \"$2\"" '[data]' 'subset = 20'
  expect_error "hardnn: $1" "$2" hardnn c.toml --out keep.h5 --force --quiet --no-progress
}
hd_model "missing model" missing.h5
hd_model "model is a directory" adir
hd_model "model is a TOML file" ok.toml
hd_model "model truncated to half" half.h5
hd_model "model truncated to 800 bytes" head.h5

# ---- snr -------------------------------------------------------------------------------------------
snr_case() {
  local name=$1 want=$2
  shift 2
  conf c.toml "$@"
  expect_error "snr: $name" "$want" snr c.toml --out keep.h5 --force --quiet --no-progress
}
snr_case "unknown key" "c.toml: snr.sample: unknown key (did you mean 'samples'?)" '[snr]' 'sample = 10'
snr_case "model section of mc" "c.toml: model: unknown key" '[model]' 'path = "m.h5"'
snr_case "models bogus" "models: unknown compute model 'bogus'" '[snr]' 'models = "qs,bogus"'
snr_case "models empty" "models: empty" '[snr]' 'models = ""'
snr_case "models array" "c.toml: snr.models: expected a string, got an array" '[snr]' 'models = ["qs"]'
snr_case "samples beyond int" "c.toml: parameter 'snr.samples' = 4294967304" '[snr]' 'samples = 4294967304'
snr_case "samples fractional" "c.toml: snr.samples: expected an integer, got 2.5" '[snr]' 'samples = 2.5'
snr_case "samples negative" "c.toml: parameter 'snr.samples' = -5" '[snr]' 'samples = -5'
snr_case "seed beyond int" "c.toml: parameter 'snr.seed' = 2147483648" '[snr]' 'seed = 2147483648'
snr_case "confidence nan" "c.toml: snr.confidence: expected a finite number, got nan" '[snr]' 'confidence = nan'
snr_case "confidence inf" "c.toml: snr.confidence: expected a finite number, got inf" '[snr]' 'confidence = inf'
snr_case "confidence boolean" "c.toml: snr.confidence: expected a number, got true" '[snr]' 'confidence = true'
snr_case "qs swing_rule bogus" "parameter 'qs.swing_rule' = \"bogus\"" '[qs]' 'swing_rule = "bogus"'
snr_case "qs technology bogus" "c.toml: qs.technology" '[qs]' 'technology = "1nm"'
snr_case "qs technology number" "c.toml: qs.technology: expected a preset name string" '[qs]' 'technology = 65'
snr_case "qs n_rows beyond int" "c.toml: parameter 'qs.n_rows' = 4294967304" '[qs]' 'n_rows = 4294967304'
snr_case "qs v_dd_V -inf" "c.toml: qs.v_dd_V: expected a finite number, got -inf" '[qs]' 'v_dd_V = -inf'
snr_case "qs value a table" "c.toml: qs.n_rows: expected an integer, got a table" '[qs.n_rows]' 'x = 1'
snr_case "qs section a value" "c.toml: qs: expected a table" 'qs = 1'
snr_case "mpc delta_db nan" "c.toml: mpc.delta_db: expected a finite number, got nan" '[mpc]' 'delta_db = nan'
snr_case "sweep: empty" "c.toml: sweep.qs.t0_s: empty array" '[sweep.qs]' 't0_s = []'
snr_case "sweep: nan" "c.toml: sweep.qs.t0_s: expected a finite number, got nan" '[sweep.qs]' 't0_s = [1e-13, nan]'
snr_case "sweep: inf common" "c.toml: sweep.v_dd_V: expected a finite number, got inf" '[snr]' 'models = "qs"' '[sweep]' 'v_dd_V = [inf]'
snr_case "sweep: int fractional" "n_rows" '[snr]' 'models = "qs"' '[sweep.qs]' 'n_rows = [64, 64.5]'
snr_case "sweep: int beyond int" "n_rows" '[snr]' 'models = "qs"' '[sweep.qs]' 'n_rows = [4294967304]'
snr_case "sweep: 2^64 points" "c.toml: sweep: more than 100,000 sweep points for qs" '[snr]' 'models = "qs"' \
  '[sweep.qs]' "t0_s = [$axis]" "k_clip = [$axis]" "v_wl_rel = [$axis]" "c_bl_extra_F = [$axis]"
snr_case "sweep: unknown" "c.toml: sweep.qs.t0: not a numeric parameter of the qs model" '[sweep.qs]' 't0 = [1e-13]'
snr_case "sweep: sub-table of no model" "c.toml: sweep.xx" '[sweep.xx]' 'a = [1]'
snr_case "sweep: technology empty" "c.toml: sweep.technology: empty array" '[sweep]' 'technology = []'
snr_case "sweep: technology bogus" "c.toml: sweep.technology" '[sweep]' 'technology = ["65nm", "1nm"]'
snr_case "sweep: technology numbers" "c.toml: sweep.technology: expected preset name strings" '[sweep]' 'technology = [65]'
snr_case "accumulation: n missing" "c.toml: accumulation.n: missing" '[accumulation]' 'mantissa_bits = [4]'
snr_case "accumulation: n nan" "c.toml: accumulation.n" '[accumulation]' 'n = [nan]' 'mantissa_bits = [4]'
snr_case "accumulation: n fractional" "c.toml: accumulation.n" '[accumulation]' 'n = [10.5]' 'mantissa_bits = [4]'
snr_case "accumulation: n empty" "c.toml: accumulation.n: empty array" '[accumulation]' 'n = []' 'mantissa_bits = [4]'
snr_case "accumulation: mantissa huge" "c.toml: accumulation.mantissa_bits" '[accumulation]' 'n = [10]' 'mantissa_bits = [1e300]'
snr_case "accumulation: trials inf" "c.toml: accumulation.trials: expected an integer, got inf" '[accumulation]' 'n = [10]' 'mantissa_bits = [4]' 'trials = inf'
snr_case "accumulation: vrr_min nan" "c.toml: accumulation.vrr_min: expected a finite number, got nan" '[accumulation]' 'n = [10]' 'mantissa_bits = [4]' 'vrr_min = nan'
snr_case "accumulation: unknown key" "c.toml: accumulation.trial: unknown key" '[accumulation]' 'n = [10]' 'mantissa_bits = [4]' 'trial = 3'

# ---- train CONFIG.toml -----------------------------------------------------------------------------
# train_case NAME SUBSTRING LINES...: a training config of LINES must fail with SUBSTRING, keep.h5 untouched.
train_case() {
  local name=$1 want=$2
  shift 2
  conf t.toml "$@"
  expect_error "train config: $name" "$want" train t.toml --out keep.h5 --force
}
A='[model]
architecture = "mlp"'
expect_error "train config: missing config" "missing.toml: cannot open config file" train missing.toml --out keep.h5 --force
train_case "broken TOML" "t.toml:1:" '[model'
train_case "unknown key" "t.toml: train.epochz: unknown key (did you mean 'epochs'?)" "$A" '[train]' 'epochz = 2'
train_case "unknown hwa key" "t.toml: hwa.sigma: unknown key" "$A" '[hwa]' 'sigma = 0.1'
train_case "bad value" "t.toml: parameter 'train.lr' = -1" "$A" '[train]' 'lr = -1'
train_case "bad hwa value" "t.toml: parameter 'hwa.io' = \"digital\"" "$A" '[hwa]' 'io = "digital"'
train_case "seed beyond int" "t.toml: parameter 'train.seed' = 4294967304" "$A" '[train]' 'seed = 4294967304'
train_case "sweep section" "t.toml: sweep: a training config describes one hardware point" "$A" '[sweep]' '"rram.sigma_prog" = [0.1]'
train_case "mc section" "t.toml: mc: a training config describes one hardware point" "$A" '[mc]' 'trials = 3'
train_case "hardware without [hwa]" "t.toml: dac: hardware sections configure hardware-aware training" "$A" '[dac]' 'bits = 8'
train_case "no model" "t.toml: model: missing" '[train]' 'epochs = 1'
train_case "architecture and path" "t.toml: parameter 'model.path'" "$A" 'path = "m.h5"'
train_case "model file missing" "t.toml: model.path = \"nope.h5\": model file not found" '[model]' 'path = "nope.h5"'
# errors found after the data are loaded are one line too (no header line before them)
train_case "analog_layers out of range" "t.toml: parameter 'mapping.analog_layers' = \"5\"" "$A" '[data]' \
  'train_limit = 50' 'subset = 50' '[hwa]' '[mapping]' 'analog_layers = "5"'
train_case "override beyond the network" "t.toml: layer.4: the network has 3 Dense/Conv2d layers" "$A" '[data]' \
  'train_limit = 50' 'subset = 50' '[hwa]' '[layer.4.adc]' 'bits = 4'
expect_error "train config: both a config and --model" "train: both a config file (t.toml) and --model given" \
  train t.toml --model mlp --out keep.h5 --force
expect_error "train config: --epochs with a config" "train: --epochs is an option of \`aimc train --model\`~~[train] epochs" \
  train t.toml --epochs 2 --out keep.h5 --force
conf ok_train.toml "$A" '[data]' 'train_limit = 100' 'subset = 100'
expect_error "train config: model file exists" "pass --force" train ok_train.toml --out keep.h5

# a tiny hardware-aware run: the model file records it and `aimc eval` says so
conf hwa.toml '[model]' 'path = "m.h5"' '[data]' 'train_limit = 300' 'subset = 200' 'calibration = 64' \
  '[train]' 'epochs = 1' 'seed = 3' '[hwa]' 'weight_noise = "additive"' 'sigma_w = 0.02' 'io = "quantized"' \
  '[dac]' 'bits = 8' '[adc]' 'bits = 8'
cases=$((cases + 1))
if "$aimc" --threads 2 train hwa.toml --out hwa.h5 > out.txt 2> err.txt; then
  grep -q "^hardware-aware training of 3 of 3 Dense/Conv2d layers" err.txt ||
    fail_now "train config" "no HWA header line on stderr: $(head -c 300 err.txt)"
  "$aimc" eval --model hwa.h5 --limit 100 > out.txt 2> err.txt || fail_now "eval of hwa.h5" "$(head -c 300 err.txt)"
  grep -q "^hardware-aware trained (epochs 1, fine-tuned from m.h5 .*hwa weight_noise = additive, sigma_w = 0.02, io = quantized.*seed 3" out.txt ||
    fail_now "eval of hwa.h5" "no line saying how it was trained: $(tr '\n' '|' < out.txt)"
  [ "$(h5dump -a /hwa.weight_noise hwa.h5 | awk '/\(0\)/{print $2}')" = '"additive"' ] ||
    fail_now "train config" "attribute hwa.weight_noise of hwa.h5: $(h5dump -a /hwa.weight_noise hwa.h5 | head -c 300)"
else
  fail_now "train config" "the HWA run failed: $(head -c 300 err.txt)"
fi
# aimc mc takes the DAC full scales hwa.h5 records (io = "quantized") with mapping.input_range = "model";
# a model without them is a one-line error naming the key
conf c.toml '[model]' 'path = "hwa.h5"' '[data]' 'subset = 20' 'calibration = 16' '[mc]' 'trials = 1' \
  '[mapping]' 'input_range = "model"'
cases=$((cases + 1))
"$aimc" --threads 2 mc c.toml --out hwa_mc.h5 --quiet --no-progress > out.txt 2> err.txt ||
  fail_now "mc of hwa.h5 with mapping.input_range = model" "$(head -c 300 err.txt)"
mc_case "input_range = model without recorded ranges" "c.toml: ~~parameter 'mapping.input_range' = \"model\"" \
  '[mapping]' 'input_range = "model"'

# nothing but keep.h5 and the inputs may be left behind by the failed runs
for f in t.h5 keep.h5.journal; do
  [ -e "$f" ] && fail_now "leftovers" "a failed run left $f behind"
done

echo "$cases cases, $failures failed, $pending_cases known bugs pending a fix elsewhere (XFAIL)"
[ "$failures" = 0 ]
