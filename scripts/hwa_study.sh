#!/usr/bin/env bash
# The hardware-aware training study (README "Hardware-aware training", issue 15): for the reference
# MLP and CNN, a digitally trained and an HWA-fine-tuned model, each evaluated by `aimc mc`
#   - on PCM 1 s, 1 h, 1 day, 1 month and 1 year after programming, without and with global drift
#     compensation (configs/hwa_pcm.toml; the HWA model of configs/hwa_train_pcm.toml), and
#   - on RRAM over the demo's programming-variation sweep (configs/hwa_rram.toml; the HWA model of
#     configs/hwa_train_rram.toml),
# 100 chips per point, then prints the tables and plots docs-style PNGs into the output directory.
#   scripts/hwa_study.sh [OUT_DIR]        (default build/hwa; models and results there are reused)
# Digital models are build/mlp.h5 and build/cnn.h5 (trained with the default recipe if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
aimc=${AIMC:-./build/aimc}
out=${1:-build/hwa}
[ -x "$aimc" ] || { echo "hwa_study: $aimc not found; build first" >&2; exit 1; }
mkdir -p "$out"
start=$(date +%s)
for m in mlp cnn; do
  [ -f "build/$m.h5" ] || "$aimc" train --model "$m" --out "build/$m.h5"
done
# variant FILE MODEL [COMPENSATION] -> a copy of the config with another model (and compensation)
variant() {
  sed -e "s#^path = \"build/mlp.h5\"#path = \"$2\"#" ${3:+-e "s#^drift_compensation = \"global\"#drift_compensation = \"$3\"#"} "$1"
}
for m in mlp cnn; do
  for hw in pcm rram; do
    model="$out/${m}_hwa_$hw.h5"
    if [ ! -f "$model" ]; then
      variant "configs/hwa_train_$hw.toml" "build/$m.h5" > "$out/train_${m}_$hw.toml"
      "$aimc" train "$out/train_${m}_$hw.toml" --out "$model"
    fi
  done
done
for m in mlp cnn; do
  for kind in digital hwa; do
    if [ "$kind" = digital ]; then pcm_model="build/$m.h5" rram_model="build/$m.h5"
    else pcm_model="$out/${m}_hwa_pcm.h5" rram_model="$out/${m}_hwa_rram.h5"; fi
    for comp in none global; do
      res="$out/pcm_${m}_${kind}_$comp.h5"
      [ -f "$res" ] && continue
      variant configs/hwa_pcm.toml "$pcm_model" "$comp" > "$out/pcm_${m}_${kind}_$comp.toml"
      "$aimc" mc "$out/pcm_${m}_${kind}_$comp.toml" --out "$res" --quiet
    done
    res="$out/rram_${m}_$kind.h5"
    if [ ! -f "$res" ]; then
      variant configs/hwa_rram.toml "$rram_model" > "$out/rram_${m}_$kind.toml"
      "$aimc" mc "$out/rram_${m}_$kind.toml" --out "$res" --quiet
    fi
  done
done
py=$(bash scripts/python.sh)
"$py" scripts/plot_hwa.py "$out"
echo "hwa_study: done in $(( $(date +%s) - start )) s" >&2
