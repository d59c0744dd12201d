#!/usr/bin/env bash
# The BasisN study of the README ("BasisN"): the reference CNN and ResNet-8 (each trained first if missing), then
# `aimc basisn configs/basisn_{cnn,resnet8}.toml`, then the tables and plots (docs/img/basisn_*.png with --publish).
#   scripts/basisn_study.sh [--publish]
set -euo pipefail
cd "$(dirname "$0")/.."
AIMC=${AIMC:-build/aimc}
mkdir -p build/basisn
for m in cnn resnet8; do
  [ -f "build/$m.h5" ] || "$AIMC" train --model "$m" --out "build/$m.h5"
  if [ -f "build/basisn/$m.h5" ]; then
    "$AIMC" basisn "configs/basisn_$m.toml" --out "build/basisn/$m.h5" --resume
  else
    "$AIMC" basisn "configs/basisn_$m.toml" --out "build/basisn/$m.h5"
  fi
  out="build/basisn/basisn_$m.png"
  [ "${1:-}" = "--publish" ] && out="docs/img/basisn_$m.png"
  "$(scripts/python.sh)" scripts/plot_basisn.py "build/basisn/$m.h5" --out "$out"
done
