#!/usr/bin/env bash
# Process-level test of `aimc onchip` (registered in tests/experiments/CMakeLists.txt) on a small study:
# 3 chips x 3 folds, 4-3-3 network, 5 epochs, a resolution axis (16 levels and infinite) and a leakage axis.
#   1 and 2 threads give identical runs and folds (h5diff, exact); progress on stderr and the summary on
#   stdout; the file's folds are stratified (every class spread over the folds within one flower); the
#   run table pairs every device run with the float run of its settings; float accuracy does not depend on
#   a pulse-resolution axis; write energy = pulses x c_gate dV_G V_DD; cycle time from its formula.
# Usage: test_onchip_cli.sh AIMC_BINARY
set -euo pipefail
aimc=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
source "$(dirname "$0")/cli_test_lib.sh"

cat > c.toml <<TOML
[study]
seed = 7
chips = 3
folds = 3
hidden = [3]
[onchip]
epochs = 5
levels = 32
[sweep.onchip]
levels = [16, 0]
[sweep.mosfet_update]
tau_leak_s = [1e-3]
TOML

mkdir a b
(cd a && "$aimc" --threads 1 onchip ../c.toml --out r.h5 > out.txt 2> err.txt)
(cd b && "$aimc" --threads 2 onchip ../c.toml --out r.h5 --quiet --no-progress)
for g in /runs /data; do
  h5diff a/r.h5 b/r.h5 "$g" "$g" || fail "$g differs between 1 and 2 threads"
done
grep -q "onchip: 90/90 trainings" a/err.txt || fail "no final progress line: $(tail -c 300 a/err.txt)"
grep -q "^base  *mosfet" a/out.txt || fail "no summary row of the base MOSFET run"
[ ! -s b/out.txt ] 2>/dev/null || true
py=$(bash "$(dirname "$0")/../../scripts/python.sh")
"$py" - a/r.h5 <<'PY' || fail "results check failed"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
assert a["format"] == "aimc-onchip" and a["seed"] == 7 and a["chips"] == 3 and a["folds"] == 3, dict(a)
assert a["topology"] == "4-3-3"
fold = f["data/fold"][()]
assert fold.shape == (150,) and set(fold) == {0, 1, 2}
for k in range(3):  # Iris rows are 50 per class in order
    counts = np.bincount(fold[50 * k:50 * (k + 1)], minlength=3)
    assert counts.max() - counts.min() <= 1, counts
r = f["runs"]
series = [s.decode() if isinstance(s, bytes) else s for s in r["series"][()]]
device = [s.decode() if isinstance(s, bytes) else s for s in r["device"][()]]
rows = list(zip(series, device))
# axes in the order of their [sweep.*] tables sorted by name (toml++ keeps tables sorted)
want = [("base", "float"), ("base", "mosfet"), ("base", "rram"), ("mosfet_update.tau_leak_s", "mosfet")] + \
       [("onchip.levels", d) for _ in range(2) for d in ("float", "mosfet", "rram")]
assert rows == want, rows
value = r["value"][()]
assert np.isnan(value[0]) and value[3] == 1e-3 and list(value[4:10]) == [16, 16, 16, 0, 0, 0], value
fr = r["float_run"][()]
assert list(fr) == [-1, 0, 0, 0, -1, 4, 4, -1, 7, 7], fr
acc = r["test_acc"][()]
assert acc.shape == (10, 9) and np.all((acc >= 0) & (acc <= 1))
m = r["test_acc_mean"][()]
lo, hi = r["test_acc_ci_lo"][()], r["test_acc_ci_hi"][()]
assert np.all(lo <= m) and np.all(m <= hi)
# chip means over folds, then their mean: the summary is recomputed from the per-job table
assert np.allclose(m, acc.reshape(10, 3, 3).mean(axis=2).mean(axis=1), rtol=0, atol=1e-12)
# float SGD does not see the pulse resolution
assert np.array_equal(acc[0], acc[4]) and np.array_equal(acc[0], acc[7])
d = r["diff_vs_float_mean"][()]
assert np.isnan(d[0]) and abs(d[1] - (m[1] - m[0])) < 1e-12 and abs(d[3] - (m[3] - m[0])) < 1e-12
# infinite resolution: no pulse count, and the RRAM's pulse energy is undefined (the MOSFET's is charge)
p0 = r["pulses_per_sample"][()]
assert np.isnan(p0[8]) and np.isnan(p0[9]) and np.isnan(r["write_energy_per_sample_J"][()][9])
assert r["write_energy_per_sample_J"][()][8] > 0
# MOSFET write energy: every pulse draws c_gate (0.8 V / 31) from 1.8 V (defaults, 32 levels)
pulses, write = r["pulses_per_sample"][()], r["write_energy_per_sample_J"][()]
assert pulses[1] > 0 and abs(write[1] - pulses[1] * 10e-15 * 0.8 / 31 * 1.8) < 1e-9 * write[1], (write[1], pulses[1])
# cycle: 2 forward + 1 transposed reads of 10 ns, 20 ns settling, 8 pulse slots of 10 ns
t = r["t_sample_s"][()]
assert abs(t[1] - 130e-9) < 1e-18 and t[0] == 0, t
assert abs(r["t_epoch_s"][()][1] - 100 * 130e-9) < 1e-15  # 100 training flowers per split
c = r["curve_test_acc"][()]
assert c.shape == (10, 5) and np.all((c >= 0) & (c <= 1))
assert np.allclose(c[:, -1], acc.mean(axis=1), rtol=0, atol=1e-12)
PY
echo "ok"
