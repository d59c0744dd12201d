#!/usr/bin/env bash
# `aimc hardnn` against a hand-written PyTorch HarDNN campaign on the same model file (bench/README.md,
# "aimc hardnn against a PyTorch campaign", issue 21): injections/s of each, and per layer the speed-up of
# incremental propagation over recomputing the suffix.
#
#   bench/hardnn_vs_torch.sh MODEL.h5 [SUBSET] [INJECTIONS]
#   bench/hardnn_vs_torch.sh build/cnn.h5 1000 9604      # the defaults: configs/hardnn_cnn.toml's campaign
#   bench/hardnn_vs_torch.sh build/resnet8.h5 1000 2000  # ResNet-8 (aimc train --model resnet8)
#
# MODEL: an aimc model file, format 2: any graph of conv2d / dense / batchnorm / relu / add / maxpool2d /
# globalavgpool / flatten nodes the peer rebuilds, e.g. the reference CNN (aimc train --model cnn --out
# build/cnn.h5) or ResNet-8 (--model resnet8); SUBSET: first test images injections draw from (default
# 1000); INJECTIONS: hardnn.max_injections with margin 0.01 (9,604 injections per fmap at 95%), default 9604.
# Environment: AIMC (default ./build/aimc), PYTHON (a Python 3 with torch, h5py, numpy; default
# /usr/bin/python3, as bench/mc_vs_torch.sh), PER_LAYER (1: also run every Dense/Conv2d layer alone, the
# default; 0: skip), BATCH (rows per suffix forward of the peer, default 512), MEMORY_FORMAT (the peer's
# 4-D tensor layout: channels_last, the default, or contiguous). Runs from the repository root.
#
# Runs, one after the other (each once: a campaign is long enough to average the load over itself):
#   aimc incremental   aimc --threads 2 hardnn, bitflip_fixed 8 bits, verify_injections = 0,
#                      propagation = "incremental" (nets/delta.hpp)
#   aimc full          the same with propagation = "full" (the suffix recomputed for a batch of 64 rows)
#   torch 2 procs      bench/torch_hardnn_peer.py --procs 2 --threads 1 (one process per core)
#   torch 1 proc       bench/torch_hardnn_peer.py --procs 1 --threads 2
#   per layer          aimc with hardnn.layers = "0", "1", ... incremental and full; torch's per-layer rate
#                      is the 2-process run's estimate (the layer's summed job time / 2), no extra run.
# aimc's rates are its summary's "campaign X s (Y k injections/s)" (phase 1 only: no clean pass, heuristics
# or results file); per layer, where that rounds to 0.0 s, /timing/campaign_seconds of the results file.
# The peer's rate is its injection loop (fork and the pool included, start-up and clean pass not).
set -euo pipefail

cd "$(dirname "$0")/.."
AIMC=${AIMC:-./build/aimc}
PYTHON=${PYTHON:-/usr/bin/python3}
PER_LAYER=${PER_LAYER:-1}
BATCH=${BATCH:-512}
MEMORY_FORMAT=${MEMORY_FORMAT:-channels_last}
PEER=bench/torch_hardnn_peer.py

