#!/usr/bin/env python3
"""Tables and plot of an `aimc basisn` results file (README "BasisN").

Prints the clean accuracy of the standard and the BasisN model, their Monte Carlo accuracy over chips at
every sweep point (mean and CI of the mean), the converted layers with their basis fit, and the cost per
inference over the number of available crossbars (cycles, energy, EDP of the standard mapping, which
reprograms when it does not fit, and of BasisN, with the ratio). Writes one PNG: accuracy vs the swept
hardware parameter, and EDP and latency vs n_xbar.

  "$(scripts/python.sh)" scripts/plot_basisn.py build/basisn/cnn.h5 [--out docs/img/basisn_cnn.png]
"""
import os

from aimc_plot import Parser, PlotError, open_results, require_plot_libs, run, save_png, text

PROG = "plot_basisn.py"
VARIANTS = ("standard", "basisn")


def load(path):
    import numpy as np

    with open_results(path, "aimc-basisn") as f:
        try:
            r = {"path": path, "model": text(f.attrs.get("model_path", b"?")), "status": text(f.attrs.get("status", b"?")),
                 "trials": int(f.attrs["trials"]), "standard_xbars": int(f.attrs["standard_crossbars"]),
                 "basis_xbars": int(f.attrs["basis_crossbars"]), "crossover": int(f.attrs["crossover_n_xbar"])}
            axes = [text(a) for a in f["sweep/axes"][()]]
            r["axis"] = axes[0] if axes else None
            r["x"] = np.asarray(f["sweep"][axes[0]][()], dtype=float) if axes else np.zeros(1)
            r["variants"] = {}
            for v in VARIANTS:
                g = f["variants"][v]
                d = {"clean": float(g.attrs["digital_accuracy"]), "params": int(g.attrs["parameters"]),
                     "analog_macs": int(g.attrs["analog_macs"]), "digital_macs": int(g.attrs["digital_macs"])}
                if "summary" in g:
                    sm = g["summary"]
                    for k in ("mean", "ci_lo", "ci_hi"):
                        d[k] = np.asarray(sm[f"accuracy_{k}"][()], dtype=float)
                    d["n"] = np.asarray(sm["trials"][()], dtype=int)
                r["variants"][v] = d
            lg = f["layers"]
            r["layers"] = list(zip([text(s) for s in lg["name"][()]], lg["rows"][()], lg["cols"][()],
                                   lg["positions"][()], lg["segments"][()], lg["fit_error"][()]))
            b = lg["basis"]
            r["L"], r["M"] = int(b.shape[0]), int(b.shape[1])
            r["n_xbar"] = np.asarray(f["cost/n_xbar"][()], dtype=float)
            r["t_read"] = float(f["resolved"].attrs["xbar_cost.t_read_s"])
            r["cost"] = {}
            for v in VARIANTS:
                g = f["cost"][v]
                r["cost"][v] = {k: np.asarray(g[k][()], dtype=float) for k in ("cycles", "latency", "energy", "edp")}
                r["cost"][v]["feasible"] = np.asarray(g["feasible"][()], dtype=bool)
                r["cost"][v]["mapping"] = [text(s) for s in g["mapping"][()]]
            return r
        except KeyError as e:
            raise PlotError(f"{path}: malformed aimc-basisn results file (missing {e})")


