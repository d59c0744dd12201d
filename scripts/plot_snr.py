#!/usr/bin/env python3
"""Plots an `aimc snr` results file (root attribute format = "aimc-snr") to one PNG and prints findings.

Panels (one figure):
  SNR vs x: per model, the analytical SNR_a (solid line) and SNR_T with the MPC ADC (dashed line), with
      the Monte Carlo values as markers and their confidence intervals as error bars (filled markers:
      SNR_a, hollow: SNR_T). One line per combination of the model's other swept axes (labelled); a
      colour per model. One such panel per distinct x axis (see "The x axis" below).
  ADC precision: B_ADC by the minimum precision criterion (MPC, filled) and the lossless
      B_x + B_w + ceil(log2 N) (hollow) against the analytical SNR_a.
  Energy per MAC (array + MPC ADC, log scale) against the analytical SNR_a: one curve per model and
      combination of the other swept axes, traced along the model's first numeric swept axis; the
      QS -> QR crossover (below) as a dotted vertical line.
  Accumulation (only if /accumulation exists): variance retention ratio VRR against the number of
      accumulated products n (log2 scale), one line per mantissa width with CI error bars, and vrr_min.

The x axis: --x AXIS puts AXIS on the x axis of a single SNR panel; models without that axis are left
out of that panel (not of the others). By default x is the first numeric swept axis common to all
models (e.g. n_rows). If there is none (the models share only a string axis such as technology, or
nothing), each model uses its own first numeric swept axis (e.g. t0_s for QS and IS, c_unit_F for QR),
and there is one SNR panel per distinct axis. Logarithmic x when a positive axis spans more than a
factor of 20. A string axis (technology) given with --x is drawn as categories.

Prints findings computed from the file (one fact per line), then the PNG's path as the last line:
per model the largest analytical SNR_a (per technology if technology is swept), the median and max
of SNR_A - SNR_T(MPC) and of B_lossless - B_MPC, the worst |analytical - MC| SNR_a gap, and, with
both QS and QR, the crossover: for targets on a 0.5 dB grid from the lowest to the highest SNR_a in
the file, the model with the least energy per MAC (MPC) among points with SNR_a >= target; QS is the
cheapest up to the crossover and QR above it.
Needs Debian's python3-h5py and python3-matplotlib; scripts/python.sh names a Python that has them:

  "$(scripts/python.sh)" scripts/plot_snr.py results/snr_rows.h5 [--x n_rows] [--out rows.png]
"""
import os

from aimc_plot import Parser, PlotError, open_results, require_plot_libs, run, save_png, text

PROG = "plot_snr.py"
KNOWN_MODELS = ("qs", "is", "qr")
MODEL_COLOURS = {"qs": "C0", "is": "C1", "qr": "C2"}
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">"]
# Analytical datasets the plots and findings read (each float64[P] in /<model>).
NEEDED = ("n_rows", "b_x", "b_w", "snr_a_db", "snr_A_db", "snr_T_mpc_db", "bits_mpc", "bits_lossless",
          "energy_per_mac_mpc_J")
MC_NEEDED = ("snr_a_db", "snr_T_mpc_db")
# Unit suffixes of swept parameter names (t0_s, c_unit_F, ...), for engineering-notation labels.
UNITS = {"s": "s", "F": "F", "V": "V", "A": "A", "J": "J", "m": "m", "K": "K", "Vm": "V m"}
GRID_DB = 0.5


def unit_of(axis):
    """Unit from a parameter name's suffix (t0_s -> s, c_unit_F -> F), or None."""
    head, sep, tail = axis.rpartition("_")
    return UNITS.get(tail) if sep and head else None


def show(axis, v):
    """One swept value as text: strings as they are, unit-suffixed axes in engineering notation."""
    if isinstance(v, str):
        return v
    u = unit_of(axis)
    if u is not None and v != 0:
        from matplotlib.ticker import EngFormatter

        return EngFormatter(unit=u, sep=" ")(v)
    return f"{v:g}"


