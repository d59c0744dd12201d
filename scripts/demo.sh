#!/usr/bin/env bash
# The main demo (README, first command): train the reference MLP unless a cached model exists, run the
# RRAM programming-variation campaign of configs/demo.toml, print its summary table, write
# results/demo.h5 and plot it to results/demo.png.
# The demo owns results/demo.h5 and overwrites it on every run (--force); campaigns of your own refuse
# to overwrite an existing results file unless you pass --force.
set -euo pipefail
cd "$(dirname "$0")/.."
aimc=${AIMC:-./build/aimc}
[ -x "$aimc" ] || { echo "demo: $aimc not found; build first (cmake -S . -B build && cmake --build build -j2)" >&2; exit 1; }
start=$(date +%s)
if [ ! -f build/mlp.h5 ]; then
  echo "demo: training the reference MLP (cached in build/mlp.h5)" >&2
  "$aimc" train --model mlp --out build/mlp.h5
else
  echo "demo: using the cached model build/mlp.h5" >&2
fi
mkdir -p results
"$aimc" mc configs/demo.toml --out results/demo.h5 --force
py=$(bash scripts/python.sh)
"$py" scripts/plot_mc.py results/demo.h5 --out results/demo.png
echo "demo: done in $(( $(date +%s) - start )) s" >&2