def report(r):
    s, b = r["variants"]["standard"], r["variants"]["basisn"]
    print(f"\n{os.path.basename(r['path'])}: {r['model']} ({r['status']}), basis {r['L']} x {r['M']} "
          f"({r['basis_xbars']} crossbar(s)); the standard mapping needs {r['standard_xbars']} crossbars")
    print(f"clean accuracy: standard {s['clean']:.4f}, BasisN {b['clean']:.4f} "
          f"(difference {100 * (b['clean'] - s['clean']):+.2f} points); parameters {s['params']} / {b['params']}; "
          f"MACs per inference: standard {s['analog_macs']} on crossbars, BasisN {b['analog_macs']} on crossbars + "
          f"{b['digital_macs']} digital\n")
    print("| layer | K x N | positions | segments | basis fit error |")
    print("|---|---|---|---|---|")
    for name, rows, cols, pos, seg, err in r["layers"]:
        print(f"| {name} | {rows} x {cols} | {pos} | {seg} | {err:.3f} |")
    if "mean" in s:
        print(f"\nMonte Carlo over chips (mean accuracy [95% CI]; {r['axis'] or 'no sweep'}):\n")
        print("| " + (r["axis"] or "point") + " | standard | BasisN | BasisN in or above the standard's CI |")
        print("|---|---|---|---|")
        for i, x in enumerate(r["x"]):
            ok = b["mean"][i] >= s["ci_lo"][i]
            print(f"| {x:g} | {s['mean'][i]:.4f} [{s['ci_lo'][i]:.4f}, {s['ci_hi'][i]:.4f}] (n={s['n'][i]}) | "
                  f"{b['mean'][i]:.4f} [{b['ci_lo'][i]:.4f}, {b['ci_hi'][i]:.4f}] (n={b['n'][i]}) | "
                  f"{'yes' if ok else 'no'} |")
    cs, cb = r["cost"]["standard"], r["cost"]["basisn"]
    t = r["t_read"]
    print(f"\ncost per inference (cycles: latency in crossbar read cycles of {t:g} s, write-and-verify included):\n")
    print("| n_xbar | standard mapping | cycles | energy (J) | EDP (J s) | BasisN cycles | energy (J) | EDP (J s) | "
          "cycles ratio | EDP ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for i, n in enumerate(r["n_xbar"]):
        c0 = cs["latency"][i] / t
        if cb["feasible"][i]:
            c1 = cb["latency"][i] / t
            bn = f"{c1:.4g} | {cb['energy'][i]:.3g} | {cb['edp'][i]:.3g} | {c1 / c0:.3g} | {cb['edp'][i] / cs['edp'][i]:.3g}"
        else:
            bn = "- | - | - | - | -"
        print(f"| {n:g} | {cs['mapping'][i]} | {c0:.4g} | {cs['energy'][i]:.3g} | {cs['edp'][i]:.3g} | {bn} |")
    if r["crossover"] >= 0:
        print(f"\nthe standard mapping's EDP is below BasisN's from n_xbar = {r['crossover']} on")
    else:
        print("\nBasisN's EDP is below the standard mapping's at every n_xbar of the sweep")


def main(argv):
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("results", help="aimc basisn results file")
    p.add_argument("--out", help="PNG to write (default: basisn.png next to the results file)")
    a = p.parse_args(argv)
    require_plot_libs()
    r = load(a.results)
    report(r)
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    ax = axs[0]
    labels = {"standard": "standard mapping", "basisn": f"BasisN ({r['L']} x {r['M']} basis)"}
    for j, v in enumerate(VARIANTS):
        d = r["variants"][v]
        if "mean" not in d:
            continue
        ax.fill_between(r["x"], d["ci_lo"], d["ci_hi"], color=f"C{j}", alpha=0.25, linewidth=0)
        ax.plot(r["x"], d["mean"], "o-", color=f"C{j}", markersize=4, label=f"{labels[v]} (clean {d['clean']:.3f})")
    ax.set_xlabel(r["axis"] or "sweep point")
    ax.set_ylabel("top-1 accuracy")
    ax.set_title(f"Monte Carlo over {r['trials']} chips (mean, 95% CI)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax = axs[1]
    cs, cb = r["cost"]["standard"], r["cost"]["basisn"]
    n = r["n_xbar"]
    ok = cb["feasible"]
    ax.loglog(n, cs["edp"], "s-", color="C0", markersize=4, label="standard / reprogramming: EDP")
    ax.loglog(n[ok], cb["edp"][ok], "o-", color="C1", markersize=4, label="BasisN: EDP")
    ax.set_xlabel("available crossbars n_xbar")
    ax.set_ylabel("energy-delay product per inference (J s)")
    ax.axvline(r["standard_xbars"], color="k", linestyle=":", linewidth=0.9)
    ax.text(r["standard_xbars"], ax.get_ylim()[1], " standard fits", fontsize=7, va="top")
    ax2 = ax.twinx()
    ax2.loglog(n, cs["latency"], "s--", color="C0", alpha=0.5, markersize=3, label="standard / reprogramming: latency")
    ax2.loglog(n[ok], cb["latency"][ok], "o--", color="C1", alpha=0.5, markersize=3, label="BasisN: latency")
    ax2.set_ylabel("latency per inference (s)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="lower left")
    ax.set_title("cost per inference (devices/xbar_cost.hpp)", fontsize=9)
    ax.grid(True, which="both", alpha=0.2)
    fig.suptitle(f"{os.path.basename(r['model'])}: BasisN vs the standard mapping", fontsize=10)
    fig.tight_layout()
    out = a.out or os.path.join(os.path.dirname(a.results) or ".", "basisn.png")
    print("\n" + save_png(fig, out))
    return 0


if __name__ == "__main__":
    run(main, PROG)
