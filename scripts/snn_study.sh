#!/usr/bin/env bash
# The spiking-network study of the README ("Spiking networks without ADCs"): the reference spiking CNN
# (trained first if missing), then `aimc snn configs/snn_cnn.toml`, then the tables and the plot
# (docs/img/snn_cnn.png with --publish).
#   scripts/snn_study.sh [--publish]
set -euo pipefail
cd "$(dirname "$0")/.."
AIMC=${AIMC:-build/aimc}
mkdir -p build/snn
[ -f build/snn_cnn.h5 ] || "$AIMC" train --model snn_cnn --out build/snn_cnn.h5
if [ -f build/snn/cnn.h5 ]; then
  "$AIMC" snn configs/snn_cnn.toml --out build/snn/cnn.h5 --resume
else
  "$AIMC" snn configs/snn_cnn.toml --out build/snn/cnn.h5
fi
out=build/snn/snn_cnn.png
[ "${1:-}" = "--publish" ] && out=docs/img/snn_cnn.png
"$(scripts/python.sh)" scripts/plot_snn.py build/snn/cnn.h5 --out "$out"