def energy(v):
    """An energy in engineering notation with three significant digits (2.27 fJ, 878 aJ)."""
    import math

    from matplotlib.ticker import EngFormatter

    if not (v > 0 and math.isfinite(v)):
        return f"{v:g} J"
    e = min(max(3 * math.floor(math.log10(v) / 3), -24), 24)
    return f"{v / 10.0 ** e:.3g} {EngFormatter.ENG_PREFIXES[e]}J"


def upper(name):
    return name.upper()


def load(path):
    import numpy as np

    with open_results(path, "aimc-snr") as f:
        attrs = {k: text(v) if isinstance(v, bytes) else v for k, v in f.attrs.items()}
        names = [s.strip() for s in str(attrs.get("models", "")).split(",") if s.strip()]
        if not names:  # no attribute: whichever model groups exist
            names = [m for m in KNOWN_MODELS if m in f]
        if not names:
            raise PlotError(f"{path}: malformed aimc-snr results file (no model groups)")
        models = {}
        try:
            for name in names:
                g = f[name]
                d = {k: np.asarray(g[k][()], dtype=float) for k in NEEDED}
                points = len(d["snr_a_db"])
                axes = [text(a) for a in g["axes"][()]] if "axes" in g else []
                param = {}
                for a in axes:
                    v = g["param"][a][()]
                    if v.dtype.kind in "SOU":
                        param[a] = [text(s) for s in v]
                    else:
                        param[a] = np.asarray(v, dtype=float)
                mc = None
                if "mc" in g and all(k in g["mc"] for k in MC_NEEDED):
                    mc = {}
                    for k in MC_NEEDED:
                        for s in ("", "_lo", "_hi"):
                            mc[k + s] = (np.asarray(g["mc"][k + s][()], dtype=float) if k + s in g["mc"]
                                         else np.full(points, np.nan))
                for k, v in list(d.items()) + list(param.items()) + list((mc or {}).items()):
                    if len(v) != points:
                        raise PlotError(f"{path}: /{name}/{k} has {len(v)} points, /{name}/snr_a_db {points}")
                models[name] = {"name": name, "axes": axes, "param": param, "points": points, "mc": mc,
                                "mc_samples": int(g["mc"].attrs.get("samples", 0)) if mc else 0, **d}
            acc = None
            if "accumulation" in f:
                a = f["accumulation"]
                acc = {k: np.asarray(a[k][()], dtype=float) for k in ("n", "mantissa_bits", "vrr", "vrr_lo", "vrr_hi")}
                acc["min_mantissa_bits"] = (np.asarray(a["min_mantissa_bits"][()], dtype=float)
                                            if "min_mantissa_bits" in a else None)
                acc["vrr_min"] = float(a.attrs.get("vrr_min", np.nan))
                acc["trials"] = int(a.attrs.get("trials", 0))
                want = (len(acc["n"]), len(acc["mantissa_bits"]))
                for k in ("vrr", "vrr_lo", "vrr_hi"):
                    if acc[k].shape != want:
                        raise PlotError(f"{path}: /accumulation/{k} has shape {acc[k].shape}, expected {want}")
            fixed = {}
            if "resolved" in f:  # the technology of each model when it is not swept (qs.name = "65nm")
                for name in names:
                    if f"{name}.name" in f["resolved"].attrs:
                        fixed[name] = text(f["resolved"].attrs[f"{name}.name"])
        except KeyError as e:
            raise PlotError(f"{path}: malformed aimc-snr results file (missing {e})")
    return {"path": path, "attrs": attrs, "models": [models[n] for n in names], "acc": acc, "technology": fixed}


def numeric(m, axis):
    return not isinstance(m["param"][axis], list)


def choose_x(r, x_axis):
    """Maps each model name to its x axis for the SNR panels (None: the model is not drawn there)."""
    models = r["models"]
    if x_axis is not None:
        if not any(x_axis in m["axes"] for m in models):
            swept = sorted({a for m in models for a in m["axes"]})
            raise PlotError(f"unknown axis '{x_axis}': the swept axes are {', '.join(swept) or '(none)'}")
        return {m["name"]: x_axis if x_axis in m["axes"] else None for m in models}
    common = [a for a in models[0]["axes"] if all(a in m["axes"] and numeric(m, a) for m in models)]
    if common:
        return {m["name"]: common[0] for m in models}
    xs = {}
    for m in models:
        own = [a for a in m["axes"] if numeric(m, a)]
        xs[m["name"]] = own[0] if own else (m["axes"][0] if m["axes"] else None)
    return xs


