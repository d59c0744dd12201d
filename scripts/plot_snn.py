#!/usr/bin/env python3
"""Tables and plot of an `aimc snn` results file (README "Spiking networks without ADCs").

Prints the analog layers with their input activity, the Monte Carlo accuracy over chips of the five
variants (ideal partial sums, multi-bit ADC, 1-bit sense amplifiers after ordinary, hardware-aware and
progressive training) at every sweep point with the clean digital accuracy of each variant's model, and
the energy and latency per inference of the ADC design and the sense-amplifier design with their ratios.
Writes one PNG: accuracy per variant over the sweep, and the energy and latency ratios over tile_rows.

  "$(scripts/python.sh)" scripts/plot_snn.py build/snn/cnn.h5 [--out docs/img/snn_cnn.png]
"""
import os

from aimc_plot import Parser, PlotError, open_results, require_plot_libs, run, save_png, text

PROG = "plot_snn.py"
VARIANTS = ("ideal", "adc", "sense_amp", "hwa", "progressive")
LABELS = {"ideal": "(1) ideal partial sums", "adc": "(2) {bits}-bit ADC", "sense_amp": "(3) 1-bit, ordinary training",
          "hwa": "(4) 1-bit, hardware-aware", "progressive": "(5) 1-bit, progressive"}
# Apolinario et al. (IEEE TETC 2023, arXiv:2211.02167): ADC-less vs high-precision ADC designs.
PAPER_ENERGY = (2.0, 7.0)
PAPER_LATENCY = (8.9, 24.6)


def load(path):
    import numpy as np

    with open_results(path, "aimc-snn") as f:
        try:
            r = {"path": path, "model": text(f.attrs.get("model_path", b"?")), "status": text(f.attrs.get("status", b"?")),
                 "trials": int(f.attrs["trials"]), "steps": int(f.attrs["time_steps"]),
                 "bits": int(f["cost"].attrs["adc_bits"])}
            axes = [text(a) for a in f["sweep/axes"][()]]
            r["axis"] = axes[0] if axes else None
            r["x"] = np.asarray(f["sweep"][axes[0]][()], dtype=float) if axes else np.zeros(1)
            r["variants"] = {}
            for v in VARIANTS:
                g = f["variants"][v]
                d = {"clean": np.asarray(g["digital_accuracy"][()], dtype=float)}
                if "summary" in g:
                    sm = g["summary"]
                    for k in ("mean", "ci_lo", "ci_hi"):
                        d[k] = np.asarray(sm[f"accuracy_{k}"][()], dtype=float)
                    d["n"] = np.asarray(sm["trials"][()], dtype=int)
                r["variants"][v] = d
            lg = f["layers"]
            r["layers"] = list(zip([text(s) for s in lg["name"][()]], lg["rows"][()], lg["cols"][()], lg["mvms"][()],
                                   lg["input_activity"][()]))
            c = f["cost"]
            r["tile_rows"] = np.asarray(c["tile_rows"][()], dtype=int)
            r["energy_ratio"] = np.asarray(c["energy_ratio"][()], dtype=float)
            r["latency_ratio"] = np.asarray(c["latency_ratio"][()], dtype=float)
            r["cost"] = {k: {q: np.asarray(c[k][q][()], dtype=float) for q in ("energy", "latency", "readout_energy")}
                         for k in ("adc", "sense_amp")}
            return r
        except KeyError as e:
            raise PlotError(f"{path}: malformed aimc-snn results file (missing {e})")


def label(v, r):
    return LABELS[v].format(bits=r["bits"])


