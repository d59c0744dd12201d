#!/usr/bin/env python3
"""Tables and plots of the hardware-aware training study (scripts/hwa_study.sh, README
"Hardware-aware training") from the `aimc mc` results files in one directory:

  pcm_{mlp,cnn}_{digital,hwa}_{none,global}.h5   PCM, swept over pcm.t_inference_s
  rram_{mlp,cnn}_{digital,hwa}.h5                RRAM, swept over rram.sigma_prog

Prints Markdown tables (mean accuracy and 95% CI of the mean per point; the HWA - digital difference
with its 95% CI, taken as independent samples: sqrt of the sum of the squared CI half-widths, which
over-covers when the two share chips) and writes DIR/hwa_pcm.png and DIR/hwa_rram.png.

  "$(scripts/python.sh)" scripts/plot_hwa.py build/hwa [--out-dir docs/img]
"""
import math
import os

from aimc_plot import Parser, PlotError, open_results, require_plot_libs, run, save_png, text

PROG = "plot_hwa.py"
TIMES = {1: "1 s", 3600: "1 hour", 86400: "1 day", 2592000: "30 days", 31536000: "1 year"}


def load(path):
    import numpy as np

    with open_results(path, "aimc-mc") as f:
        try:
            axes = [text(a) for a in f["sweep/axes"][()]]
            if len(axes) != 1:
                raise PlotError(f"{path}: expected one swept axis, found {len(axes)}")
            sm = f["summary"]
            return {
                "axis": axes[0],
                "x": np.asarray(f["sweep"][axes[0]][()], dtype=float),
                "mean": np.asarray(sm["accuracy_mean"][()], dtype=float),
                "lo": np.asarray(sm["accuracy_ci_lo"][()], dtype=float),
                "hi": np.asarray(sm["accuracy_ci_hi"][()], dtype=float),
                "trials": np.asarray(sm["trials"][()]),
                "digital": float(f.attrs.get("digital_accuracy", float("nan"))),
                "model": text(f.attrs.get("model_path", b"?")),
                "status": text(f.attrs.get("status", b"?")),
            }
        except KeyError as e:
            raise PlotError(f"{path}: malformed aimc-mc results file (missing {e})")


def cell(r, i):
    return f"{r['mean'][i]:.4f} [{r['lo'][i]:.4f}, {r['hi'][i]:.4f}]"


def diff(a, b, i):
    """HWA - digital at point i and the half-width of its 95% CI (independent samples)."""
    d = a["mean"][i] - b["mean"][i]
    h = math.hypot((a["hi"][i] - a["lo"][i]) / 2, (b["hi"][i] - b["lo"][i]) / 2)
    return d, h


def xlabel(axis, v):
    if axis == "pcm.t_inference_s":
        return TIMES.get(int(round(v)), f"{v:g} s")
    return f"{v:g}"


