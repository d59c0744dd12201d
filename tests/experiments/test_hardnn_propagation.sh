#!/usr/bin/env bash
# Process-level test of issue 21's contract (registered in tests/experiments/CMakeLists.txt): `aimc hardnn`
# with propagation = "incremental" (the default, nets/delta.hpp) decides every injection as the full
# suffix recomputation does. On a 1-epoch CNN (a chain) and a 1-epoch ResNet-8 (residual graph), for the
# bit-flip (fixed point and fp32), random-value and analog (RRAM output noise) error models: per-fmap and verification mismatch counts
# differ by no more than the incremental run's near-tie decisions (top-2 margin within the rounding bound
# of nets/delta.hpp; only those can flip), mean delta-losses agree to 1e-5 nat.
# Usage: test_hardnn_propagation.sh AIMC_BINARY
set -euo pipefail
aimc=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
source "$(dirname "$0")/cli_test_lib.sh"
py=$(bash "$(dirname "$0")/../../scripts/python.sh")

"$aimc" --threads 2 train --model cnn --epochs 1 --train-limit 2000 --out cnn.h5 > /dev/null 2>&1
"$aimc" --threads 2 train --model resnet8 --epochs 1 --train-limit 1000 --out r8.h5 > /dev/null 2>&1
run() {  # run MODEL ERROR_MODEL PROPAGATION SUBSET INJECTIONS
  cat > c.toml <<TOML
[model]
path = "$1"
[data]
subset = $4
[hardnn]
error_model = "$2"
margin = 0.1
max_injections = $5
verify_injections = 1000
propagation = "$3"
TOML
  # analog: the output-referred noise of RRAM hardware measured per layer (the suffix stays digital)
  [ "$2" != analog ] || printf '[mapping]\nsubstrate = "rram"\nreadout = "adc"\n[rram]\nsigma_prog = 0.04\nsigma_read = 0.01\n' >> c.toml
  "$aimc" --threads 2 hardnn c.toml --out "$1.$2.$3.h5" --quiet --no-progress
}
for case in "cnn.h5 bitflip_fixed 200 96" "cnn.h5 bitflip_fp32 200 96" "cnn.h5 random_value 200 96" \
            "cnn.h5 analog 200 96" "r8.h5 bitflip_fixed 60 64"; do
  set -- $case
  run "$1" "$2" full "$3" "$4"
  run "$1" "$2" incremental "$3" "$4"
  "$py" - "$1.$2.full.h5" "$1.$2.incremental.h5" <<'PY' || fail "$case: incremental and full campaigns differ"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
assert a.attrs["propagation"] == b"full" or a.attrs["propagation"] == "full"
prop = b.attrs["propagation"]
assert (prop.decode() if isinstance(prop, bytes) else prop) == "incremental", prop
assert b.attrs["propagation_injections"] > 0 and b.attrs["propagation_sparse_nodes"] > 0
ties = int(b.attrs["propagation_near_ties"])
ma, mb = a["fmaps/mismatches"][()], b["fmaps/mismatches"][()]
assert ma.sum() > 0, "no mismatch at all: the comparison has no power"
ra, rb = a["jobs/verify/records"][()], b["jobs/verify/records"][()]
assert np.array_equal(ra[:, 0], rb[:, 0])  # the same injections
differ = int(np.abs(ma - mb).sum() + np.abs(ra[:, 1] - rb[:, 1]).sum())
assert differ <= ties, (differ, ties, np.nonzero(ma != mb))
print(f"{sys.argv[2]}: {int(ma.sum())} mismatches, {differ} decisions differ, {ties} near-ties")
da, db = a["fmaps/dloss_mean"][()], b["fmaps/dloss_mean"][()]
assert np.nanmax(np.abs(da - db)) < 1e-5, np.nanmax(np.abs(da - db))
PY
done
echo "ok"
