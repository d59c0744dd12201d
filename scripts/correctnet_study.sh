#!/usr/bin/env bash
# The CorrectNet study of the README ("CorrectNet"): the MLP and the CNN, each baseline model trained
# first if missing, then `aimc correctnet` with configs/correctnet_{mlp,cnn}.toml, then the tables and
# the plot (docs/img/correctnet.png with --publish).
#   scripts/correctnet_study.sh [--publish]
set -euo pipefail
cd "$(dirname "$0")/.."
AIMC=${AIMC:-build/aimc}
mkdir -p build/correctnet
for m in mlp cnn; do
  [ -f "build/$m.h5" ] || "$AIMC" train --model "$m" --out "build/$m.h5"
  if [ -f "build/correctnet/$m.h5" ]; then
    "$AIMC" correctnet "configs/correctnet_$m.toml" --out "build/correctnet/$m.h5" --resume
  else
    "$AIMC" correctnet "configs/correctnet_$m.toml" --out "build/correctnet/$m.h5"
  fi
done
out=build/correctnet/correctnet.png
[ "${1:-}" = "--publish" ] && out=docs/img/correctnet.png
"$(scripts/python.sh)" scripts/plot_correctnet.py build/correctnet/mlp.h5 build/correctnet/cnn.h5 --out "$out"
