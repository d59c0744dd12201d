#!/usr/bin/env python3
"""Plots an `aimc mc` results file (schema: docs/results.md) to PNG.

  accuracy (default): mean top-1 accuracy against one swept parameter, with the confidence band of
      the mean (/summary/accuracy_ci_lo .. accuracy_ci_hi) and, with --percentiles, the p5..p95 band
      of the trial spread; one line per combination of the other swept parameters.
  snr: mean output SNR of each analog layer (/summary/snr_db_mean), one line per analog layer (and
      per combination of the other swept parameters).

Without a sweep the single point is drawn as a marker with error bars. Prints the PNG's path.
Needs Debian's python3-h5py and python3-matplotlib; scripts/python.sh names a Python that has them:

  "$(scripts/python.sh)" scripts/plot_mc.py build/demo.h5 [--x rram.sigma_prog] [--out demo.png]
"""
import itertools
import os

from aimc_plot import Parser, PlotError, open_results, require_plot_libs, run, save_png, text

PROG = "plot_mc.py"


def load(path):
    import numpy as np

    with open_results(path, "aimc-mc") as f:
        try:
            axes = [text(a) for a in f["sweep/axes"][()]]
            values = [np.asarray(f["sweep"][a][()], dtype=float) for a in axes]
            sm = f["summary"]
            r = {
                "axes": axes,
                "values": values,
                "confidence": float(sm.attrs.get("confidence", 0.95)),
                "trials": np.asarray(sm["trials"][()]),
                "mean": np.asarray(sm["accuracy_mean"][()], dtype=float),
                "ci_lo": np.asarray(sm["accuracy_ci_lo"][()], dtype=float),
                "ci_hi": np.asarray(sm["accuracy_ci_hi"][()], dtype=float),
                "p5": np.asarray(sm["accuracy_p5"][()], dtype=float),
                "p95": np.asarray(sm["accuracy_p95"][()], dtype=float),
                "snr": np.asarray(sm["snr_db_mean"][()], dtype=float),
                "layers": [int(l) for l in f["analog_layers"][()]],
                "attrs": {k: text(v) if isinstance(v, bytes) else v for k, v in f.attrs.items()},
            }
        except KeyError as e:
            raise PlotError(f"{path}: malformed aimc-mc results file (missing {e})")
    shape = tuple(len(v) for v in values)
    points = int(np.prod(shape, dtype=int))
    if len(r["mean"]) != points:
        raise PlotError(f"{path}: /summary has {len(r['mean'])} points but the sweep axes give {points}")
    r["shape"] = shape
    return r


def fmt(v):
    return f"{v:g}"


def lines(r, xi):
    """Yields (label, point indices along the x axis) for every combination of the other axes.
    Points enumerate the sweep's cartesian product with the last axis fastest (C order)."""
    import numpy as np

    idx = np.arange(len(r["mean"])).reshape(r["shape"])
    others = [i for i in range(len(r["axes"])) if i != xi]
    idx = np.moveaxis(idx, xi, -1)  # other axes first (in sweep order), x last
    for combo in itertools.product(*(range(r["shape"][i]) for i in others)):
        label = ", ".join(f"{r['axes'][i]} = {fmt(r['values'][i][k])}" for i, k in zip(others, combo))
        yield label, idx[combo]


def title(r, metric):
    a = r["attrs"]
    t = (f"{a.get('model_name', '?')} on {a.get('dataset', '?')} ({a.get('subset', '?')} test images), "
         f"up to {a.get('trials', '?')} trials/point, seed {a.get('seed', '?')}")
    if a.get("status") != "complete":
        t += f"\n[status: {a.get('status', '?')}: partial results]"
    return t


def finite(y):
    import numpy as np

    y = np.array(y, dtype=float)
    y[~np.isfinite(y)] = np.nan  # +inf SNR (noise-free layer) cannot be drawn
    return y


