#!/usr/bin/env bash
# The denoising-block study of the README ("Denoising blocks"): the reference CNN trained first if
# missing, then `aimc denoise configs/denoise_cnn.toml`, then the plot (docs/img/denoise.png with
# --publish).
#   scripts/denoise_study.sh [--publish]
set -euo pipefail
cd "$(dirname "$0")/.."
AIMC=${AIMC:-build/aimc}
mkdir -p build/denoise
[ -f build/cnn.h5 ] || "$AIMC" train --model cnn --out build/cnn.h5
if [ -f build/denoise/cnn.h5 ]; then
  "$AIMC" denoise configs/denoise_cnn.toml --out build/denoise/cnn.h5 --resume
else
  "$AIMC" denoise configs/denoise_cnn.toml --out build/denoise/cnn.h5
fi
out=build/denoise/denoise.png
[ "${1:-}" = "--publish" ] && out=docs/img/denoise.png
"$(scripts/python.sh)" scripts/plot_denoise.py build/denoise/cnn.h5 --out "$out"