def report(r):
    print(f"\n{os.path.basename(r['path'])}: {r['model']} ({r['status']}), T = {r['steps']} time steps, "
          f"{r['trials']} chips per point\n")
    print("| analog layer | K x N | vectors per step | input activity |")
    print("|---|---|---|---|")
    for name, rows, cols, mvms, act in r["layers"]:
        print(f"| {name} | {rows} x {cols} | {mvms} | {act:.3f} |")
    axis = r["axis"] or "point"
    print(f"\nMonte Carlo over chips (mean accuracy [95% CI]; clean digital accuracy of the variant's model):\n")
    print("| " + axis + " | " + " | ".join(label(v, r) for v in VARIANTS) + " |")
    print("|---" * (len(VARIANTS) + 1) + "|")
    for i, x in enumerate(r["x"]):
        cells = []
        for v in VARIANTS:
            d = r["variants"][v]
            if "mean" in d:
                cells.append(f"{d['mean'][i]:.4f} [{d['ci_lo'][i]:.4f}, {d['ci_hi'][i]:.4f}] (n={d['n'][i]}; "
                             f"clean {d['clean'][i]:.4f})")
            else:
                cells.append("-")
        print(f"| {x:g} | " + " | ".join(cells) + " |")
    print(f"\nenergy and latency per inference over {r['steps']} steps, {r['bits']}-bit ADC design vs sense amplifiers "
          f"(paper: {PAPER_ENERGY[0]:g}-{PAPER_ENERGY[1]:g}x energy, {PAPER_LATENCY[0]:g}-{PAPER_LATENCY[1]:g}x latency):\n")
    print("| tile_rows | ADC energy (J) | ADC latency (s) | SA energy (J) | SA latency (s) | energy ratio | latency ratio |")
    print("|---|---|---|---|---|---|---|")
    a, s = r["cost"]["adc"], r["cost"]["sense_amp"]
    for i, n in enumerate(r["tile_rows"]):
        print(f"| {n} | {a['energy'][i]:.3g} | {a['latency'][i]:.3g} | {s['energy'][i]:.3g} | {s['latency'][i]:.3g} | "
              f"{r['energy_ratio'][i]:.2f} | {r['latency_ratio'][i]:.2f} |")


def main(argv):
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("results", help="aimc snn results file")
    p.add_argument("--out", help="PNG to write (default: snn.png next to the results file)")
    a = p.parse_args(argv)
    require_plot_libs()
    r = load(a.results)
    report(r)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    ax = axs[0]
    n = len(r["x"])
    width = 0.8 / len(VARIANTS)
    for j, v in enumerate(VARIANTS):
        d = r["variants"][v]
        if "mean" not in d:
            continue
        pos = [i + (j - (len(VARIANTS) - 1) / 2) * width for i in range(n)]
        err = [[d["mean"][i] - d["ci_lo"][i] for i in range(n)], [d["ci_hi"][i] - d["mean"][i] for i in range(n)]]
        ax.bar(pos, d["mean"], width, yerr=err, color=f"C{j}", capsize=2, label=label(v, r))
    ax.set_xticks(range(n))
    ax.set_xticklabels([f"{x:g}" for x in r["x"]])
    ax.set_xlabel(r["axis"] or "sweep point")
    ax.set_ylabel("top-1 accuracy")
    ax.set_ylim(0, 1.2)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_title(f"Monte Carlo over {r['trials']} chips (mean, 95% CI), T = {r['steps']}", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=6.5, loc="upper center", ncol=3)
    ax = axs[1]
    ax.plot(r["tile_rows"], r["energy_ratio"], "o-", color="C0", label="energy: ADC / sense amp")
    ax.plot(r["tile_rows"], r["latency_ratio"], "s-", color="C3", label="latency: ADC / sense amp")
    ax.axhspan(*PAPER_ENERGY, color="C0", alpha=0.12, label="paper's energy range")
    ax.axhspan(*PAPER_LATENCY, color="C3", alpha=0.12, label="paper's latency range")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(list(r["tile_rows"]))
    ax.set_xticklabels([str(t) for t in r["tile_rows"]])
    ax.set_xlabel("crossbar rows (tile_rows)")
    ax.set_ylabel(f"{r['bits']}-bit ADC design / 1-bit design")
    ax.set_title("per inference (devices/snn_cost.hpp)", fontsize=9)
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"{os.path.basename(r['model'])}: spiking network on ADC-less in-memory computing", fontsize=10)
    fig.tight_layout()
    out = a.out or os.path.join(os.path.dirname(a.results) or ".", "snn.png")
    print("\n" + save_png(fig, out))
    return 0


if __name__ == "__main__":
    run(main, PROG)
