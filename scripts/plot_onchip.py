#!/usr/bin/env python3
"""Table and plot of an `aimc onchip` results file (on-chip learning on Iris, experiments/onchip.cpp).

Prints every run (series, swept value, device, test accuracy over chips with its interval, the paired
difference to float). Writes one PNG of three panels: (a) the base series' training curves, test accuracy
per epoch for each device with the training loss dashed on a second axis; (b) test accuracy against the
pulse resolution onchip.levels for the MOSFET and RRAM synapses on a log2 axis, levels = 0 (infinite
resolution) drawn at the right end as "inf", the base float run as a band (its interval over chips);
(c) test accuracy against every other swept series, one line per series and device, each series' values
at equal spacing (named on the axis for one series, in the legend for several). A panel whose series is absent from the file says so instead. Prints the PNG's path last.

  "$(scripts/python.sh)" scripts/plot_onchip.py build/onchip.h5 [--out docs/img/onchip_iris.png]
"""
import math
import os
import textwrap

from aimc_plot import Parser, PlotError, open_results, require_plot_libs, run, save_png, text

PROG = "plot_onchip.py"
FMT = "aimc-onchip"
DEVICES = ("float", "mosfet", "rram")
COLORS = {"float": "C0", "mosfet": "C1", "rram": "C2"}
LEVELS = "onchip.levels"
COLUMNS = ("value", "test_acc_mean", "test_acc_ci_lo", "test_acc_ci_hi", "diff_vs_float_mean", "diff_vs_float_ci_lo",
           "diff_vs_float_ci_hi", "float_run", "epochs")
CURVES = ("curve_test_acc", "curve_train_loss")


def load(path):
    import numpy as np

    with open_results(path, FMT) as f:
        try:
            r = {"path": path, "status": text(f.attrs.get("status", b"?")), "chips": int(f.attrs["chips"]),
                 "folds": int(f.attrs["folds"]), "confidence": float(f.attrs["confidence"]),
                 "topology": text(f.attrs["topology"])}
            g = f["runs"]
            r["series"] = [text(s) for s in g["series"][()]]
            r["device"] = [text(s) for s in g["device"][()]]
            for k in COLUMNS + CURVES:
                r[k] = np.asarray(g[k][()], dtype=float)
            res = f["resolved"].attrs if "resolved" in f else {}
            r["base_levels"] = text(res.get("onchip.levels", b"?"))
        except KeyError as e:
            raise PlotError(f"{path}: malformed {FMT} results file (missing {e})")
    n = len(r["series"])
    for k in ("device",) + COLUMNS + CURVES:
        if len(r[k]) != n:
            raise PlotError(f"{path}: malformed {FMT} results file (/runs/{k} has {len(r[k])} rows, /runs/series {n})")
    return r


def rows(r, series, device=None):
    """Indices of the runs of `series` (and `device`), in file order (the sweep's order)."""
    return [i for i, (s, d) in enumerate(zip(r["series"], r["device"])) if s == series and device in (None, d)]


def swept(r):
    """The swept series in file order, without the base."""
    out = []
    for s in r["series"]:
        if s != "base" and s not in out:
            out.append(s)
    return out


def report(r):
    pct = f"{100 * r['confidence']:g}%"
    print(f"\n{os.path.basename(r['path'])}: on-chip learning on Iris ({r['status']}), topology {r['topology']}, "
          f"{r['chips']} chips x {r['folds']} folds per run, test accuracy mean [{pct} CI] over chips\n")
    print("| series | value | device | test accuracy | vs float |")
    print("|---|---|---|---|---|")
    for i, (s, d) in enumerate(zip(r["series"], r["device"])):
        v = r["value"][i]
        vs = "-" if math.isnan(v) else ("inf" if s == LEVELS and v == 0 else f"{v:g}")
        acc = f"{r['test_acc_mean'][i]:.4f} [{r['test_acc_ci_lo'][i]:.4f}, {r['test_acc_ci_hi'][i]:.4f}]"
        diff = "-"
        if r["float_run"][i] >= 0:
            diff = (f"{r['diff_vs_float_mean'][i]:+.4f} [{r['diff_vs_float_ci_lo'][i]:+.4f}, "
                    f"{r['diff_vs_float_ci_hi'][i]:+.4f}]")
        print(f"| {s} | {vs} | {d} | {acc} | {diff} |")


def note(ax, msg):
    """Marks a panel whose data the file lacks; returns the message for the printed report."""
    ax.text(0.5, 0.5, textwrap.fill(msg, 30), ha="center", va="center", transform=ax.transAxes, fontsize=9,
            color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
    return msg


def yerr(r, idx):
    import numpy as np

    m = r["test_acc_mean"][idx]
    return m, np.vstack([m - r["test_acc_ci_lo"][idx], r["test_acc_ci_hi"][idx] - m])


def panel_curves(ax, r):
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    ax.set_title(f"(a) training, base series (levels = {r['base_levels']})", fontsize=9)
    base = [(d, rows(r, "base", d)) for d in DEVICES]
    base = [(d, i[0]) for d, i in base if i]
    if not base:
        return note(ax, "no base series in this file")
    lx = ax.twinx()
    for d, i in base:
        ct, cl = r["curve_test_acc"][i], r["curve_train_loss"][i]
        e = np.arange(1, len(ct) + 1)
        ax.plot(e, ct, "-", color=COLORS[d], label=f"{d}: test accuracy")
        lx.plot(e, cl, "--", color=COLORS[d], lw=1, alpha=0.8, label=f"{d}: training loss")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("test accuracy (mean over chips, folds)")
    ax.set_ylim(0, 1.02)
    lx.set_ylabel("training loss 1/2 |y - t|^2 (dashed)")
    lx.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = lx.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=6, loc="lower left", ncol=2)


