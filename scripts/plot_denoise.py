#!/usr/bin/env python3
"""Tables and plot of an `aimc denoise` results file (README "Denoising blocks").

Per noise level: the accuracy drop (clean accuracy - mean accuracy under the noise, with the CI of the
mean over noise instances) without blocks and with the blocks the gradient-norm exploration placed at
each parameter budget, per block form; the random placements at the same budgets and, when every
placement was evaluated, the best one within each budget; parameter and MAC overheads. Then the
analog-hardware evaluation of the same blocks. Writes one PNG: a panel per level (accuracy drop vs
parameter overhead) and a panel for the analog hardware.

  "$(scripts/python.sh)" scripts/plot_denoise.py build/denoise/cnn.h5 [--out docs/img/denoise.png]
"""
import os

from aimc_plot import Parser, PlotError, open_results, require_plot_libs, run, save_png, text

PROG = "plot_denoise.py"


def variant(f, level, name):
    g = f["noise"][level]["variants"][name]
    return {"name": name, "extra_params": int(g.attrs["extra_parameters"]), "extra_macs": int(g.attrs["extra_macs"]),
            "mean": float(g.attrs["accuracy_mean"]), "lo": float(g.attrs["accuracy_ci_lo"]),
            "hi": float(g.attrs["accuracy_ci_hi"]), "n": int(g.attrs["trials_done"])}


def load(path):
    import numpy as np

    with open_results(path, "aimc-denoise") as f:
        try:
            r = {"path": path, "model": text(f.attrs.get("model_path", b"?")), "status": text(f.attrs.get("status", b"?")),
                 "clean": float(f.attrs["digital_accuracy"]), "params": int(f.attrs["backbone_parameters"]),
                 "macs": int(f.attrs["backbone_macs"]), "noise": text(f.attrs["noise_model"]),
                 "layers": text(f.attrs["noise_layers"]), "exhaustive": bool(f.attrs["exhaustive"]),
                 "budgets": [float(b) for b in f["budgets"][()]], "forms": [text(s) for s in f["forms"][()]],
                 "sites": [text(s) for s in f["sites/after"][()]], "levels": []}
            for i, eta in enumerate(f["levels"][()]):
                name = f"level{i:03d}"
                g = f["noise"][name]
                lv = {"eta": float(eta), "grad": [float(v) for v in g["gradient_norm"][()]],
                      "base": variant(f, name, "baseline"), "forms": {}}
                for form in r["forms"]:
                    fg = g[form]
                    d = {"greedy": [variant(f, name, text(s)) for s in fg["greedy"][()]],
                         "random": [variant(f, name, text(s)) for s in fg["random"][()]],
                         "target": int(fg.attrs["target_budget"])}
                    if "exhaustive" in fg:
                        d["exhaustive"] = [variant(f, name, text(s)) for s in fg["exhaustive"][()]]
                    lv["forms"][form] = d
                r["levels"].append(lv)
            axes = [text(a) for a in f["sweep/axes"][()]]
            r["analog_axis"] = axes[0] if axes else None
            r["analog_x"] = np.asarray(f["sweep"][axes[0]][()], dtype=float) if axes else np.zeros(1)
            r["analog_level"] = float(f["analog"].attrs["level"])
            r["analog"] = {}
            for name in f["analog"]:
                sm = f["analog"][name]["summary"]
                r["analog"][name] = {k: np.asarray(sm[f"accuracy_{k}"][()], dtype=float) for k in ("mean", "ci_lo", "ci_hi")}
            return r
        except KeyError as e:
            raise PlotError(f"{path}: malformed aimc-denoise results file (missing {e})")


def drop(r, v):
    return r["clean"] - v["mean"], r["clean"] - v["hi"], r["clean"] - v["lo"]


def placement(name):
    return name.split("_")[-1] if "_" in name else "none"


