#!/usr/bin/env python3
"""Checks results files of `aimc mc`, `aimc hardnn` and `aimc snr` against their schema in docs/results.md.

    test_results_schema.py DOCS_RESULTS_MD MC.h5 HARDNN.h5 SNR.h5

The documented schema is read from docs/results.md itself (the layout trees, the tables, the root
attribute lists), not from a second list kept here, so code and documentation cannot drift apart
unnoticed. For each file:
  * every documented dataset and group exists, with the documented type (string/int64/float64), shape
    (symbols such as T, P, L resolved from the file) and `units` attribute (or its documented absence);
  * every dataset in the file is documented (no undocumented output);
  * every documented root attribute exists with its documented type;
  * the stored summaries are recomputed here from the raw data, independently of aimc:
      mc:     /summary from /points (numpy mean, sd, percentiles; Student-t CI with scipy.stats.t, whose
              quantiles are first checked against a printed t table);
      hardnn: /fmaps from /jobs/campaign/records (injections, mismatches, mismatch_p, Clopper-Pearson CI
              via the beta quantile, dloss mean and Student-t CI, share, vulnerability and its CI,
              relative vulnerability, rank), /protection (coverage, overhead, resilience) and
              /verification (measured rate, CI, within_ci) from the fmaps and verification records;
      snr:    the confidence intervals of /<model>/mc (lo, hi = value -/+ z se with the normal
              quantile at the file's confidence), SNR_A and SNR_T from their composition formulas,
              the lossless ADC bits, per-MAC energies; /accumulation/min_mantissa_bits from vrr.
Float comparisons allow relative round-off of 1e-9 (the code computes in double with boost::math's
quantiles, which agree with scipy's to ~1e-12); 1e-7 where a beta quantile (Clopper-Pearson) enters,
whose iterative inversion in the two libraries agrees to ~1e-10 relative.
"""
import math
import re
import sys

import h5py
import numpy as np

from scipy import stats as sps  # Debian python3-scipy (scripts/bootstrap.sh: a dependency of python3-sklearn)

failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)


def close(a, b, what, rtol=1e-9, atol=1e-12):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore"):
        ok = a.shape == b.shape and bool(np.all((np.isnan(a) & np.isnan(b)) | (a == b) |
                                                (np.abs(a - b) <= atol + rtol * np.abs(b))))
    check(ok, f"{what}: {a} != {b}")


# ----------------------------------------------------------------------------------------------
# Student-t and normal quantiles (independent of aimc's boost::math).

def t_quantile(p, df):
    return float(sps.t.ppf(p, df))


def normal_quantile(p):
    return float(sps.norm.ppf(p))


def beta_quantile(p, a, b):
    return float(sps.beta.ppf(p, a, b))


# A table check of the quantile routine used: t_{0.975, df} from printed tables (4 decimals).
for df, t in [(1, 12.7062), (2, 4.3027), (5, 2.5706), (10, 2.2281), (30, 2.0423)]:
    close(round(t_quantile(0.975, df), 4), t, f"t quantile table df={df}", rtol=0, atol=1.5e-4)


# ----------------------------------------------------------------------------------------------
# Parsing docs/results.md

def sections(md):
    """Top-level '# ' sections: {title: text}."""
    out, title, buf = {}, None, []
    in_code = False
    for line in md.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and line.startswith("# "):
            if title:
                out[title] = "\n".join(buf)
            title, buf = line[2:].strip(), []
        else:
            buf.append(line)
    out[title] = "\n".join(buf)
    return out


