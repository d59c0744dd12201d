#!/usr/bin/env python3
"""Plots an `aimc hardnn` results file (schema: docs/results.md, "HarDNN results files") to PNG.

Left: the relative vulnerability of every fmap (/fmaps/relative_vulnerability), grouped by layer,
each layer's fmaps sorted by vulnerability, with the layer's total in the legend. Right: the
coverage-vs-overhead curve of selective duplication (/protection/coverage against /protection/overhead),
the break-even diagonal (coverage = overhead: protecting fmaps at random), and, if the file has a
verification campaign, the measured coverage 1 - R(k) / R(0) of each protection level with the
confidence interval of R(k) (scaled by R(0)). Prints the PNG's path. Needs Debian's python3-h5py and
python3-matplotlib; scripts/python.sh names a Python that has them:

  "$(scripts/python.sh)" scripts/plot_hardnn.py build/hardnn_cnn.h5 [--out hardnn.png]
"""
import os

from aimc_plot import Parser, PlotError, open_results, require_plot_libs, run, save_png, text

PROG = "plot_hardnn.py"


def load(path):
    import numpy as np

    with open_results(path, "aimc-hardnn") as f:
        if "protection" not in f:
            raise PlotError(f"{path}: the injection campaign is not complete (status "
                            f"'{text(f.attrs.get('status', b'?'))}'): no /protection yet; finish it with --resume")
        try:
            r = {
                "attrs": {k: text(v) if isinstance(v, bytes) else v for k, v in f.attrs.items()},
                "layer": np.asarray(f["fmaps/layer"][()]),
                "rv": np.asarray(f["fmaps/relative_vulnerability"][()], dtype=float),
                "layers": [int(v) for v in f["layers/index"][()]],
                "kinds": [text(k) for k in f["layers/kind"].asstr()[()]],
                "coverage": np.asarray(f["protection/coverage"][()], dtype=float),
                "overhead": np.asarray(f["protection/overhead"][()], dtype=float),
                "rank_by": text(f["protection"].attrs.get("rank_by", b"vulnerability")),
            }
            if "verification" in f:
                v = f["verification"]
                r["verify"] = {k: np.asarray(v[k][()], dtype=float)
                               for k in ("overhead", "coverage", "measured_rate", "measured_ci_lo", "measured_ci_hi",
                                         "predicted_rate", "injections")}
                r["confidence"] = float(v.attrs.get("confidence", 0.95))
        except KeyError as e:
            raise PlotError(f"{path}: malformed aimc-hardnn results file (missing {e})")
    if len(r["coverage"]) != len(r["rv"]) + 1:
        raise PlotError(f"{path}: /protection/coverage has {len(r['coverage'])} points for {len(r['rv'])} fmaps")
    return r


def plot(r, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=120, gridspec_kw={"width_ratios": [1.4, 1]})
    x0 = 0
    for i, (layer, kind) in enumerate(zip(r["layers"], r["kinds"])):
        rv = np.sort(r["rv"][r["layer"] == layer])[::-1]
        xs = np.arange(x0, x0 + len(rv))
        ax.bar(xs, rv, width=1.0, color=f"C{i % 10}",
               label=f"layer {layer} ({kind}, {len(rv)} fmaps): {np.nansum(rv):.3f}")
        x0 += len(rv) + max(2, len(r["rv"]) // 100)
    ax.set_xlabel("fmap (grouped by layer, sorted by vulnerability within a layer)")
    ax.set_ylabel("relative vulnerability")
    ax.set_title("per-fmap relative vulnerability (layer totals in the legend)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)

    bx.plot([0, 1], [0, 1], "--", color="0.5", linewidth=0.8, label="coverage = overhead")
    bx.plot(r["overhead"], r["coverage"], "-", color="C0", label=f"predicted (top-k by {r['rank_by']})")
    if "verify" in r:
        v = r["verify"]
        r0 = v["measured_rate"][0]
        if np.isfinite(r0) and r0 > 0:
            m = 1 - v["measured_rate"][1:] / r0
            lo = 1 - v["measured_ci_hi"][1:] / r0
            hi = 1 - v["measured_ci_lo"][1:] / r0
            conf = f"{100 * r['confidence']:g}%"
            bx.errorbar(v["overhead"][1:], m, yerr=[np.maximum(m - lo, 0), np.maximum(hi - m, 0)], fmt="o",
                        color="C3", capsize=4,
                        label=f"measured 1 - R(k)/R(0), {conf} CI of R(k) ({int(v['injections'][0])} injections/level)")
    for b in (0.1, 0.3, 0.5):
        k = int(np.searchsorted(r["overhead"], b + 1e-12, side="right") - 1)
        c = r["coverage"][k]
        bx.annotate(f"{r['overhead'][k]:.2f}: {c:.2f} ({1 / (1 - c) if c < 1 else float('inf'):.1f}x)",
                    (r["overhead"][k], c), textcoords="offset points", xytext=(6, -12), fontsize=7)
    bx.set_xlabel("computational overhead (protected MACs / all MACs)")
    bx.set_ylabel("coverage (protected relative vulnerability)")
    bx.set_xlim(0, 1)
    bx.set_ylim(0, 1.02)
    bx.set_title("selective duplication (labels: overhead: coverage (resilience))", fontsize=9)
    bx.legend(fontsize=7, loc="upper left")
    bx.grid(True, alpha=0.3)

    a = r["attrs"]
    t = (f"{a.get('model_name', '?')}: {a.get('error_model', '?')}, {a.get('fmaps', '?')} fmaps x "
         f"{a.get('injections_per_fmap', '?')} injections on {a.get('subset', '?')} test images, seed {a.get('seed', '?')}")
    if a.get("status") != "complete":
        t += f"  [status: {a.get('status', '?')}]"
    fig.suptitle(t, fontsize=10)
    return save_png(fig, out)


def main(argv):
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("results", help="results file written by `aimc hardnn` (HDF5)")
    p.add_argument("--out", metavar="PNG", help="image to write (default: the results file with .png)")
    a = p.parse_args(argv)
    require_plot_libs()
    r = load(a.results)
    out = a.out or os.path.splitext(a.results)[0] + ".png"
    print(plot(r, out))
    return 0


if __name__ == "__main__":
    run(main, PROG)
