#!/usr/bin/env bash
# `aimc mc` end to end against the PyTorch loop it is compared with (bench/README.md, "aimc mc against
# a PyTorch loop"): ms per batch-100 MLP trial of each, and the throughput ratio torch / aimc.
#
#   AIMC=./build/aimc MODEL=build/mlp.h5 bench/mc_vs_torch.sh
#
# Environment: AIMC (default ./build/aimc), MODEL (an aimc model file of the reference MLP, format 2;
# default build/mlp.h5), PYTHON (a Python 3 with torch, h5py, numpy; default /usr/bin/python3),
# REPEATS (default 3), TRIALS (default 2000). Runs from the repository root; a repeat took about
# 1.5 minutes on a loaded 2-core machine, most of it the 2-thread torch case (bench/README.md).
#
# Cases, interleaved repeat by repeat (A B C ... A B C ...) so load from other processes affects all
# alike; the median of each is reported:
#   aimc           aimc mc bench/mc_vs_torch.toml, defaults on (per-layer SNR), all cores: the whole
#                  process (start-up, calibration, trials, results file) / TRIALS
#   aimc nosnr     the same with mc.snr_samples = 0
#   aimc start     the same with mc.trials = 1: start-up, calibration, one trial, results file
#   torch 1t       bench/torch_mc_peer.py --threads 1 (the issue's reference): its trial loop / TRIALS;
#                  its whole process (Python and torch start-up included) is reported beside it
#   torch 2t       the same with --threads 2
#   torch 2t pass  --threads 2 with OMP_WAIT_POLICY=PASSIVE (OpenMP threads sleep instead of spinning
#                  at torch's fork/joins, which matters on a loaded machine)
# Wall time is what the ratio uses; CPU time (user + sys of all threads; for torch, of its trial loop)
# is printed beside it because it depends less on the load from other processes.
set -euo pipefail

cd "$(dirname "$0")/.."
AIMC=${AIMC:-./build/aimc}
MODEL=${MODEL:-build/mlp.h5}
PYTHON=${PYTHON:-/usr/bin/python3}
REPEATS=${REPEATS:-3}
TRIALS=${TRIALS:-2000}
CONFIG=bench/mc_vs_torch.toml
PEER=bench/torch_mc_peer.py

die() { echo "mc_vs_torch.sh: $*" >&2; exit 1; }
[ -x "$AIMC" ] || die "no aimc binary at $AIMC (build it: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && make -C build -j2 aimc; or set AIMC)"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (Debian package time)"
"$PYTHON" -c 'import torch, h5py, numpy' 2>/dev/null ||
  die "$PYTHON cannot import torch, h5py and numpy (Debian: apt-get install python3-torch python3-h5py libopenblas0-pthread; or set PYTHON)"
[ -f "$MODEL" ] || die "no model file $MODEL (make it: $AIMC train --model mlp --out $MODEL; or set MODEL)"
version=$("$PYTHON" -c 'import h5py, sys; print(int(h5py.File(sys.argv[1], "r").attrs.get("format_version", 0)))' "$MODEL") ||
  die "$MODEL: not readable as an aimc model file"
[ "$version" = 2 ] ||
  die "$MODEL: model file format_version $version, the peer reads format 2 (make one: $AIMC train --model mlp --out /tmp/mlp_v2.h5, then MODEL=/tmp/mlp_v2.h5)"
[[ "$REPEATS" =~ ^[1-9][0-9]*$ && "$TRIALS" =~ ^[1-9][0-9]*$ && "$TRIALS" -ge 2 ]] ||
  die "REPEATS must be a positive integer and TRIALS an integer >= 2"