def plot(r, x_axis, metric, percentiles, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    conf = f"{100 * r['confidence']:g}%"
    fig, ax = plt.subplots(figsize=(8, 5.2), dpi=120)
    if metric == "snr" and not r["layers"]:
        raise PlotError("--metric snr: the results file has no analog layers")

    if not r["axes"]:  # a single point
        if metric == "accuracy":
            m = r["mean"][0]
            if percentiles and np.isfinite(r["p5"][0]):
                # a segment, not an error bar: with skewed trials the mean can lie outside p5 .. p95
                ax.vlines([0], r["p5"][0], r["p95"][0], color="0.6", linewidth=8, alpha=0.5,
                          label="p5 .. p95 of trials")
            if np.isfinite(r["ci_lo"][0]):
                ax.errorbar([0], [m], yerr=[[max(m - r["ci_lo"][0], 0)], [max(r["ci_hi"][0] - m, 0)]], fmt="o", color="C0",
                            capsize=6, label=f"mean, {conf} CI ({int(r['trials'][0])} trials)")
            else:
                ax.plot([0], [m], "o", color="C0", label=f"mean ({int(r['trials'][0])} trial(s), no CI)")
            ax.set_xticks([0], ["(no sweep)"])
            ax.set_xlim(-1, 1)
        else:
            y = finite(r["snr"][0])
            ax.bar(range(len(y)), np.nan_to_num(y), color=[f"C{i % 10}" for i in range(len(y))])
            ax.set_xticks(range(len(y)), [f"layer {l}" for l in r["layers"]])
            for i, v in enumerate(r["snr"][0]):
                if not np.isfinite(v):
                    ax.annotate("+inf" if v > 0 else "n/a", (i, 0), ha="center", va="bottom")
            ax.set_xlabel("analog layer (network layer index)")
    else:
        if x_axis is None:
            x_axis = r["axes"][0]
        if x_axis not in r["axes"]:
            raise PlotError(f"unknown axis '{x_axis}': the swept axes are {', '.join(r['axes'])}")
        xi = r["axes"].index(x_axis)
        x = r["values"][xi]
        combos = list(lines(r, xi))
        many = len(combos) > 10
        cmap = plt.get_cmap("viridis")

        def color(k, n):
            return cmap(k / max(n - 1, 1)) if many else f"C{k % 10}"

        for k, (label, pts) in enumerate(combos):
            order = np.argsort(x, kind="stable")
            xs, pts = x[order], pts[order]
            if metric == "accuracy":
                c = color(k, len(combos))
                y = r["mean"][pts]
                lo, hi = r["ci_lo"][pts], r["ci_hi"][pts]
                if percentiles:
                    p5, p95 = r["p5"][pts], r["p95"][pts]
                    ok = np.isfinite(p5) & np.isfinite(p95)
                    ax.fill_between(xs, p5, p95, where=ok, color=c, alpha=0.10, linewidth=0)
                    ax.plot(xs, p5, ":", color=c, linewidth=0.8)
                    ax.plot(xs, p95, ":", color=c, linewidth=0.8)
                ok = np.isfinite(lo) & np.isfinite(hi)
                ax.fill_between(xs, lo, hi, where=ok, color=c, alpha=0.30 if len(combos) <= 3 else 0.15, linewidth=0)
                ax.plot(xs, y, "o-", color=c, markersize=4, label=label or "mean accuracy")
            else:
                for j, layer in enumerate(r["layers"]):
                    if len(combos) > 1:
                        c, ls = color(k, len(combos)), ["-", "--", ":", "-."][j % 4]
                        lab = f"layer {layer}, {label}"
                    else:
                        c, ls, lab = f"C{j % 10}", "-", f"layer {layer}"
                    ax.plot(xs, finite(r["snr"][pts, j]), "o" + ls, color=c, markersize=4, label=lab)
        ax.set_xlabel(x_axis)
        pos = x[x > 0]
        if len(pos) == len(x) and len(x) > 2 and pos.max() / pos.min() >= 100:
            ax.set_xscale("log")
        if len(x) <= 12:  # tick exactly the swept values (integer axes like adc.bits get no 4.5)
            ax.set_xticks(sorted(set(x)), [fmt(v) for v in sorted(set(x))])
            ax.minorticks_off()

    if metric == "accuracy":
        ax.set_ylabel("top-1 accuracy")
        if r["axes"]:  # legend entries for the bands, drawn once in grey for all lines
            from matplotlib.patches import Patch

            ci = (f"{conf} CI of the mean" if np.isfinite(r["ci_lo"]).any()
                  else "no CI of the mean (needs 2 trials per point)")
            ax.add_artist(ax.legend(handles=[Patch(color="0.5", alpha=0.45, label=ci)] +
                                    ([Patch(color="0.5", alpha=0.12, label="p5 .. p95 of trials (dotted)")]
                                     if percentiles else []), fontsize=8, loc="upper right"))
        if np.isfinite(r.get("attrs", {}).get("model_test_accuracy", np.nan)):
            ax.axhline(r["attrs"]["model_test_accuracy"], color="0.5", linestyle="--", linewidth=0.8,
                       label=f"digital model: {r['attrs']['model_test_accuracy']:.4f} (model file)")
    else:
        ax.set_ylabel("mean output SNR per analog layer (dB)")
    ax.set_title(title(r, metric), fontsize=9)
    ax.grid(True, alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=7 if len(handles) > 8 else 8, loc="lower left" if metric == "accuracy" else "best")
    return save_png(fig, out)


def main(argv):
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("results", help="results file written by `aimc mc` (HDF5)")
    p.add_argument("--x", metavar="AXIS", help="swept parameter on the x axis (default: the first axis)")
    p.add_argument("--out", metavar="PNG",
                   help="image to write (default: the results file with .png, or -snr.png for --metric snr)")
    p.add_argument("--metric", choices=["accuracy", "snr"], default="accuracy")
    p.add_argument("--percentiles", action="store_true", help="also draw the p5 .. p95 band of trial accuracies")
    a = p.parse_args(argv)
    require_plot_libs()
    r = load(a.results)
    if a.x is not None and not r["axes"]:
        raise PlotError(f"unknown axis '{a.x}': {a.results} has no swept parameters")
    out = a.out or os.path.splitext(a.results)[0] + ("-snr.png" if a.metric == "snr" else ".png")
    print(plot(r, a.x, a.metric, a.percentiles, out))
    return 0


if __name__ == "__main__":
    run(main, PROG)