def main(argv):
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("dir", help="directory with the study's results files")
    p.add_argument("--out-dir", help="where to write the PNGs (default: the results directory)")
    a = p.parse_args(argv)
    require_plot_libs()
    out_dir = a.out_dir or a.dir
    models = ["mlp", "cnn"]
    pcm = {(m, k, c): load(os.path.join(a.dir, f"pcm_{m}_{k}_{c}.h5"))
           for m in models for k in ("digital", "hwa") for c in ("none", "global")}
    rram = {(m, k): load(os.path.join(a.dir, f"rram_{m}_{k}.h5")) for m in models for k in ("digital", "hwa")}

    # PCM table
    r0 = pcm[("mlp", "digital", "none")]
    cols = [xlabel(r0["axis"], v) for v in r0["x"]]
    print("PCM, accuracy after programming (mean [95% CI of the mean], "
          f"{int(r0['trials'][0])} chips per point; clean digital accuracy on the same images in brackets)\n")
    print("| model | training | compensation | " + " | ".join(cols) + " |")
    print("|---|---|---|" + "---|" * len(cols))
    for m in models:
        for k in ("digital", "hwa"):
            for c in ("none", "global"):
                r = pcm[(m, k, c)]
                print(f"| {m.upper()} ({r['digital']:.4f}) | {'HWA' if k == 'hwa' else 'digital'} | {c} | " +
                      " | ".join(cell(r, i) for i in range(len(r["x"]))) + " |")
    print("\nHWA - digital (95% CI half-width), same compensation:\n")
    print("| model | compensation | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for m in models:
        for c in ("none", "global"):
            h, d = pcm[(m, "hwa", c)], pcm[(m, "digital", c)]
            print(f"| {m.upper()} | {c} | " + " | ".join(
                "{:+.4f} (±{:.4f})".format(*diff(h, d, i)) for i in range(len(h["x"]))) + " |")
    print("\nHWA model with global compensation, mean accuracy / its own clean digital accuracy:\n")
    print("| model | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for m in models:
        r = pcm[(m, "hwa", "global")]
        print(f"| {m.upper()} | " + " | ".join(f"{r['mean'][i] / r['digital']:.1%}" for i in range(len(r["x"]))) + " |")

    # RRAM table
    r0 = rram[("mlp", "digital")]
    cols = [xlabel(r0["axis"], v) for v in r0["x"]]
    print(f"\nRRAM, {r0['axis']} (mean [95% CI of the mean]):\n")
    print("| model | training | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for m in models:
        for k in ("digital", "hwa"):
            r = rram[(m, k)]
            print(f"| {m.upper()} ({r['digital']:.4f}) | {'HWA' if k == 'hwa' else 'digital'} | " +
                  " | ".join(f"{r['mean'][i]:.4f}" for i in range(len(r["x"]))) + " |")
    for m in models:
        d, h = rram[(m, "digital")], rram[(m, "hwa")]
        for i, v in enumerate(d["x"]):
            if abs(v - 0.10) < 1e-9:
                lost = d["digital"] - d["mean"][i]
                back = h["mean"][i] - d["mean"][i]
                print(f"\n{m.upper()} at {d['axis']} = 0.10: the digital model loses {lost:.4f} of its clean "
                      f"{d['digital']:.4f}; HWA gains back {back:+.4f} ({back / lost:.0%} of the loss)"
                      if lost > 0 else f"\n{m.upper()} at 0.10: no loss to recover")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2, figsize=(11, 4.4), dpi=120, sharey=False)
    for ax, m in zip(axs, models):
        for j, (k, c) in enumerate([("digital", "none"), ("digital", "global"), ("hwa", "none"), ("hwa", "global")]):
            r = pcm[(m, k, c)]
            col = "C0" if k == "digital" else "C3"
            ls = "--" if c == "none" else "-"
            ax.fill_between(r["x"], r["lo"], r["hi"], color=col, alpha=0.2, linewidth=0)
            ax.plot(r["x"], r["mean"], "o" + ls, color=col, markersize=4,
                    label=f"{'HWA' if k == 'hwa' else 'digital'} training, compensation {c}")
        for k, col in (("digital", "C0"), ("hwa", "C3")):
            ax.axhline(pcm[(m, k, "none")]["digital"], color=col, linestyle=":", linewidth=0.8)
        ax.set_xscale("log")
        x = pcm[(m, "digital", "none")]["x"]
        ax.set_xticks(x, [xlabel("pcm.t_inference_s", v) for v in x])
        ax.minorticks_off()
        ax.set_xlabel("time after programming")
        ax.set_ylabel("top-1 accuracy")
        ax.set_title(f"{m.upper()} on PCM (95% CI bands; dotted: clean digital)", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    print("\n" + save_png(fig, os.path.join(out_dir, "hwa_pcm.png")))

    fig, axs = plt.subplots(1, 2, figsize=(11, 4.4), dpi=120)
    for ax, m in zip(axs, models):
        for k, col in (("digital", "C0"), ("hwa", "C3")):
            r = rram[(m, k)]
            ax.fill_between(r["x"], r["lo"], r["hi"], color=col, alpha=0.2, linewidth=0)
            ax.plot(r["x"], r["mean"], "o-", color=col, markersize=4,
                    label=f"{'HWA' if k == 'hwa' else 'digital'} training")
            ax.axhline(r["digital"], color=col, linestyle=":", linewidth=0.8)
        ax.set_xlabel(rram[(m, "digital")]["axis"])
        ax.set_ylabel("top-1 accuracy")
        ax.set_title(f"{m.upper()} on RRAM (95% CI bands; dotted: clean digital)", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    print(save_png(fig, os.path.join(out_dir, "hwa_rram.png")))
    return 0


if __name__ == "__main__":
    run(main, PROG)