def subsection(text, heading):
    """Text of a '## heading' subsection (up to the next '## ')."""
    m = re.search(r"^## " + re.escape(heading) + r".*?$(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"docs: no '## {heading}' section"
    return m.group(1)


def code_blocks(text):
    return re.findall(r"^```\w*\n(.*?)^```", text, re.S | re.M)


def tables(text):
    """Markdown tables as lists of row dicts keyed by the lower-case header."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-| ]+\|$", lines[i + 1]):
            head = [h.strip().lower() for h in lines[i].strip("|").split("|")]
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                rows.append(dict(zip(head, cells)))
                i += 1
            out.append(rows)
        else:
            i += 1
    return out


def ticked(cell):
    """Names in backticks of a table cell: '`a`, `b`' -> ['a', 'b']."""
    return re.findall(r"`([^`]+)`", cell)


TYPE_RE = re.compile(r"\b(string|int64|float64)(?:/(?:int64|float64))?\[([^\]]*)\]|(?<![\w/])\[([A-Z0-9][\w ,+]*)\]")


class Entry:
    def __init__(self, path, is_group):
        self.path, self.is_group = path, is_group
        self.dtype = None   # "string" | "int64" | "float64" | None (not documented)
        self.shape = None   # list of symbol strings, or None
        self.units = None   # documented units (str), "none" for no attribute, or None (not documented)
        self.note = ""

    def __repr__(self):
        return f"Entry({self.path}, {self.dtype}, {self.shape}, {self.units})"


def parse_tree(block):
    """A layout tree (the ``` block with ├── / └── branches) -> list of Entry with full paths.

    Names separated by ',' or spaces on one branch share its annotation; 'a/ b/' are sibling groups
    (children apply to each); lines without a branch continue the names of the previous branch."""
    entries = []
    parents = {}  # depth -> list of group paths
    prev = None
    pending = []  # entries of a branch line ending with ',' that wait for the annotation of its continuation
    for raw in block.splitlines():
        m = re.search(r"[├└]── ", raw)
        if m:
            depth = m.start() // 4
            body = raw[m.end():]
        elif prev is not None and prev[2] and re.match(r"^[│ ]*[a-z_]", raw):
            # the previous branch's names ended with ',': this line lists more names
            depth, body = prev[0], re.sub(r"^[│ ]+", "", raw)
        else:
            if raw.startswith("/"):
                parents = {-1: [""]}
            continue
        # split "names    annotation" before the type/shape token, else at the first run of >= 2 spaces
        tm0 = TYPE_RE.search(body)
        if tm0:
            names_part, annot = body[:tm0.start()].strip(), body[tm0.start():].strip()
        else:
            parts = re.split(r"\s{2,}", body.strip(), maxsplit=1)
            names_part, annot = parts[0], parts[1] if len(parts) > 1 else ""
        trailing_comma = names_part.rstrip().endswith(",")
        if names_part.endswith(" ...") or names_part.strip() in ("...",):
            names_part = names_part.replace("...", "").strip()
        names = [n for n in re.split(r"[,\s]+", names_part) if n and n != "..."]
        continuation = not m
        base_paths = parents.get(depth - 1, [""])
        group_names = [n for n in names if n.endswith("/")]
        leaf_names = [n for n in names if not n.endswith("/")]
        new_entries = []
        for b in base_paths:
            for n in group_names:
                new_entries.append(Entry(b + "/" + n.rstrip("/"), True))
            for n in leaf_names:
                new_entries.append(Entry(b + "/" + n, False))
        if group_names and not continuation:
            parents[depth] = [e.path for e in new_entries if e.is_group]
        tm = TYPE_RE.search(annot)
        if tm:
            dtype = tm.group(1)
            shape = tm.group(2) if tm.group(1) else tm.group(3)
            rest = annot[tm.end():].strip()
            um = re.match(r"^(dB|J|s|1|nat|bit|none)(?!\S)", rest)
            for e in new_entries:
                e.dtype = dtype if (tm.group(0).count("/") == 0) else None
                e.shape = [s.strip() for s in shape.split(",")] if shape.strip() else []
                if um:
                    e.units = um.group(1)
                e.note = annot
        elif continuation and prev is not None:
            for e in new_entries:
                e.dtype, e.shape, e.units, e.note = prev[1].dtype, prev[1].shape, prev[1].units, prev[1].note
        if continuation and tm and pending:
            # the names of the branch line (it ended with ',') share the annotation of this line
            for e in pending:
                e.dtype, e.shape, e.units, e.note = new_entries[0].dtype, new_entries[0].shape, new_entries[0].units, annot
        pending = (pending if continuation else []) + new_entries if trailing_comma and not tm else []
        if not tm and not continuation:
            for e in new_entries:
                if not e.is_group and not annot.startswith("the same"):
                    e.note = annot
        entries.extend(new_entries)
        if new_entries:
            prev = (depth, new_entries[-1], trailing_comma)
    return entries


def attr_type(value):
    if isinstance(value, (bytes, str, np.bytes_)):
        return "string"
    v = np.asarray(value)
    if v.dtype.kind in "iu":
        return "int64" if v.dtype == np.int64 else str(v.dtype)
    if v.dtype.kind == "f":
        return "float64" if v.dtype == np.float64 else str(v.dtype)
    return str(v.dtype)


def ds_type(ds):
    if h5py.check_string_dtype(ds.dtype) is not None:
        return "string"
    return {np.dtype("<i8"): "int64", np.dtype("<f8"): "float64"}.get(ds.dtype, str(ds.dtype))


def all_datasets(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__("/" + name, obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def units_of(ds):
    u = ds.attrs.get("units")
    if u is None:
        return "none"
    return u.decode() if isinstance(u, bytes) else str(u)


def check_entries(f, entries, dims, expand, tag, allow_missing=()):
    """Existence, type, shape, units of the documented entries; then no undocumented datasets."""
    leaves = [e for e in entries if not e.is_group]
    print(f"{tag}: docs list {len(leaves)} datasets and {len(entries) - len(leaves)} groups; type given for "
          f"{sum(e.dtype is not None for e in leaves)}, shape for {sum(e.shape is not None for e in leaves)}, "
          f"units for {sum(e.units is not None for e in leaves)}")
    documented = set()
    for e in entries:
        if e.dtype == "string" and e.units is None:
            e.units = "none"  # string datasets carry no units (docs: "Types and attributes common to all objects")
        for path in expand(e.path):
            documented.add(path)
            if any(re.fullmatch(p, path) for p in allow_missing) and path not in f:
                continue
            check(path in f, f"{tag}: documented {path} missing from the file")
            if path not in f:
                continue
            obj = f[path]
            if e.is_group:
                check(isinstance(obj, h5py.Group), f"{tag}: {path} documented as a group")
                continue
            check(isinstance(obj, h5py.Dataset), f"{tag}: {path} documented as a dataset")
            if not isinstance(obj, h5py.Dataset):
                continue
            if e.dtype and not path.endswith("/param/technology"):  # documented: strings for technology
                check(ds_type(obj) == e.dtype, f"{tag}: {path} type {ds_type(obj)}, documented {e.dtype}")
            if e.shape is not None:
                want = tuple(eval_dim(s, dims, path) for s in e.shape)
                check(obj.shape == want, f"{tag}: {path} shape {obj.shape}, documented {e.shape} = {want}")
            if e.units is not None:
                check(units_of(obj) == e.units, f"{tag}: {path} units {units_of(obj)!r}, documented {e.units!r}")
            check("description" in obj.attrs, f"{tag}: {path} has no description attribute")
    for path in all_datasets(f):
        check(path in documented, f"{tag}: dataset {path} is in the file but not in docs/results.md")
    return documented


def eval_dim(sym, dims, path):
    sym = sym.strip()
    if re.fullmatch(r"\d+", sym):
        return int(sym)
    if sym in dims:
        v = dims[sym]
        return v(path) if callable(v) else v
    m = re.fullmatch(r"(\w+) x (\w+)", sym)
    if m:
        return eval_dim(m.group(1), dims, path) * eval_dim(m.group(2), dims, path)
    m = re.fullmatch(r"(\w+)\+1", sym.replace(" ", ""))
    if m:
        return eval_dim(m.group(1), dims, path) + 1
    raise KeyError(f"shape symbol {sym!r} of {path} unknown")


def check_root_attrs(f, rows, tag):
    for r in rows:
        for name in ticked(r["attribute"]):
            check(name in f.attrs, f"{tag}: root attribute {name} missing")
    return {n for r in rows for n in ticked(r["attribute"])}


def check_attr_types(f, rows, tag):
    for r in rows:
        names = ticked(r["attribute"])
        types = [t.strip() for t in r["type"].split(",")]
        if len(types) == 1:
            types = types * len(names)
        for n, t in zip(names, types):
            if n in f.attrs:
                check(attr_type(f.attrs[n]) == t, f"{tag}: root attribute {n} is {attr_type(f.attrs[n])}, documented {t}")


def s(v):
    return v.decode() if isinstance(v, bytes) else str(v)


# ----------------------------------------------------------------------------------------------
# aimc mc

def check_mc(doc, path):
    tag = "mc"
    layout = code_blocks(subsection(doc, "Layout"))[0]
    entries = parse_tree(layout)
    with h5py.File(path, "r") as f:
        check(s(f.attrs["format"]) == "aimc-mc", "mc: format")
        axes = list(f["sweep/axes"].asstr()[()])
        T, P = int(f.attrs["trials"]), int(f.attrs["points"])
        L = len(f["analog_layers"])
        dims = {"T": T, "P": P, "L": L, "A": len(axes), "1": 1,
                "n_a": lambda p: len(f["sweep"][p.split("/")[-1]])}
        # units from the two tables "| dataset | shape | units | meaning |"
        units = {}
        for sect, prefix in [("Per point: `/points/pNNNN`", "/points/p"), ("`/summary`: ready to plot", "/summary/")]:
            for rows in tables(subsection(doc, sect)):
                if rows and "units" in rows[0]:
                    for r in rows:
                        u = r["units"].strip("`")
                        for n in ticked(r["dataset"]):
                            units[(prefix, n)] = "none" if u == "none" else u
        # common section: datasets without a unit
        common = subsection(doc, "Types and attributes common to all objects")
        m = re.search(r"Datasets without a unit \((.*?)\) have no `units`", common, re.S)
        no_units = ticked(m.group(1))
        for e in entries:
            leaf = e.path.rsplit("/", 1)[-1]
            for (prefix, n), u in units.items():
                if e.path.startswith(prefix) and (leaf == n or n == "param/<axis>" and e.path.endswith("param/<axis>")):
                    e.units = u
            for n in no_units:
                pat = "^/" + re.escape(n).replace(r"\*", "[^/]+") + "$"
                if re.match(pat, e.path.replace("<axis>", "x")):
                    e.units = "none"
        check(sum(e.units is not None for e in entries if not e.is_group) >= 20,
              "mc: units parsed from the docs for fewer than 20 datasets")

        def expand(p):
            out = [p]
            if "<axis>" in p:
                out = [p.replace("<axis>", a) for a in axes]
            if "/p0000" in p:
                out = [q.replace("/p0000", "/p%04d" % i) for q in out for i in range(P)]
            elif re.search(r"/p0001$", p):
                out = []
            return out

        check_entries(f, [e for e in entries if not e.path.endswith("/p0001")], dims, expand, tag)

        root_tables = tables(subsection(doc, "Root attributes"))
        check_root_attrs(f, root_tables[0], tag)
        check_attr_types(f, root_tables[0], tag)
        # group attributes documented in the tree
        check("confidence" in f["summary"].attrs, "mc: /summary@confidence")
        for i in range(P):
            g = f["points/p%04d" % i]
            check(attr_type(g.attrs.get("stopped_by_rule", "")) == "int64", f"mc: p{i}@stopped_by_rule int64")
            for a in axes:
                check(attr_type(g.attrs.get(a, "")) == "float64", f"mc: p{i}@{a} float64")
        # /resolved: one string attribute per parameter of the documented sections
        res = f["resolved"].attrs
        m = re.search(r"parameter of the sections(.*?)\(the SRAM", doc, re.S)
        for sec in ticked(m.group(1)):
            check(any(k.startswith(sec + ".") for k in res), f"mc: /resolved has no {sec}.* attribute")
        check(all(attr_type(v) == "string" for v in res.values()), "mc: /resolved attributes are strings")

        # --- /summary recomputed from /points (completed trials only) ---
        conf = float(f["summary"].attrs["confidence"])
        sm = f["summary"]
        for i in range(P):
            g = f["points/p%04d" % i]
            done = g["done"][()] == 1
            acc = g["accuracy"][()][done]
            n = len(acc)
            close(sm["trials"][i], n, f"mc: trials p{i}")
            if n == 0:
                continue
            close(sm["accuracy_mean"][i], acc.mean(), f"mc: accuracy_mean p{i}")
            for q in (5, 50, 95):
                close(sm[f"accuracy_p{q}"][i], np.percentile(acc, q), f"mc: accuracy_p{q} p{i}")
            if n > 1:
                sd = acc.std(ddof=1)
                close(sm["accuracy_std"][i], sd, f"mc: accuracy_std p{i}", atol=1e-15)
                h = t_quantile((1 + conf) / 2, n - 1) * sd / math.sqrt(n)
                close(sm["accuracy_ci_lo"][i], acc.mean() - h, f"mc: accuracy_ci_lo p{i}")
                close(sm["accuracy_ci_hi"][i], acc.mean() + h, f"mc: accuracy_ci_hi p{i}")
            else:
                check(np.isnan(sm["accuracy_std"][i]), f"mc: accuracy_std NaN for n = 1 (p{i})")
            close(sm["loss_mean"][i], g["loss"][()][done].mean(), f"mc: loss_mean p{i}")
            conv = g["adc_conversions"][()][done].sum()
            rate = g["adc_saturated"][()][done].sum() / conv if conv > 0 else 0.0
            close(sm["adc_saturation_rate"][i], rate, f"mc: adc_saturation_rate p{i}")
            close(sm["snr_db_mean"][i], g["snr_db"][()][done].mean(axis=0), f"mc: snr_db_mean p{i}")
            for j, a in enumerate(axes):
                idx = np.unravel_index(i, tuple(len(f["sweep"][b]) for b in axes))
                close(sm["param"][a][i], f["sweep"][a][idx[j]], f"mc: param/{a} p{i} (last axis fastest)")
                close(g.attrs[a], f["sweep"][a][idx[j]], f"mc: p{i}@{a}")
        # trials not done are NaN (documented convention)
        for i in range(P):
            g = f["points/p%04d" % i]
            nd = g["done"][()] == 0
            check(bool(np.all(np.isnan(g["accuracy"][()][nd]))), f"mc: p{i} trials not done are NaN")


# ----------------------------------------------------------------------------------------------
# aimc hardnn

def check_hardnn(doc, path):
    tag = "hardnn"
    entries = parse_tree(code_blocks(subsection(doc, "Layout"))[0])
    # units table of the HarDNN section
    units = {}
    for rows in tables(subsection(doc, "Units")):
        for r in rows:
            u = r["units"].strip("`")
            for n in ticked(r["datasets"]):
                units["/" + n] = "none" if u.startswith("none") else u
    with h5py.File(path, "r") as f:
        check(s(f.attrs["format"]) == "aimc-hardnn", "hardnn: format")
        F = int(f.attrs["fmaps"])
        L = len(f["layers/index"])
        H = len(f["heuristics/names"]) if "heuristics" in f else 0
        V = len(f["verification/overhead_budget"]) if "verification" in f else 0
        B = int(f["jobs/campaign"].attrs["jobs_per_unit"])
        dims = {"F": F, "L": L, "H": H, "V": V, "B": B, "1": 1, "4": 4}
        names = list(f["heuristics/names"].asstr()[()]) if H else []
        documented_units = set()
        for e in entries:
            if e.path in units:
                e.units = units[e.path]
                documented_units.add(e.path)
            if e.note.startswith("the same"):  # verify/records, verify/done: as campaign/ with V units
                e.dtype = "float64" if e.path.endswith("records") else "int64"
                e.shape = ["V x B", "4"] if e.path.endswith("records") else ["V x B"]
            if e.note.startswith("int64/float64"):
                e.dtype = "int64" if e.path.endswith("/k") else "float64"
        check(set(units) <= {e.path for e in entries} | {"/heuristics/<name>"},
              f"hardnn: units table names undocumented datasets {set(units) - {e.path for e in entries}}")

        def expand(p):
            return [p.replace("<name>", n) for n in names] if "<name>" in p else [p]

        dims["V x B"] = V * int(f["jobs/verify"].attrs["jobs_per_unit"])
        check_entries(f, entries, dims, expand, tag)
        for e in entries:
            if not e.is_group:
                check(e.units is not None, f"hardnn: docs give no units for {e.path}")

        text = subsection(doc, "Root attributes")
        common = re.search(r"The common ones of .*?\((.*?)\), as in", text, re.S).group(1)
        for n in ticked(common):
            if re.fullmatch(r"[a-z_]+", n):
                check(n in f.attrs, f"hardnn: root attribute {n} missing")
        rows = tables(text)[0]
        analog = s(f.attrs["error_model"]) == "analog"
        check_root_attrs(f, [r for r in rows if analog or "only" not in r["meaning"]], tag)
        check_attr_types(f, rows, tag)
        check("confidence" in f["fmaps"].attrs, "hardnn: /fmaps@confidence")
        check("top_k" in f["heuristics"].attrs, "hardnn: /heuristics@top_k")
        for a in ("rank_by", "mismatch_rate_unprotected"):
            check(a in f["protection"].attrs, f"hardnn: /protection@{a}")
        check("confidence" in f["verification"].attrs, "hardnn: /verification@confidence")

        # --- /fmaps recomputed from the raw job records ---
        conf = float(f["fmaps"].attrs["confidence"])
        rec = f["jobs/campaign/records"][()].reshape(F, B, 4)
        done = f["jobs/campaign/done"][()].reshape(F, B) == 1
        fm = f["fmaps"]
        ninj = np.where(done, rec[:, :, 0], 0).sum(axis=1)
        nmis = np.where(done, rec[:, :, 1], 0).sum(axis=1)
        sdl = np.where(done, rec[:, :, 2], 0).sum(axis=1)
        sdl2 = np.where(done, rec[:, :, 3], 0).sum(axis=1)
        close(fm["injections"][()], ninj, "hardnn: injections")
        close(fm["mismatches"][()], nmis, "hardnn: mismatches")
        p = nmis / ninj
        close(fm["mismatch_p"][()], p, "hardnn: mismatch_p")
        alpha = 1 - conf
        lo = np.array([0.0 if k == 0 else beta_quantile(alpha / 2, k, n - k + 1) for k, n in zip(nmis, ninj)])
        hi = np.array([1.0 if k == n else beta_quantile(1 - alpha / 2, k + 1, n - k) for k, n in zip(nmis, ninj)])
        close(fm["mismatch_ci_lo"][()], lo, "hardnn: mismatch_ci_lo (Clopper-Pearson)", rtol=1e-7, atol=1e-12)
        close(fm["mismatch_ci_hi"][()], hi, "hardnn: mismatch_ci_hi (Clopper-Pearson)", rtol=1e-7, atol=1e-12)
        dl = sdl / ninj
        close(fm["dloss_mean"][()], dl, "hardnn: dloss_mean")
        var = np.maximum(0, (sdl2 - ninj * dl * dl) / (ninj - 1))
        h = np.array([t_quantile((1 + conf) / 2, n - 1) for n in ninj]) * np.sqrt(var / ninj)
        # the variance comes from sums of squares: cancellation when sd << |mean|, so absolute tolerance
        # relative to the mean's magnitude
        close(fm["dloss_ci_lo"][()], dl - h, "hardnn: dloss_ci_lo", rtol=1e-7, atol=1e-9 * np.abs(dl).max())
        close(fm["dloss_ci_hi"][()], dl + h, "hardnn: dloss_ci_hi", rtol=1e-7, atol=1e-9 * np.abs(dl).max())
        macs = fm["macs"][()]
        share = macs / macs.sum()
        close(fm["share"][()], share, "hardnn: share")
        v = share * p
        close(fm["vulnerability"][()], v, "hardnn: vulnerability")
        close(fm["vulnerability_ci_lo"][()], share * lo, "hardnn: vulnerability_ci_lo", rtol=1e-7)
        close(fm["vulnerability_ci_hi"][()], share * hi, "hardnn: vulnerability_ci_hi", rtol=1e-7)
        rv = v / v.sum() if v.sum() > 0 else share
        close(fm["relative_vulnerability"][()], rv, "hardnn: relative_vulnerability")
        rank = np.empty(F, dtype=np.int64)
        rank[np.lexsort((np.arange(F), -v))] = np.arange(1, F + 1)  # ties in fmap order
        check(np.array_equal(fm["rank"][()], rank), "hardnn: rank by V_f, ties in fmap order")
        layer_of = dict(zip(f["layers/index"][()], f["layers/fmaps"][()]))
        check(all(np.bincount([list(layer_of).index(l) for l in fm["layer"][()]]) == list(layer_of.values())),
              "hardnn: fmaps per layer")

        # --- /protection from the fmaps ---
        pr = f["protection"]
        order = pr["order"][()]
        check(sorted(order) == list(range(F)), "hardnn: protection/order is a permutation")
        close(pr["k"][()], np.arange(F + 1), "hardnn: protection/k")
        cov = np.concatenate([[0.0], np.cumsum(rv[order])])
        oh = np.concatenate([[0.0], np.cumsum(macs[order])]) / macs.sum()
        close(pr["coverage"][()], cov, "hardnn: protection/coverage", rtol=1e-9, atol=1e-12)
        close(pr["overhead"][()], oh, "hardnn: protection/overhead", rtol=1e-9, atol=1e-12)
        c = pr["coverage"][()]
        with np.errstate(divide="ignore"):  # documented: +inf at coverage 1 (>= 1 by round-off of the sum)
            res = np.where(c >= 1, np.inf, 1 / (1 - np.minimum(c, 1)))
        close(pr["resilience"][()], res, "hardnn: protection/resilience")
        close(pr.attrs["mismatch_rate_unprotected"], v.sum(), "hardnn: mismatch_rate_unprotected = sum V")

        # --- /verification from its records and the protection curve ---
        vg = f["verification"]
        BV = int(f["jobs/verify"].attrs["jobs_per_unit"])
        vrec = f["jobs/verify/records"][()].reshape(V, BV, 4)
        vdone = f["jobs/verify/done"][()].reshape(V, BV) == 1
        vn = np.where(vdone, vrec[:, :, 0], 0).sum(axis=1)
        vm = np.where(vdone, vrec[:, :, 1], 0).sum(axis=1)
        close(vg["injections"][()], vn, "hardnn: verification injections")
        close(vg["mismatches"][()], vm, "hardnn: verification mismatches")
        close(vg["measured_rate"][()], vm / vn, "hardnn: measured_rate")
        vlo = np.array([0.0 if k == 0 else beta_quantile(alpha / 2, k, n - k + 1) for k, n in zip(vm, vn)])
        vhi = np.array([1.0 if k == n else beta_quantile(1 - alpha / 2, k + 1, n - k) for k, n in zip(vm, vn)])
        close(vg["measured_ci_lo"][()], vlo, "hardnn: measured_ci_lo", rtol=1e-7)
        close(vg["measured_ci_hi"][()], vhi, "hardnn: measured_ci_hi", rtol=1e-7)
        budget = vg["overhead_budget"][()]
        close(budget[0], 0.0, "hardnn: level 0 unprotected")
        ohc = pr["overhead"][()]
        kk = np.array([np.max(np.nonzero(ohc <= b + 1e-12)[0]) for b in budget])
        close(vg["k"][()], kk, "hardnn: verification k = largest k with overhead <= budget")
        close(vg["coverage"][()], pr["coverage"][()][kk], "hardnn: verification coverage")
        close(vg["overhead"][()], ohc[kk], "hardnn: verification overhead")
        pred = v.sum() * (1 - pr["coverage"][()][kk])
        close(vg["predicted_rate"][()], pred, "hardnn: predicted_rate", rtol=1e-9, atol=1e-15)
        within = ((pred >= vg["measured_ci_lo"][()]) & (pred <= vg["measured_ci_hi"][()])).astype(int)
        close(vg["within_ci"][()], within, "hardnn: within_ci")


# ----------------------------------------------------------------------------------------------
# aimc snr

def check_snr(doc, path):
    tag = "snr"
    text = doc
    entries = parse_tree(code_blocks(text)[0])
    root_line = re.search(r"root attributes:(.*?)\n├", code_blocks(text)[0], re.S).group(1)
    root_attrs = [a.strip() for a in re.sub(r"\([^)]*\)", "", re.sub(r"[│\n]", " ", root_line)).split(",")]
    with h5py.File(path, "r") as f:
        check(s(f.attrs["format"]) == "aimc-snr", "snr: format")
        for a in root_attrs:
            if a:
                check(a in f.attrs, f"snr: root attribute {a} missing")
        models = s(f.attrs["models"]).split(",")
        acc = f.get("accumulation")
        Nn = len(acc["n"]) if acc is not None else 0
        Nm = len(acc["mantissa_bits"]) if acc is not None else 0

        # <snr> names from the tree's "for <snr> in a, b, c" note
        snr_names = re.findall(r"\b\w+_db\b", re.search(r"for <snr> in (.*)", code_blocks(text)[0], re.S).group(1))
        check(len(snr_names) == 5, f"snr: parsed {snr_names}")
        for e in entries:
            if not e.is_group:
                check(e.dtype is not None and (e.units is not None or e.dtype == "string"), f"snr: docs give no type or units for {e.path}")

        def expand(p):
            out = []
            m0 = p.split("/")[1]
            if m0 in ("qs", "is", "qr") and m0 not in models:
                return []
            if "<axis>" in p:
                g = p.rsplit("/param/", 1)[0]
                for a in f[g]["axes"].asstr()[()]:
                    out.append(p.replace("<axis>", a))
                return out
            if "<snr>" in p:
                return [p.replace("<snr>", n) for n in snr_names]
            return [p]

        def P_of(path):
            return int(f[path.split("/")[1]].attrs["points"])

        def A_of(path):
            return len(f[path.split("/")[1]]["axes"])

        dims = {"P": P_of, "A": A_of, "Nn": Nn, "Nm": Nm, "1": 1}
        # mpc_at_lossless and param/<axis> are documented without units in the text below the tree
        check_entries(f, entries, dims, expand, tag)
        for m in models:
            g = f[m]
            check(attr_type(g.attrs.get("points", "")) == "int64", f"snr: /{m}@points")
            # lossless bits: B_x + B_w + ceil(log2 N)
            close(g["bits_lossless"][()], g["b_x"][()] + g["b_w"][()] + np.ceil(np.log2(g["n_rows"][()])),
                  f"snr: {m} bits_lossless")
            # composition: 1/SNR_A = 1/SQNR_qiy + 1/SNR_a; 1/SNR_T = 1/SNR_A + 1/SQNR_qy
            inv = lambda db: 10 ** (-np.asarray(db) / 10)
            close(g["snr_A_db"][()], -10 * np.log10(inv(g["sqnr_qiy_db"][()]) + inv(g["snr_a_db"][()])),
                  f"snr: {m} snr_A_db composition")
            for adc in ("mpc", "lossless"):
                close(g[f"snr_T_{adc}_db"][()],
                      -10 * np.log10(inv(g["snr_A_db"][()]) + inv(g[f"sqnr_qy_{adc}_db"][()])),
                      f"snr: {m} snr_T_{adc}_db composition")
                close(g[f"energy_per_mac_{adc}_J"][()],
                      (g["energy_array_J"][()] + g[f"energy_adc_{adc}_J"][()]) / g["n_rows"][()],
                      f"snr: {m} energy_per_mac_{adc}_J")
            close(g["energy_array_per_mac_J"][()], g["energy_array_J"][()] / g["n_rows"][()],
                  f"snr: {m} energy_array_per_mac_J")
            if "mc" in g:
                mc = g["mc"]
                conf = float(mc.attrs["confidence"])
                z = normal_quantile((1 + conf) / 2)
                for n in snr_names:
                    v, se = mc[n][()], mc[n + "_se"][()]
                    close(mc[n + "_lo"][()], v - z * se, f"snr: {m} mc/{n}_lo = value - z se", rtol=1e-9, atol=1e-9)
                    close(mc[n + "_hi"][()], v + z * se, f"snr: {m} mc/{n}_hi = value + z se", rtol=1e-9, atol=1e-9)
                check(int(mc.attrs["samples"]) == int(f.attrs["samples"]), f"snr: {m} mc@samples")
        if acc is not None:
            for a in ("trials", "vrr_min", "stream"):
                check(a in acc.attrs, f"snr: /accumulation@{a}")
            vrr, vmin, mb = acc["vrr"][()], float(acc.attrs["vrr_min"]), acc["mantissa_bits"][()]
            check(bool(np.all((acc["vrr_lo"][()] <= vrr) & (vrr <= acc["vrr_hi"][()]))), "snr: vrr inside its CI")
            want = []
            for i in range(Nn):
                ok = [j for j in range(Nm) if all(vrr[i, jj] >= vmin for jj in range(Nm) if mb[jj] >= mb[j])]
                want.append(min(mb[j] for j in ok) if ok else np.nan)
            close(acc["min_mantissa_bits"][()], want, "snr: min_mantissa_bits from vrr and vrr_min")


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    md = open(sys.argv[1], encoding="utf-8").read()
    secs = sections(md)
    by = {k.split("(")[-1].rstrip(")").strip("`"): v for k, v in secs.items() if k}
    check_mc(by["aimc mc"], sys.argv[2])
    check_hardnn(by["aimc hardnn"], sys.argv[3])
    check_snr(by["aimc snr"], sys.argv[4])
    for msg in failures:
        print("FAIL:", msg)
    print(f"{checks - len(failures)} of {checks} schema checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