def trace_axis(m, x):
    """The axis a model's energy curve follows: its SNR-panel x if numeric, else its first numeric axis."""
    if x is not None and numeric(m, x):
        return x
    own = [a for a in m["axes"] if numeric(m, a)]
    return own[0] if own else None


def groups(m, along, positions=None):
    """Yields (label, point indices sorted along `along`) per combination of the model's other axes,
    in order of first appearance. positions maps string values of `along` to x positions."""
    import numpy as np

    others = [a for a in m["axes"] if a != along]
    found = {}
    for p in range(m["points"]):
        found.setdefault(tuple(m["param"][a][p] for a in others), []).append(p)
    for key, pts in found.items():
        pts = np.array(pts, dtype=int)
        if along is not None:
            pts = pts[np.argsort(xvalues(m, along, positions)[pts], kind="stable")]
        yield ", ".join(f"{a} = {show(a, v)}" for a, v in zip(others, key)), pts


def xvalues(m, axis, positions=None):
    import numpy as np

    v = m["param"][axis]
    if isinstance(v, list):
        return np.array([positions[s] for s in v], dtype=float)
    return v


def finite(y):
    import numpy as np

    y = np.array(y, dtype=float)
    y[~np.isfinite(y)] = np.nan  # +-inf cannot be drawn
    return y


def shade(colour, k, n):
    """The k-th of n shades of a model's colour (k = 0: the colour itself, later ones lighter)."""
    from matplotlib.colors import to_rgb

    t = 0.55 * k / max(n - 1, 1)
    return tuple(c + (1 - c) * t for c in to_rgb(colour))


def colour_of(name, i):
    return MODEL_COLOURS.get(name, f"C{(3 + i) % 10}")


def errbars(y, lo, hi):
    import numpy as np

    lo = np.where(np.isfinite(lo), np.maximum(y - lo, 0), 0)
    hi = np.where(np.isfinite(hi), np.maximum(hi - y, 0), 0)
    return [lo, hi]


def x_scale(ax, axis, values, categories=None):
    """Log x for a positive axis spanning more than a factor of 20; ticks at the swept values."""
    import numpy as np
    from matplotlib.ticker import EngFormatter, NullLocator

    if categories is not None:
        ax.set_xticks(range(len(categories)), categories)
        ax.set_xlim(-0.5, len(categories) - 0.5)
        return
    vals = np.unique(values[np.isfinite(values)])
    if len(vals) and vals.min() > 0 and vals.max() / vals.min() > 20:
        ax.set_xscale("log")
    u = unit_of(axis)
    if 0 < len(vals) <= 12:  # tick exactly the swept values (integer axes like n_rows get no 1.5)
        pos = np.log10(vals) if ax.get_xscale() == "log" else vals
        gap, last, labels = 0.06 * (pos[-1] - pos[0]), None, []
        for v, q in zip(vals, pos):  # leave out labels that would run into the previous one
            keep = last is None or q - last >= gap
            labels.append(show(axis, v) if keep else "")
            last = q if keep else last
        ax.set_xticks(vals, labels)
        ax.xaxis.set_minor_locator(NullLocator())
        # slant the labels if two neighbours would touch (a panel is about 60 characters wide)
        kept = [(q, t) for q, t in zip(pos, labels) if t]
        width = max(pos[-1] - pos[0], 1e-300)
        if any((q2 - q1) / width * 60 < (len(t1) + len(t2)) / 2 + 1 for (q1, t1), (q2, t2) in zip(kept, kept[1:])):
            ax.tick_params(axis="x", labelrotation=45)
    elif u is not None:
        ax.xaxis.set_major_formatter(EngFormatter(unit=u, sep=" "))


