#!/usr/bin/env bash
# The denoising-block study of the README ("Denoising blocks"): the reference CNN and ResNet-8, each
# trained first if missing, then `aimc denoise configs/denoise_{cnn,resnet8}.toml`, then the tables
# and plots (docs/img/denoise_{cnn,resnet8}.png with --publish).
#   scripts/denoise_study.sh [--publish]
set -euo pipefail
cd "$(dirname "$0")/.."
AIMC=${AIMC:-build/aimc}
mkdir -p build/denoise
for m in cnn resnet8; do
  [ -f "build/$m.h5" ] || "$AIMC" train --model "$m" --out "build/$m.h5"
  if [ -f "build/denoise/$m.h5" ]; then
    "$AIMC" denoise "configs/denoise_$m.toml" --out "build/denoise/$m.h5" --resume
  else
    "$AIMC" denoise "configs/denoise_$m.toml" --out "build/denoise/$m.h5"
  fi
  out="build/denoise/denoise_$m.png"
  [ "${1:-}" = "--publish" ] && out="docs/img/denoise_$m.png"
  "$(scripts/python.sh)" scripts/plot_denoise.py "build/denoise/$m.h5" --out "$out"
done
