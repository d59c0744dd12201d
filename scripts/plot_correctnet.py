#!/usr/bin/env python3
"""Tables and plot of `aimc correctnet` results files (README "CorrectNet").

For each file: the four variants (baseline, Lipschitz-regularized, compensated, both = CorrectNet) with
their clean accuracy and parameter/MAC overhead, the mean accuracy and 95% CI of the mean at every
sweep point, each variant's mean as a fraction of the baseline's clean accuracy, and the placement
search (the REINFORCE agent's choice against the exhaustive optimum and their search costs). Writes one
PNG with a panel per file.

  "$(scripts/python.sh)" scripts/plot_correctnet.py build/correctnet/mlp.h5 build/correctnet/cnn.h5 \
      [--out docs/img/correctnet.png]
"""
import os

from aimc_plot import Parser, PlotError, open_results, require_plot_libs, run, save_png, text

PROG = "plot_correctnet.py"
VARIANTS = ["baseline", "lipschitz", "compensated", "both"]
LABELS = {"baseline": "baseline", "lipschitz": "+ Lipschitz", "compensated": "+ compensation",
          "both": "CorrectNet (both)"}


def load(path):
    import numpy as np

    with open_results(path, "aimc-correctnet") as f:
        try:
            axes = [text(a) for a in f["sweep/axes"][()]]
            if len(axes) != 1:
                raise PlotError(f"{path}: expected one swept axis, found {len(axes)}")
            r = {"path": path, "axis": axes[0], "x": np.asarray(f["sweep"][axes[0]][()], dtype=float),
                 "model": text(f.attrs.get("model_path", b"?")), "status": text(f.attrs.get("status", b"?")),
                 "ranks": [int(v) for v in f["sites/ranks"][()]], "variants": {}, "search": {}}
            for v in VARIANTS:
                g = f["variants"][v]
                sm = g["summary"]
                r["variants"][v] = {
                    "clean": float(g.attrs["digital_accuracy"]),
                    "params": int(g.attrs["parameters"]), "extra_params": int(g.attrs["extra_parameters"]),
                    "macs": int(g.attrs["macs"]), "extra_macs": int(g.attrs["extra_macs"]),
                    "placement": [int(a) for a in g["placement"][()]],
                    "mean": np.asarray(sm["accuracy_mean"][()], dtype=float),
                    "lo": np.asarray(sm["accuracy_ci_lo"][()], dtype=float),
                    "hi": np.asarray(sm["accuracy_ci_hi"][()], dtype=float),
                    "trials": np.asarray(sm["trials"][()]),
                }
            for b in ("baseline", "lipschitz"):
                g = f["search"][b]
                s = {"exhaustive": bool(g.attrs["exhaustive"]), "rl_best": [int(a) for a in g["rl_best"][()]],
                     "rl_reward": float(g.attrs["rl_best_reward"]), "rl_evals": int(g.attrs["rl_evaluations"])}
                if s["exhaustive"]:
                    s["ex_best"] = [int(a) for a in g["exhaustive_best"][()]]
                    s["ex_reward"] = float(g.attrs["exhaustive_best_reward"])
                    s["ex_evals"] = int(g.attrs["exhaustive_evaluations"])
                r["search"][b] = s
            return r
        except KeyError as e:
            raise PlotError(f"{path}: malformed aimc-correctnet results file (missing {e})")


def placement(p, ranks):
    return "[" + " ".join("-" if a == 0 else f"r{ranks[a - 1]}" for a in p) + "]"


def report(r):
    b = r["variants"]["baseline"]
    name = os.path.basename(r["path"])
    print(f"\n{name}: {r['model']} ({r['status']}), {int(b['trials'][0])} chips per point, {r['axis']}\n")
    print("| variant | clean accuracy | extra parameters | extra MACs | blocks |")
    print("|---|---|---|---|---|")
    for v in VARIANTS:
        d = r["variants"][v]
        base = r["variants"]["baseline" if v in ("baseline", "compensated") else "lipschitz"]
        bp, bm = base["params"] - base["extra_params"], base["macs"] - base["extra_macs"]
        print(f"| {LABELS[v]} | {d['clean']:.4f} | {d['extra_params']} ({d['extra_params'] / bp:.2%}) | "
              f"{d['extra_macs']} ({d['extra_macs'] / bm:.2%}) | "
              f"{placement(d['placement'], r['ranks']) if d['placement'] else '-'} |")
    cols = [f"{v:g}" for v in r["x"]]
    print("\nmean accuracy [95% CI of the mean]:\n")
    print(f"| variant | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for v in VARIANTS:
        d = r["variants"][v]
        print(f"| {LABELS[v]} | " + " | ".join(f"{d['mean'][i]:.4f} [{d['lo'][i]:.4f}, {d['hi'][i]:.4f}]"
                                              for i in range(len(cols))) + " |")
    print("\nmean accuracy / the baseline's clean accuracy:\n")
    print(f"| variant | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for v in VARIANTS:
        d = r["variants"][v]
        print(f"| {LABELS[v]} | " + " | ".join(f"{d['mean'][i] / b['clean']:.1%}" for i in range(len(cols))) + " |")
    half = [i for i in range(len(cols)) if b["mean"][i] < 0.5 * b["clean"]]
    if half:
        print(f"\nthe baseline falls below half its clean accuracy at {r['axis']} = {cols[half[0]]}")
    print("\nplacement search (reward = accuracy on held-out images - penalty x extra parameter fraction):\n")
    print("| backbone | agent's choice | reward | evaluations | exhaustive optimum | reward | evaluations |")
    print("|---|---|---|---|---|---|---|")
    for k, s in r["search"].items():
        ex = (f"{placement(s['ex_best'], r['ranks'])} | {s['ex_reward']:.4f} | {s['ex_evals']}"
              if s["exhaustive"] else "- | - | -")
        print(f"| {k} | {placement(s['rl_best'], r['ranks'])} | {s['rl_reward']:.4f} | {s['rl_evals']} | {ex} |")


def main(argv):
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="+", help="aimc correctnet results files")
    p.add_argument("--out", help="PNG to write (default: correctnet.png next to the first file)")
    a = p.parse_args(argv)
    require_plot_libs()
    rs = [load(f) for f in a.results]
    for r in rs:
        report(r)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, len(rs), figsize=(5.5 * len(rs), 4.4), dpi=120, squeeze=False)
    for ax, r in zip(axs[0], rs):
        for j, v in enumerate(VARIANTS):
            d = r["variants"][v]
            ax.fill_between(r["x"], d["lo"], d["hi"], color=f"C{j}", alpha=0.2, linewidth=0)
            ax.plot(r["x"], d["mean"], "o-", color=f"C{j}", markersize=4, label=LABELS[v])
        ax.axhline(r["variants"]["baseline"]["clean"], color="k", linestyle=":", linewidth=0.8)
        ax.set_xlabel(r["axis"] + " (lognormal sigma)")
        ax.set_ylabel("top-1 accuracy")
        ax.set_title(f"{os.path.basename(r['model'])}: {int(r['variants']['baseline']['trials'][0])} chips per point "
                     "(95% CI bands; dotted: clean)", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    out = a.out or os.path.join(os.path.dirname(a.results[0]) or ".", "correctnet.png")
    print("\n" + save_png(fig, out))
    return 0


if __name__ == "__main__":
    run(main, PROG)
