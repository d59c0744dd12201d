#!/usr/bin/env bash
# Bring your own network, end to end: a ResNet trained in PyTorch, imported into aimc, checked against torch,
# and run through a Monte Carlo campaign on RRAM.
#
#   bash scripts/byon.sh [OUTDIR]            # OUTDIR defaults to build/byon; AIMC names the binary
#
# It runs from the repository root, so a relative OUTDIR is relative to it.
#
# 1. scripts/torch_resnet_fmnist.py trains the network on Fashion-MNIST and writes OUTDIR/resnet_torch.onnx,
#    OUTDIR/fmnist_{train,test}.npz and torch's test accuracy (skipped if OUTDIR/resnet_torch.onnx exists).
# 2. aimc import turns the ONNX file into OUTDIR/resnet_torch.h5, with the input normalization torch
#    applied outside its model (--mean 0.2860 --std 0.3530).
# 3. aimc eval on the test file gives aimc's accuracy; aimc eval on a copy labelled with torch's
#    predictions counts the images where the two disagree. More than MAX_DIFF (default 10 of 10,000)
#    is an error: float32 rounding in a different order can only flip near-ties.
# 4. aimc eval --limit gives the digital accuracy on the campaign's test subset, and
#    aimc mc configs/byon_rram.toml (paths rewritten into OUTDIR/byon_rram.toml when OUTDIR is not
#    build/byon) writes results/byon.h5, which scripts/plot_mc.py draws to results/byon.png.
# Like the demo, this script owns its outputs and overwrites them (--force) on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
aimc=${AIMC:-./build/aimc}
out=${1:-build/byon}
max_diff=${MAX_DIFF:-10}
if [ ! -x "$aimc" ]; then
  echo "byon: $aimc not found; build first (cmake -S . -B build && cmake --build build -j2)" >&2
  exit 1
fi

step_start=0
step() { step_start=$(date +%s); echo "byon: $*" >&2; }
took() { echo "byon: $1 took $(( $(date +%s) - step_start )) s" >&2; }
start=$(date +%s)

if [ ! -f "$out/resnet_torch.onnx" ]; then
  torch_py=
  for py in /usr/bin/python3 "$(command -v python3 2>/dev/null)"; do
    [ -n "$py" ] && [ -x "$py" ] && "$py" -c 'import torch, numpy' >/dev/null 2>&1 && { torch_py=$py; break; }
  done
  if [ -z "$torch_py" ]; then
    echo "byon: no Python 3 can import torch and numpy; install Debian's python3-torch" >&2
    exit 1
  fi
  step "training the ResNet in PyTorch (cached in $out/resnet_torch.onnx)"
  "$torch_py" scripts/torch_resnet_fmnist.py --out "$out"
  took "training and export"
else
  echo "byon: using the cached $out/resnet_torch.onnx (delete it to train again)" >&2
fi
torch_line=$(cat "$out/torch_accuracy.txt")

step "importing $out/resnet_torch.onnx"
"$aimc" import "$out/resnet_torch.onnx" --out "$out/resnet_torch.h5" --mean 0.2860 --std 0.3530 --force
took "import"

step "evaluating the imported model on $out/fmnist_test.npz"
aimc_line=$("$aimc" eval --model "$out/resnet_torch.h5" --data "$out/fmnist_{split}.npz")
agree_line=$("$aimc" eval --model "$out/resnet_torch.h5" --data "$out/fmnist_test_torchpred.npz")
took "evaluation"
# From aimc eval's "model ... : test accuracy 0.9012 (9012/10000), mean loss ...": the accuracy part, and "9012 10000".
accuracy() { sed 's/.*\(test accuracy [0-9.]* ([0-9]*\/[0-9]*)\).*/\1/' <<<"$1"; }
counts() { sed -n 's/.*test accuracy [0-9.]* (\([0-9]*\)\/\([0-9]*\)).*/\1 \2/p' <<<"$1"; }
read -r agree total < <(counts "$agree_line") || { echo "byon: unexpected aimc eval output: $agree_line" >&2; exit 1; }
diff=$(( total - agree ))
echo "byon: $torch_line"
echo "byon: aimc: $(accuracy "$aimc_line")"
echo "byon: predictions differing between aimc and torch: $diff of $total"
if (( diff > max_diff )); then
  echo "byon: aimc and torch disagree on $diff images (more than $max_diff): the import is wrong" >&2
  exit 1
fi

config=configs/byon_rram.toml
if [ "$out" != build/byon ]; then
  c=$(<"$config")
  config=$out/byon_rram.toml
  printf '%s\n' "${c//build\/byon\//"$out/"}" >"$config"
fi
subset=$(sed -n 's/^subset *= *\([0-9]*\).*/\1/p' "$config")
digital_line=$("$aimc" eval --model "$out/resnet_torch.h5" --data "$out/fmnist_{split}.npz" --limit "$subset")
echo "byon: aimc, digital, on the campaign's first $subset test images: $(accuracy "$digital_line")"
step "Monte Carlo campaign $config"
mkdir -p results
"$aimc" mc "$config" --out results/byon.h5 --force
took "campaign"
py=$(bash scripts/python.sh)
"$py" scripts/plot_mc.py results/byon.h5 --out results/byon.png
echo "byon: done in $(( $(date +%s) - start )) s" >&2
