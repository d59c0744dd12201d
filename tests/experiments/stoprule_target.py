"""Where a resumed run could decide the stopping rule differently from an uninterrupted one.

Reads an uninterrupted `aimc mc` results file written with the stopping rule on (`mc.round` = R,
`mc.ci_half_width` = H) and finds a point p, a round boundary t1 at which the uninterrupted run went on
(the CI half-width of trials [0, t1) is above H), and a k in 1..R-1 for which the half-width of trials
[0, t1 + k) is at most H: a run interrupted after trial t1 + k - 1 of point p, if its rule looked at
every finished trial, would stop p there. Prints the number of jobs a single-threaded run finishes before
that moment (jobs run round by round, points in order, trials in order), then p, t1 and k; exits 1 if the
file has no such window. The half-width is the Student-t one of core/stats.cpp, computed here with scipy.

Usage: stoprule_target.py RESULTS.h5 ROUND HALF_WIDTH
"""
import sys

import h5py
import numpy as np
from scipy import stats


def half_width(x, confidence=0.95):
    x = np.asarray(x, dtype=float)
    return stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))


def main():
    path, R, H = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with h5py.File(path, "r") as f:
        P = int(f.attrs["points"])
        acc = [f[f"points/p{p:04d}/accuracy"][()] for p in range(P)]
        n = [int(v) for v in f["summary/trials"][()]]
    jobs = 0  # jobs finished before round r starts
    for r in range(max(n) // R):
        t1 = r * R  # the rule was last checked at t1 (nothing to check before round 1)
        active = [p for p in range(P) if n[p] > t1]
        for i, p in enumerate(active):
            if t1 < 2 or n[p] <= t1 + R - 1:
                continue  # no check at t1, or p has no complete round after t1
            if half_width(acc[p][:t1]) <= H:
                continue  # the rule stopped p at t1 (then n[p] == t1 and p is not active)
            for k in range(1, R):
                if half_width(acc[p][: t1 + k]) <= H:
                    print(jobs + i * R + k, p, t1, k)
                    return 0
        jobs += len(active) * R
    return 1


if __name__ == "__main__":
    sys.exit(main())