die() { echo "hardnn_vs_torch.sh: $*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 3 ] || die "usage: bench/hardnn_vs_torch.sh MODEL.h5 [SUBSET (1000)] [INJECTIONS (9604)]"
MODEL=$1
SUBSET=${2:-1000}
INJECTIONS=${3:-9604}
[ -x "$AIMC" ] || die "no aimc binary at $AIMC (build it: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && make -C build -j2 aimc; or set AIMC)"
"$PYTHON" -c 'import torch, h5py, numpy' 2>/dev/null ||
  die "$PYTHON cannot import torch, h5py and numpy (Debian: apt-get install python3-torch python3-h5py libopenblas0-pthread; or set PYTHON)"
[ -f "$MODEL" ] || die "no model file $MODEL (make it: $AIMC train --model cnn --out $MODEL, or --model resnet8)"
[[ "$SUBSET" =~ ^[1-9][0-9]*$ && "$INJECTIONS" =~ ^[1-9][0-9]*$ && "$BATCH" =~ ^[1-9][0-9]*$ ]] ||
  die "SUBSET, INJECTIONS and BATCH must be positive integers"
# Dense/Conv2d layers of the model (also checks that the file is a format 2 model), and a name for the
# graph (the peer itself reads any graph of the kinds above and says which node it cannot rebuild).
matmul=$("$PYTHON" - "$MODEL" <<'EOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
if int(f.attrs.get("format_version", 0)) != 2:
    sys.exit(f"{sys.argv[1]}: model file format_version {int(f.attrs.get('format_version', 0))}; the peer reads format 2")
kinds = [f["layers"][n].attrs["kind"] for n in sorted(f["layers"])]
kinds = [k.decode() if isinstance(k, bytes) else str(k) for k in kinds]
print(" ".join(f"{i}:{k}" for i, k in enumerate(kinds) if k in ("conv2d", "dense")))
nc = sum(k == "conv2d" for k in kinds)
arch = f"residual graph ({kinds.count('add')} add nodes, {kinds.count('batchnorm')} batchnorm)" if "add" in kinds else "chain"
print(f"{arch}, {nc} conv2d + {sum(k == 'dense' for k in kinds)} dense, {len(kinds)} nodes")
EOF
) || die "$MODEL: not readable as an aimc model file, format 2"
graph=$(tail -1 <<< "$matmul")
matmul=$(head -1 <<< "$matmul")

work=$(mktemp -d /tmp/hardnn_vs_torch.XXXXXX)
trap 'rm -rf "$work"' EXIT
model_abs=$(realpath "$MODEL")
config() {  # config NAME PROPAGATION LAYERS
  cat > "$work/$1.toml" <<EOF
[model]
path = "$model_abs"
[data]
subset = $SUBSET
[hardnn]
error_model = "bitflip_fixed"
bits = 8
margin = 0.01
confidence = 0.95
max_injections = $INJECTIONS
verify_injections = 0
seed = 1
layers = "$3"
propagation = "$2"
EOF
}

load() { uptime | sed 's/.*load average: //'; }
run_aimc() {  # run_aimc NAME: sets A_S (campaign s), A_K (k inj/s), A_N (injections per fmap), A_F (fmaps)
  "$AIMC" --threads 2 hardnn "$work/$1.toml" --out "$work/$1.h5" --force > "$work/$1.log" 2>&1 ||
    { cat "$work/$1.log" >&2; die "aimc hardnn failed ($1)"; }
  local line
  line=$(grep -E '^campaign [0-9.]+ s \([0-9.a-z]+ k injections/s\)' "$work/$1.log") || die "$1: no campaign line in aimc's summary"
  A_S=$(sed -E 's/^campaign ([0-9.]+) s.*/\1/' <<< "$line")
  A_K=$(sed -E 's/^campaign [0-9.]+ s \(([0-9.a-z]+) k.*/\1/' <<< "$line")
  read -r A_F A_N < <(sed -nE 's/.*, ([0-9]+) fmaps x ([0-9]+) injections on.*/\1 \2/p' "$work/$1.log")
  # Precise campaign seconds and rates from the results file (the summary prints 0.1 s).
  read -r A_SEC A_KP A_PU < <("$PYTHON" - "$work/$1.h5" <<'EOF'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
s = float(f["timing/campaign_seconds"][()][0])
n, k = f["fmaps/injections"][()].astype(float), f["fmaps/mismatches"][()].astype(float)
print(f"{s:.4f} {n.sum() / s / 1e3 if s > 0 else float('nan'):.3f} {np.mean(k / n):.5f}")
EOF
)
}
run_peer() {  # run_peer NAME PROCS THREADS [LAYERS]: sets T_S, T_K, T_P from the RESULT line
  "$PYTHON" "$PEER" "$model_abs" --subset "$SUBSET" --injections "$A_N" --batch "$BATCH" --procs "$2" --threads "$3" \
    --memory-format "$MEMORY_FORMAT" \
    ${4:+--layers "$4"} > "$work/$1.log" 2>&1 || { cat "$work/$1.log" >&2; die "$PEER failed ($1)"; }
  local r
  r=$(grep '^RESULT ' "$work/$1.log") || die "$1: no RESULT line"
  T_S=$(sed -E 's/.* campaign_s=([^ ]+).*/\1/' <<< "$r")
  T_K=$(sed -E 's/.* inj_per_s=([^ ]+).*/\1/' <<< "$r" | awk '{ printf "%.3f", $1 / 1e3 }')
  T_P=$(sed -E 's/.* mismatch_rate=([^ ]+).*/\1/' <<< "$r")
}

cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/.*: //')
echo "hardnn_vs_torch.sh: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores ($cpu_model); $MODEL, subset $SUBSET, max_injections $INJECTIONS"
echo "  $AIMC (git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- 2>/dev/null || echo ', tree modified')); $graph; Dense/Conv2d layers (index:kind): $matmul"
echo "  load average before: $(load)"

config inc incremental all
config full full all
run_aimc inc
inc_s=$A_S inc_k=$A_K inc_p=$A_PU inc_mac=$(sed -nE 's/^mismatch rate of an error landing by MAC share: //p' "$work/inc.log")
sed -nE '/^.*fmaps x .* injections on/p' "$work/inc.log" | sed 's/^/  aimc: /'
echo "  aimc incremental done; load average $(load)"
run_aimc full
full_s=$A_S full_k=$A_K full_p=$A_PU
echo "  aimc full done; load average $(load)"
run_peer t2p 2 1
t2p_s=$T_S t2p_k=$T_K t2p_p=$T_P
grep -E '^torch_hardnn_peer.py: (torch|  |threads|/)|^  (mapped|OpenBLAS)' "$work/t2p.log" | sed 's/^/  /'
echo "  torch 2 processes done; load average $(load)"
run_peer t1p 1 2
t1p_s=$T_S t1p_k=$T_K t1p_p=$T_P
echo "  torch 1 process done; load average $(load)"

echo
printf '%-36s %10s %10s   %s\n' "case ($A_F fmaps x $A_N injections)" "campaign s" "k inj/s" "mismatch rate (mean P(mismatch|f))"
printf '%-36s %10s %10s   %s\n' "aimc incremental, 2 threads" "$inc_s" "$inc_k" "$inc_p (MAC-weighted: $inc_mac)"
printf '%-36s %10s %10s   %s\n' "aimc full, 2 threads" "$full_s" "$full_k" "$full_p"
printf '%-36s %10s %10s   %s\n' "torch 2 processes x 1 thread" "$t2p_s" "$t2p_k" "$t2p_p"
printf '%-36s %10s %10s   %s\n' "torch 1 process x 2 threads" "$t1p_s" "$t1p_k" "$t1p_p"
awk -v a="$inc_k" -v f="$full_k" -v t2="$t2p_k" -v t1="$t1p_k" 'BEGIN {
  best = (t2 > t1) ? t2 : t1
  which = (t2 > t1) ? "2 processes" : "1 process x 2 threads"
  printf "ratio aimc incremental / best torch (%s): %.2fx; aimc full / best torch: %.2fx; aimc incremental / full: %.2fx\n",
    which, a / best, f / best, a / f }'