def report(r):
    print(f"\n{os.path.basename(r['path'])}: {r['model']} ({r['status']}), clean accuracy {r['clean']:.4f}, "
          f"{r['noise']} noise on {r['layers']} Dense/Conv2d outputs, sites {', '.join(r['sites'])}")
    for lv in r["levels"]:
        b = lv["base"]
        d0 = drop(r, b)
        print(f"\neta = {lv['eta']:g}: drop without blocks {d0[0]:.4f} [{d0[1]:.4f}, {d0[2]:.4f}] "
              f"({b['n']} noise instances); gradient norms " +
              ", ".join(f"{s} {g:.3g}" for s, g in zip(r["sites"], lv["grad"])) + "\n")
        print("| form | budget | placement | extra params | extra MACs | drop [95% CI] | drop cut | random placements "
              "(drop) |" + (" best placement (drop) |" if r["exhaustive"] else ""))
        print("|---|---|---|---|---|---|---|---|" + ("---|" if r["exhaustive"] else ""))
        draws = len(lv["forms"][r["forms"][0]]["random"]) // max(1, len(r["budgets"]))
        for form in r["forms"]:
            fd = lv["forms"][form]
            for i, bud in enumerate(r["budgets"]):
                g = fd["greedy"][i]
                d = drop(r, g)
                cut = 1 - d[0] / d0[0] if d0[0] > 0 else float("nan")
                rnd = fd["random"][i * draws:(i + 1) * draws]
                rs = ", ".join(f"{placement(v['name'])} {drop(r, v)[0]:.4f}" for v in rnd)
                ex = ""
                if "exhaustive" in fd:
                    e = fd["exhaustive"][i]
                    ex = f" {placement(e['name'])} {drop(r, e)[0]:.4f} |"
                print(f"| {form} | {bud:.0%} | {placement(g['name'])} | {g['extra_params'] / r['params']:.2%} | "
                      f"{g['extra_macs'] / r['macs']:.2%} | {d[0]:.4f} [{d[1]:.4f}, {d[2]:.4f}] | {cut:.0%} | {rs} |{ex}")
            if fd["target"] >= 0:
                print(f"\n{form}: the target drop is met from budget {r['budgets'][fd['target']]:.0%} on")
    if r["analog"]:
        print(f"\nanalog hardware, blocks trained at eta = {r['analog_level']:g} "
              f"(mean accuracy [95% CI] over chips{', ' + r['analog_axis'] if r['analog_axis'] else ''}):\n")
        cols = [f"{x:g}" for x in r["analog_x"]]
        print("| variant | " + " | ".join(cols) + " |")
        print("|---|" + "---|" * len(cols))
        for name, a in r["analog"].items():
            print(f"| {name} | " + " | ".join(f"{a['mean'][i]:.4f} [{a['ci_lo'][i]:.4f}, {a['ci_hi'][i]:.4f}]"
                                             for i in range(len(cols))) + " |")


def main(argv):
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("results", help="aimc denoise results file")
    p.add_argument("--out", help="PNG to write (default: denoise.png next to the results file)")
    a = p.parse_args(argv)
    require_plot_libs()
    r = load(a.results)
    report(r)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(r["levels"]) + (1 if r["analog"] else 0)
    fig, axs = plt.subplots(1, n, figsize=(5.0 * n, 4.2), dpi=120, squeeze=False)
    markers = ["o", "s", "^", "D"]
    for ax, lv in zip(axs[0], r["levels"]):
        d0 = drop(r, lv["base"])
        ax.axhspan(d0[1] * 100, d0[2] * 100, color="0.8", alpha=0.6, linewidth=0)
        ax.axhline(d0[0] * 100, color="k", linestyle=":", linewidth=0.9, label="no blocks")
        for j, form in enumerate(r["forms"]):
            fd = lv["forms"][form]
            xs = [g["extra_params"] / r["params"] * 100 for g in fd["greedy"]]
            ds = [drop(r, g) for g in fd["greedy"]]
            ax.errorbar(xs, [d[0] * 100 for d in ds],
                        yerr=[[(d[0] - d[1]) * 100 for d in ds], [(d[2] - d[0]) * 100 for d in ds]],
                        fmt=markers[j % 4] + "-", color=f"C{j}", markersize=5, capsize=2, label=f"{form}, exploration")
            rx = [v["extra_params"] / r["params"] * 100 for v in fd["random"]]
            ry = [drop(r, v)[0] * 100 for v in fd["random"]]
            ax.scatter(rx, ry, marker="x", color=f"C{j}", s=28, alpha=0.7, label=f"{form}, random")
        ax.set_xlabel("extra parameters (% of the backbone)")
        ax.set_ylabel("accuracy drop (points)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"eta = {lv['eta']:g} ({r['noise']} activation noise)", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    if r["analog"]:
        ax = axs[0][-1]
        names = list(r["analog"])
        w = 0.8 / len(names)
        for j, name in enumerate(names):
            av = r["analog"][name]
            xs = [i + (j - (len(names) - 1) / 2) * w for i in range(len(r["analog_x"]))]
            ax.bar(xs, av["mean"], width=w, yerr=[av["mean"] - av["ci_lo"], av["ci_hi"] - av["mean"]], capsize=2,
                   color="0.55" if name == "baseline" else f"C{r['forms'].index(name.split('_')[0])}", label=name)
        ax.axhline(r["clean"], color="k", linestyle=":", linewidth=0.9)
        ax.set_xticks(range(len(r["analog_x"])))
        ax.set_xticklabels([f"{x:g}" for x in r["analog_x"]])
        ax.set_xlabel(r["analog_axis"] or "analog hardware")
        ax.set_ylabel("top-1 accuracy")
        ax.set_title(f"analog RRAM chips, blocks trained at eta = {r['analog_level']:g}", fontsize=9)
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{os.path.basename(r['model'])}: denoising blocks (clean accuracy {r['clean']:.3f}; 95% CIs)",
                 fontsize=10)
    fig.tight_layout()
    out = a.out or os.path.join(os.path.dirname(a.results) or ".", "denoise.png")
    print("\n" + save_png(fig, out))
    return 0


if __name__ == "__main__":
    run(main, PROG)