def panel_levels(ax, r):
    import numpy as np

    pct = f"{100 * r['confidence']:g}%"
    ax.set_title(f"(b) pulse resolution (mean, {pct} CI over {r['chips']} chips)", fontsize=9)
    devs = [(d, rows(r, LEVELS, d)) for d in ("mosfet", "rram")]
    devs = [(d, i) for d, i in devs if i]
    if not devs:
        return note(ax, f"no {LEVELS} sweep of mosfet or rram in this file")
    finite = sorted({r["value"][i] for _, idx in devs for i in idx if r["value"][i] > 0})
    inf_x = 2 * finite[-1] if finite else 1.0  # one octave right of the finest finite resolution

    def pos(v):
        return inf_x if v == 0 else v

    fb = rows(r, "base", "float")
    if fb:
        i = fb[0]
        ax.axhspan(r["test_acc_ci_lo"][i], r["test_acc_ci_hi"][i], color=COLORS["float"], alpha=0.15,
                   label=f"float (base): {r['test_acc_mean'][i]:.3f}")
        ax.axhline(r["test_acc_mean"][i], color=COLORS["float"], lw=0.8)
    for d, idx in devs:
        idx = sorted(idx, key=lambda i: pos(r["value"][i]))
        x = np.array([pos(r["value"][i]) for i in idx])
        m, err = yerr(r, idx)
        fin = x != inf_x if finite else np.zeros(len(x), bool)
        ax.errorbar(x[fin], m[fin], yerr=err[:, fin], fmt="o-", color=COLORS[d], capsize=3, label=d)
        if (~fin).any():
            ax.errorbar(x[~fin], m[~fin], yerr=err[:, ~fin], fmt="D", color=COLORS[d], capsize=3, mfc="white")
    ax.set_xscale("log", base=2)
    ticks = finite + [inf_x] if any(r["value"][i] == 0 for _, idx in devs for i in idx) else finite
    ax.set_xticks(ticks)
    ax.set_xticklabels(["inf" if t == inf_x and t not in finite else f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("onchip.levels (weight states per synapse; inf = unquantized)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")


def panel_others(ax, r):
    import numpy as np

    pct = f"{100 * r['confidence']:g}%"
    ax.set_title(f"(c) other sweeps (mean, {pct} CI)", fontsize=9)
    others = [s for s in swept(r) if s != LEVELS]
    if not others:
        return note(ax, "no other swept series in this file")
    styles = {"float": ":", "mosfet": "-", "rram": "--"}
    lines = [(s, d, rows(r, s, d)) for s in others for d in DEVICES]
    lines = [(s, d, idx) for s, d, idx in lines if idx]
    lists = []
    for k, (s, d, idx) in enumerate(lines):
        vals = [r["value"][i] for i in idx]
        x = np.arange(len(idx)) + (k - (len(lines) - 1) / 2) * 0.05  # keeps overlapping intervals apart
        m, err = yerr(r, idx)
        c = f"C{3 + others.index(s)}" if len(others) > 1 else COLORS[d]
        label = f"{s} ({d})" + (": " + ", ".join(f"{v:g}" for v in vals) if len(others) > 1 else "")
        ax.errorbar(x, m, yerr=err, fmt="o" + styles[d], color=c, capsize=2, ms=4, label=label)
        lists.append(vals)
    n = max(len(v) for v in lists)
    ax.set_xticks(range(n))
    if all(v == lists[0] for v in lists):
        ax.set_xticklabels([f"{v:g}" for v in lists[0]])
        ax.set_xlabel(others[0] if len(others) == 1 else "swept value")
    else:
        ax.set_xticklabels([str(j + 1) for j in range(n)])
        ax.set_xlabel("sweep point (values in the legend)")
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6 if len(lines) < 5 else 5, loc="best")


def main(argv):
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("results", help="results file written by `aimc onchip` (HDF5)")
    p.add_argument("--out", metavar="PNG", help="image to write (default: the results file with .png)")
    a = p.parse_args(argv)
    require_plot_libs()
    r = load(a.results)
    report(r)
    print()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 3, figsize=(12, 4), dpi=120)
    notes = [(k, panel(ax, r)) for k, panel, ax in zip("abc", (panel_curves, panel_levels, panel_others), axs)]
    for k, msg in notes:
        if msg:
            print(f"panel ({k}) left empty: {msg}")
    t = f"On-chip learning on Iris, {r['topology']} network, {r['chips']} chips x {r['folds']} folds per point"
    if r["status"] != "complete":
        t += f"  [status: {r['status']}]"
    fig.suptitle(t, fontsize=10)
    out = a.out or os.path.splitext(a.results)[0] + ".png"
    print(save_png(fig, out))
    return 0


if __name__ == "__main__":
    run(main, PROG)