def style_handles(conf, with_mc):
    """Legend entries (grey) for what the line styles and marker fills mean in an SNR panel."""
    from matplotlib.lines import Line2D

    h = [Line2D([], [], color="0.3", linestyle="-", label="SNR_a, analytical"),
         Line2D([], [], color="0.3", linestyle="--", label="SNR_T (MPC ADC), analytical")]
    if with_mc:
        h += [Line2D([], [], color="0.3", marker="o", linestyle="", label=f"SNR_a, Monte Carlo ({conf} CI)"),
              Line2D([], [], color="0.3", marker="o", markerfacecolor="white", linestyle="",
                     label=f"SNR_T (MPC), Monte Carlo ({conf} CI)")]
    return h


def snr_panel(ax, r, axis, members, conf):
    """SNR_a and SNR_T(MPC) against `axis` for the models in `members`."""
    import numpy as np

    categories = None
    if not all(numeric(m, axis) for m in members):
        categories = []
        for m in members:
            for s in m["param"][axis]:
                if s not in categories:
                    categories.append(s)
    positions = {s: i for i, s in enumerate(categories or [])}
    allx, with_mc = [], False
    for m in members:
        c = colour_of(m["name"], r["models"].index(m))
        combos = list(groups(m, axis, positions))
        for k, (label, pts) in enumerate(combos):
            col, mk = shade(c, k, len(combos)), MARKERS[k % len(MARKERS)]
            x = xvalues(m, axis, positions)[pts]
            allx.append(x)
            name = upper(m["name"]) + (f": {label}" if label else "")
            # without Monte Carlo markers, mark the analytical points with the combination's marker
            ax.plot(x, finite(m["snr_a_db"][pts]), "-" if m["mc"] is not None else "-" + mk, color=col,
                    linewidth=1.6, markersize=3.5, label=name)
            ax.plot(x, finite(m["snr_T_mpc_db"][pts]), "--", color=col, linewidth=1.2)
            if m["mc"] is not None:
                with_mc = True
                mc = m["mc"]
                for key, face in (("snr_a_db", col), ("snr_T_mpc_db", "white")):
                    y = finite(mc[key][pts])
                    ax.errorbar(x, y, yerr=errbars(y, mc[key + "_lo"][pts], mc[key + "_hi"][pts]), fmt=mk,
                                color=col, markerfacecolor=face, markersize=4, capsize=2.5, elinewidth=0.9,
                                linestyle="none")
    x_scale(ax, axis, np.concatenate(allx) if allx else np.array([]), categories)
    ax.set_xlabel(axis)
    ax.set_ylabel("SNR (dB)")
    ax.set_title(f"SNR vs {axis} ({', '.join(upper(m['name']) for m in members)})", fontsize=10)
    handles, _ = ax.get_legend_handles_labels()  # the model (and other axes) colours, then the styles
    handles += style_handles(conf, with_mc)
    ax.legend(handles=handles, fontsize=7 if len(handles) <= 10 else 6, ncol=1 if len(handles) <= 10 else 2,
              loc="best")
    ax.grid(True, alpha=0.3)


def bits_panel(ax, r):
    import numpy as np

    for i, m in enumerate(r["models"]):
        c = colour_of(m["name"], i)
        x = finite(m["snr_a_db"])
        ax.plot(x, m["bits_mpc"], "o", color=c, markersize=6, alpha=0.8, label=f"{upper(m['name'])}: B_ADC by MPC")
        ax.plot(x, m["bits_lossless"], "s", color=c, markerfacecolor="none", markersize=6,
                label=f"{upper(m['name'])}: lossless B_x + B_w + log2 N")
    bits = np.concatenate([np.concatenate([m["bits_mpc"], m["bits_lossless"]]) for m in r["models"]])
    bits = bits[np.isfinite(bits)]
    if len(bits):
        ax.set_ylim(max(bits.min() - 1, 0), bits.max() + 1)
        ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("SNR_a, analytical (dB)")
    ax.set_ylabel("ADC precision (bits)")
    ax.set_title("ADC precision: MPC vs lossless", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, alpha=0.3)