if [ "$PER_LAYER" = 1 ]; then
  echo
  printf '%-22s %6s %9s %16s %16s %9s %16s %9s\n' "layer (ordinal:index)" fmaps inj "aimc inc k inj/s" "aimc full k inj/s" "inc/full" "torch k inj/s*" "inc/torch"
  ord=0
  for m in $matmul; do
    config "inc$ord" incremental "$ord"
    config "full$ord" full "$ord"
    run_aimc "inc$ord"
    li_k=$A_KP li_f=$A_F
    run_aimc "full$ord"
    lf_k=$A_KP
    tl=$(grep -E "^LAYER ordinal=$ord " "$work/t2p.log" | sed -E 's/.* inj_per_s=([^ ]+).*/\1/' | awk '{ printf "%.3f", $1 / 1e3 }')
    awk -v l="$ord:${m%%:*} ${m#*:}" -v f="$li_f" -v n="$((li_f * A_N))" -v i="$li_k" -v u="$lf_k" -v t="$tl" 'BEGIN {
      printf "%-22s %6d %9d %16.1f %16.1f %8.2fx %16.1f %8.2fx\n", l, f, n, i, u, i / u, t, i / t }'
    ord=$((ord + 1))
  done
  echo "  (aimc per layer: injections / campaign_seconds of the results file, each layer a run of its own;"
  echo "   * torch per layer: the 2-process run's layer injections / (summed job seconds / 2), an estimate)"
fi
echo "  load average after: $(load)"