work=$(mktemp -d /tmp/mc_vs_torch.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Config variants: the model path, the trial count and, for the breakdown, snr_samples = 0 and trials = 1.
model_abs=$(realpath "$MODEL")
variant() {  # variant NAME TRIALS [extra line for the [mc] section, which is last]
  sed -e "s#^path = .*#path = \"$model_abs\"#" -e "s#^trials = .*#trials = $2#" "$CONFIG" > "$work/$1.toml"
  [ $# -lt 3 ] || printf '%s\n' "$3" >> "$work/$1.toml"
}
variant full "$TRIALS"
variant nosnr "$TRIALS" "snr_samples = 0"
variant start 1

declare -A wall cpu   # case -> space-separated seconds, one per repeat
add() { wall[$1]="${wall[$1]:-}$2 "; cpu[$1]="${cpu[$1]:-}$3 "; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a - b }'; }

timed() {  # timed LOG CMD...: runs CMD with stdout and stderr to LOG; sets T_WALL, T_CPU (seconds)
  local log=$1 t0 t1
  shift
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%U %S' -o "$log.time" "$@" > "$log" 2>&1 || { cat "$log" >&2; die "failed: $*"; }
  t1=$EPOCHREALTIME
  T_WALL=$(sub "$t1" "$t0")
  T_CPU=$(awk '{ s = $1 + $2 } END { printf "%.4f", s }' "$log.time")
}

run_aimc() {  # run_aimc CASE VARIANT
  timed "$work/$2.log" "$AIMC" mc "$work/$2.toml" --out "$work/$2.h5" --force
  add "$1" "$T_WALL" "$T_CPU"
}

run_torch() {  # run_torch CASE THREADS [VAR=VALUE...]
  local c=$1 n=$2 log line
  shift 2
  log="$work/torch_${c// /_}.log"
  timed "$log" env "$@" "$PYTHON" "$PEER" "$MODEL" --trials "$TRIALS" --threads "$n"
  add "$c process" "$T_WALL" "$T_CPU"
  line=$(grep '^RESULT ' "$log") || die "$PEER printed no RESULT line"
  add "$c" "$(sed -e 's/.* loop_s=\([0-9.]*\).*/\1/' <<< "$line")" "$(sed -e 's/.* loop_cpu_s=\([0-9.]*\).*/\1/' <<< "$line")"
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
per_trial_ms() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.3f", 1e3 * s / n }'; }
load() { uptime | sed 's/.*load average: //'; }

cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/.*: //')
echo "mc_vs_torch.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($cpu_model), $TRIALS trials x $REPEATS repeats"
echo "  aimc $AIMC, model $MODEL, python $PYTHON"
echo "  load average before: $(load)"

for r in $(seq "$REPEATS"); do
  run_aimc "aimc" full
  run_torch "torch 1t" 1
  run_torch "torch 2t" 2
  run_aimc "aimc nosnr" nosnr
  run_torch "torch 2t pass" 2 OMP_WAIT_POLICY=PASSIVE
  run_aimc "aimc start" start
  echo "  repeat $r/$REPEATS done, load average $(load)"
done

echo "  BLAS of the peer:"
sed -n '1,4p' "$work/torch_torch_1t.log" | sed 's/^/    /'
echo "  accuracy, last repeat: aimc $(grep -A1 'mean acc' "$work/full.log" | tail -1 | awk '{ print $2 " (sd " $3 ")" }')," \
     "torch 1t $(grep -o 'accuracy [0-9.]* +- [0-9.]*' "$work/torch_torch_1t.log" | sed 's/accuracy //')"
echo
printf '%-38s %9s %10s %10s   %s\n' "case (median of $REPEATS)" "wall s" "ms/trial" "CPU ms/tr" "wall s of each repeat"
for c in "aimc" "aimc nosnr" "aimc start" "torch 1t" "torch 1t process" "torch 2t" "torch 2t process" "torch 2t pass" "torch 2t pass process"; do
  w=$(median <<< "${wall[$c]}")
  u=$(median <<< "${cpu[$c]}")
  case $c in
    aimc) label="aimc mc, defaults (SNR on), $(nproc) threads" ;;
    "aimc nosnr") label="aimc mc, snr_samples = 0" ;;
    "aimc start") label="aimc mc, trials = 1 (start-up)" ;;
    "torch 1t") label="torch loop, 1 thread" ;;
    "torch 2t") label="torch loop, 2 threads" ;;
    "torch 2t pass") label="torch loop, 2 threads, OMP passive" ;;
    *) label="  ${c% process}, whole process" ;;
  esac
  if [ "$c" = "aimc start" ]; then ms="-"; cms="-"; else ms=$(per_trial_ms "$w" "$TRIALS"); cms=$(per_trial_ms "$u" "$TRIALS"); fi
  printf '%-38s %9.3f %10s %10s   %s\n' "$label" "$w" "$ms" "$cms" "${wall[$c]}"
done

aimc_w=$(median <<< "${wall[aimc]}")
aimc_c=$(median <<< "${cpu[aimc]}")
start_w=$(median <<< "${wall[aimc start]}")
echo
awk -v a="$aimc_w" -v s="$start_w" -v n="$TRIALS" 'BEGIN {
  printf "aimc per trial without start-up: (%.3f - %.3f) s / %d = %.3f ms\n", a, s, n - 1, 1e3 * (a - s) / (n - 1) }'
for c in "torch 1t" "torch 2t" "torch 2t pass"; do
  w=$(median <<< "${wall[$c]}")
  p=$(median <<< "${wall[$c process]}")
  u=$(median <<< "${cpu[$c]}")
  awk -v a="$aimc_w" -v ac="$aimc_c" -v w="$w" -v p="$p" -v u="$u" -v c="$c" 'BEGIN {
    printf "ratio %-13s / aimc: %.2fx throughput (wall)%s; whole torch process %.2fx; CPU time %.2fx\n",
      c, w / a, (c == "torch 1t") ? ", target >= 2x" : "", p / a, u / ac }'
done
echo "  load average after: $(load)"