def energy_panel(ax, r, xs, cross):
    from matplotlib.ticker import EngFormatter, LogLocator

    for i, m in enumerate(r["models"]):
        c = colour_of(m["name"], i)
        along = trace_axis(m, xs[m["name"]])
        combos = list(groups(m, along))
        for k, (label, pts) in enumerate(combos):
            col, mk = shade(c, k, len(combos)), MARKERS[k % len(MARKERS)]
            name = upper(m["name"]) + (f" along {along}" if along else "") + (f": {label}" if label else "")
            ax.plot(finite(m["snr_a_db"][pts]), finite(m["energy_per_mac_mpc_J"][pts]), "-" + mk, color=col,
                    markersize=4, linewidth=1.3, label=name)
    if cross is not None and cross["at"] is not None:
        ax.axvline(cross["at"], color="0.4", linestyle=":", linewidth=1.2,
                   label=f"QS -> QR crossover: {cross['at']:.1f} dB")
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    if hi / lo < 1e3:  # up to three decades: label 1, 2 and 5 of each decade
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(EngFormatter(unit="J", sep=" "))
    ax.set_xlabel("SNR_a, analytical (dB)")
    ax.set_ylabel("energy per MAC, array + MPC ADC")
    ax.set_title("Energy per MAC vs SNR_a", fontsize=10)
    many = len(ax.get_legend_handles_labels()[0]) > 8
    ax.legend(fontsize=6 if many else 7, ncol=2 if many else 1, loc="best")
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)


def accumulation_panel(ax, acc, conf):
    import matplotlib.pyplot as plt
    import numpy as np

    n, mb = acc["n"], acc["mantissa_bits"]
    cmap = plt.get_cmap("viridis")
    for j, b in enumerate(mb):
        # a small sideways offset per mantissa keeps the error bars apart on the log2 axis
        dodge = 2.0 ** (0.12 * (j - (len(mb) - 1) / 2) / max(len(mb) - 1, 1))
        y = finite(acc["vrr"][:, j])
        ax.errorbar(n * dodge, y, yerr=errbars(y, acc["vrr_lo"][:, j], acc["vrr_hi"][:, j]), fmt="o-",
                    color=cmap(j / max(len(mb) - 1, 1)), markersize=3.5, capsize=2, linewidth=1.1,
                    elinewidth=0.8, label=f"{b:g} bits")
    if np.isfinite(acc["vrr_min"]):
        ax.axhline(acc["vrr_min"], color="0.3", linestyle="--", linewidth=1,
                   label=f"vrr_min = {acc['vrr_min']:g}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(n, [f"{v:g}" for v in n])
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set_xlabel("accumulated products n")
    ax.set_ylabel("variance retention ratio VRR")
    ax.set_title(f"Accumulator VRR vs n ({conf} CI, {acc['trials']} trials)", fontsize=10)
    ax.legend(fontsize=7, loc="lower left", title="mantissa", title_fontsize=7, ncol=2)
    ax.grid(True, alpha=0.3)


def describe(r):
    """Figure title: the file, the models, what is fixed across all of them, Monte Carlo settings."""
    import numpy as np

    a, models = r["attrs"], r["models"]
    fixed = []
    for key, lab in (("n_rows", "N"), ("b_x", "B_x"), ("b_w", "B_w")):
        v = np.concatenate([m[key] for m in models])
        if len(v) and np.all(v == v[0]):
            fixed.append(f"{lab} = {v[0]:g}")
    techs = set(r["technology"].get(m["name"]) for m in models if "technology" not in m["axes"])
    if len(techs) == 1 and None not in techs and not any("technology" in m["axes"] for m in models):
        fixed.append(techs.pop())
    samples = max(m["mc_samples"] for m in models)
    t = (f"{os.path.basename(r['path'])}: aimc snr, models {', '.join(upper(m['name']) for m in models)}"
         + (f"; {', '.join(fixed)}" if fixed else "")
         + (f"; Monte Carlo {samples} samples/point, seed {a.get('seed', '?')}" if samples else "; no Monte Carlo"))
    if a.get("status", "complete") != "complete":
        t += f"\n[status: {a.get('status', '?')}: partial results]"
    return t


def cheapest(models, target):
    """(model name, energy) of the least energy_per_mac_mpc_J among the points of `models` with analytical
    SNR_a >= target; (None, inf) if no point reaches it."""
    import numpy as np

    best, cost = None, np.inf
    for m in models:
        ok = np.isfinite(m["snr_a_db"]) & (m["snr_a_db"] >= target) & np.isfinite(m["energy_per_mac_mpc_J"])
        if ok.any() and m["energy_per_mac_mpc_J"][ok].min() < cost:
            best, cost = m["name"], m["energy_per_mac_mpc_J"][ok].min()
    return best, cost


def runs(models, targets):
    """[(cheapest model, first target, last target)] over consecutive targets with the same cheapest model."""
    out = []
    for t in targets:
        best = cheapest(models, t)[0]
        if out and out[-1][0] == best:
            out[-1][2] = t
        else:
            out.append([best, t, t])
    return [tuple(x) for x in out]


def crossover(r):
    """The QS -> QR crossover: targets on a GRID_DB grid from the lowest to the highest analytical SNR_a in
    the file; at each, the cheaper of QS and QR (least energy per MAC with the MPC ADC among its points
    with SNR_a >= target). Returns None without both QS and QR, else {"runs": QS/QR runs (see runs()),
    "all": the runs among all models in the file, "at": the last target at which QS is the cheaper when
    QR is at the next one (None if QS never hands over to QR), "cost": {model: energy at "at"}}."""
    import numpy as np

    by = {m["name"]: m for m in r["models"]}
    if "qs" not in by or "qr" not in by:
        return None
    snr = np.concatenate([finite(m["snr_a_db"]) for m in r["models"]])
    snr = snr[np.isfinite(snr)]
    if not len(snr):
        return {"runs": [], "all": [], "at": None, "cost": {}}
    targets = snr.min() + GRID_DB * np.arange(int(np.floor((snr.max() - snr.min()) / GRID_DB + 1e-9)) + 1)
    pair = runs([by["qs"], by["qr"]], targets)
    at = None
    for (a, _, last), (b, _, _) in zip(pair, pair[1:]):
        if a == "qs" and b == "qr":
            at = last
    cost = {} if at is None else {n: cheapest([by[n]], at)[1] for n in ("qs", "qr")}
    return {"runs": pair, "all": runs(r["models"], targets), "at": at, "cost": cost}


def findings(r, cross):
    import numpy as np

    conf = f"{100 * float(r['attrs'].get('confidence', 0.95)):g}%"
    out = []
    for m in r["models"]:
        M, y = upper(m["name"]), finite(m["snr_a_db"])
        if "technology" in m["axes"]:
            techs = list(dict.fromkeys(m["param"]["technology"]))
            sets = [(t, np.array([s == t for s in m["param"]["technology"]])) for t in techs]
        else:
            sets = [(None, np.ones(m["points"], dtype=bool))]
        parts = []
        for t, sel in sets:
            if not np.isfinite(y[sel]).any():
                parts.append(f"{t}: n/a" if t else "n/a")
                continue
            p = np.flatnonzero(sel)[np.nanargmax(y[sel])]
            where = ", ".join(f"{a} = {show(a, m['param'][a][p])}" for a in m["axes"] if a != "technology")
            parts.append((f"{t} " if t else "") + f"{y[p]:.2f} dB" + (f" at {where}" if where else ""))
        out.append(f"{M}: max SNR_a (analytical): {'; '.join(parts)}")
    for m in r["models"]:
        dt = finite(m["snr_A_db"] - m["snr_T_mpc_db"])
        db = finite(m["bits_lossless"] - m["bits_mpc"])
        if np.isfinite(dt).any() and np.isfinite(db).any():
            out.append(f"{upper(m['name'])}: SNR_A - SNR_T(MPC) median {np.nanmedian(dt):.2f} dB, "
                       f"max {np.nanmax(dt):.2f} dB; "
                       f"B_lossless - B_MPC median {np.nanmedian(db):g} bits, max {np.nanmax(db):g} bits")
    for m in r["models"]:
        M = upper(m["name"])
        if m["mc"] is None:
            out.append(f"{M}: |SNR_a analytical - MC|: no Monte Carlo in the file")
            continue
        mc = m["mc"]
        gap = np.abs(finite(m["snr_a_db"]) - finite(mc["snr_a_db"]))
        if not np.isfinite(gap).any():
            out.append(f"{M}: |SNR_a analytical - MC|: no finite pair")
            continue
        p = int(np.nanargmax(gap))
        where = ", ".join(f"{a} = {show(a, m['param'][a][p])}" for a in m["axes"])
        inside = np.sum((m["snr_a_db"] >= mc["snr_a_db_lo"]) & (m["snr_a_db"] <= mc["snr_a_db_hi"]))
        out.append(f"{M}: worst |SNR_a analytical - MC| {gap[p]:.2f} dB" + (f" at {where}" if where else "")
                   + f"; analytical inside the MC {conf} CI at {inside}/{m['points']} points")
    if cross is not None:
        def seq(rs):
            return ", ".join(f"{upper(a) if a else 'none'} {lo:.1f}..{hi:.1f}" for a, lo, hi in rs) + " dB"

        if cross["at"] is not None:
            e = cross["cost"]
            out.append(f"crossover: QS is cheaper than QR (energy/MAC, MPC ADC) for SNR_a targets up to "
                       f"{cross['at']:.1f} dB, QR above "
                       f"(at {cross['at']:.1f} dB: QS {energy(e['qs'])}, QR {energy(e['qr'])}; "
                       f"{GRID_DB:g} dB grid: {seq(cross['runs'])})")
        else:
            out.append(f"crossover: QS never hands over to QR ({GRID_DB:g} dB grid: {seq(cross['runs'])})")
        if len(r["models"]) > 2:
            out.append(f"cheapest of {', '.join(upper(m['name']) for m in r['models'])} by SNR_a target: "
                       f"{seq(cross['all'])}")
    acc = r["acc"]
    if acc is not None and acc["min_mantissa_bits"] is not None:
        mins = ", ".join(f"n = {n:g}: {b:g}" if np.isfinite(b) else f"n = {n:g}: none"
                         for n, b in zip(acc["n"], acc["min_mantissa_bits"]))
        out.append(f"accumulation: min mantissa bits for VRR >= {acc['vrr_min']:g}: {mins}")
    return out


def plot(r, x_axis, out, cross):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conf = f"{100 * float(r['attrs'].get('confidence', 0.95)):g}%"
    xs = choose_x(r, x_axis)
    panels = {}  # x axis -> models drawn against it, in model order
    for m in r["models"]:
        if xs[m["name"]] is not None:
            panels.setdefault(xs[m["name"]], []).append(m)
    n = len(panels) + 2 + (r["acc"] is not None)
    rows = (n + 1) // 2
    fig, axs = plt.subplots(rows, 2, figsize=(14, 5.2 * rows), dpi=110, squeeze=False)
    axs = list(axs.flat)
    for ax, (axis, members) in zip(axs, panels.items()):
        snr_panel(ax, r, axis, members, conf)
    k = len(panels)
    bits_panel(axs[k], r)
    energy_panel(axs[k + 1], r, xs, cross)
    if r["acc"] is not None:
        accumulation_panel(axs[k + 2], r["acc"], conf)
    for ax in axs[n:]:
        ax.remove()
    fig.suptitle(describe(r), fontsize=11)
    return save_png(fig, out)


def main(argv):
    p = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("results", help="results file written by `aimc snr` (HDF5)")
    p.add_argument("--x", metavar="AXIS",
                   help="swept axis on the x axis of the SNR panel (default: the first numeric axis common "
                        "to all models, else each model's first numeric axis)")
    p.add_argument("--out", metavar="PNG", help="image to write (default: the results file with .png)")
    a = p.parse_args(argv)
    require_plot_libs()
    r = load(a.results)
    choose_x(r, a.x)  # an unknown axis fails before anything is printed
    out = a.out or os.path.splitext(a.results)[0] + ".png"
    cross = crossover(r)
    lines = findings(r, cross)
    path = plot(r, a.x, out, cross)
    for line in lines:
        print(line)
    print(path)
    return 0


if __name__ == "__main__":
    run(main, PROG)
