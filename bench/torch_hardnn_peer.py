#!/usr/bin/env python3
"""The PyTorch HarDNN campaign `aimc hardnn` is compared with (bench/README.md, "aimc hardnn against a
PyTorch campaign", issue 21).

A hand-written, efficient fault-injection campaign on the CNN of an aimc model file (format 2: a chain
of conv2d / relu / maxpool2d / flatten / dense nodes, e.g. `aimc train --model cnn`), doing the work of
`aimc hardnn` with error_model = "bitflip_fixed" on the first `--subset` Fashion-MNIST test images:

  clean pass (once): the output of every injected Dense/Conv2d layer (before its ReLU), the clean top-1
    of every image, and the layer's full scale fs = max |clean output| over the subset;
  per fmap f (an output channel of a Conv2d, an output neuron of a Dense), n injections (`--injections`,
    `aimc hardnn`'s min(max_injections, ceil(z^2 / (4 e^2)))), in batches of `--batch` rows:
    each row copies the clean output of a uniformly drawn image, one uniformly drawn element of f gets
      code  = round(y / fs * 127) (half away from zero), saturated to [-128, 127] (8-bit two's complement),
      code' = code with bit b flipped, b uniform in 0..7,    y' = code' * fs / 127   (nets/fault.hpp),
    the network suffix after the layer runs on the batch, and a row whose argmax differs from the clean
    top-1 is a mismatch.
Random draws are torch's (one torch.Generator per fmap, keyed by seed, layer and fmap), not aimc's streams:
the same kind and amount of work, the same mismatch probability, other samples.

Efficient by hand: torch.inference_mode; the suffix only; ReLU then 2 x 2 / stride 2 max pooling runs as
the max of the four strided slices x[:, :, 0::2, 0::2], ... followed by an in-place ReLU (the same values:
max and ReLU commute); Dense weights are permuted once from aimc's channel-last (HWC) flattening to
torch's CHW order. Parallel: `--procs P` worker processes (fork, after the clean pass) take fmaps one at a
time (one process per core, OpenBLAS and OpenMP threads = `--threads`, default 1); `--procs 1 --threads 2`
is the single-process, 2-thread alternative.

  /usr/bin/python3 bench/torch_hardnn_peer.py MODEL.h5 [--subset 1000] [--injections 9604] [--procs 2] [--threads 1]

Needs Debian's python3-torch, python3-h5py and python3-numpy and libopenblas0-pthread; Fashion-MNIST from
Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist) or $AIMC_FASHION_MNIST_DIR.
Prints the BLAS torch runs on, per layer the mismatch rate and an injections/s estimate (the layer's
summed job time divided by the process count), and the campaign's injections/s; the last line is
machine-readable:
  RESULT injections=... campaign_s=... inj_per_s=... procs=... threads=... mismatch_rate=... clean_accuracy=...
  (mismatch_rate: all mismatches / all injections = the unweighted mean of P(mismatch | f) over fmaps;
   per layer also a line  LAYER ordinal=... index=... kind=... fmaps=... injections=... busy_s=... inj_per_s=... mismatch_rate=...)
"""
import argparse
import os
import sys
import time

T_START = time.perf_counter()
PROG = "torch_hardnn_peer.py"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_mc_peer import PeerError, blas_report, fashion_mnist, text  # noqa: E402  (same data and BLAS report)


def parse_args(argv):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="aimc model file, format 2 (aimc train --model cnn --out FILE)")
    p.add_argument("--subset", type=int, default=1000, help="first N test images injections draw from (default 1000)")
    p.add_argument("--injections", type=int, default=9604,
                   help="injections per fmap (default 9604: margin 0.01 at 95%%, as configs/hardnn_cnn.toml)")
    p.add_argument("--batch", type=int, default=512, help="injections per suffix forward (default 512)")
    p.add_argument("--procs", type=int, default=2, help="worker processes, one per core (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op and OpenBLAS threads per process (default 1)")
    p.add_argument("--layers", default="all", help='"all" or Dense/Conv2d ordinals, e.g. "0,2" (as hardnn.layers)')
    p.add_argument("--bits", type=int, default=8, help="fixed-point bits B, two's complement (default 8)")
    p.add_argument("--seed", type=int, default=1, help="seed of the per-fmap torch generators (default 1)")
    p.add_argument("--data-dir", default=None,
                   help="Fashion-MNIST directory (default $AIMC_FASHION_MNIST_DIR, else /usr/share/datasets/fashion-mnist)")
    a = p.parse_args(argv)
    if min(a.subset, a.injections, a.batch, a.procs, a.threads) < 1 or not 2 <= a.bits <= 16:
        p.error("subset, injections, batch, procs, threads must be >= 1, bits in [2, 16]")
    return a


def load_cnn(path):
    """The nodes of an aimc model file, format 2, as [(kind, args, W, b)] with torch layouts, and the input shape.

    conv2d: crossbar view (kh kw in_c x out_c), row (i kw + j) in_c + c -> torch weight (out_c, in_c, kh, kw).
    dense:  crossbar view (inputs x outputs), kept for addmm; after a flatten of (C, H, W) with H W > 1 its
            rows are permuted from aimc's HWC order (h W + w) C + c to torch's CHW order c H W + h W + w."""
    import h5py
    import numpy as np

    if not os.path.exists(path):
        raise PeerError(f"{path}: no such file (make it: aimc train --model cnn --out {path})")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise PeerError(f"{path}: not an HDF5 file ({e})")
    with f:
        if text(f.attrs.get("format", "")) != "aimc-model":
            raise PeerError(f"{path}: not an aimc model file (attribute format = {text(f.attrs.get('format', ''))!r})")
        version = int(f.attrs.get("format_version", 0))
        if version != 2:
            raise PeerError(f"{path}: model file format_version {version}; this script reads format 2 only "
                            f"(re-make it with a current aimc: aimc train --model cnn --out FILE)")
        if "parameters" not in f or "layers" not in f:
            raise PeerError(f"{path}: format 2 file without /parameters or /layers")
        shape = (int(f.attrs["input_c"]), int(f.attrs["input_h"]), int(f.attrs["input_w"]))
        params = f["parameters"]
        cur, flat_from = shape, None
        nodes = []
        names = sorted(f["layers"].keys())
        for i, name in enumerate(names):
            g = f["layers"][name]
            kind = text(g.attrs.get("kind", ""))
            args = {k: (int(v) if np.issubdtype(type(v), np.integer) else v) for k, v in g["args"].attrs.items()} if "args" in g else {}
            extra = sorted(set(g["args"].keys())) if "args" in g else []
            inputs = [int(v) for v in g["inputs"][()]] if "inputs" in g else [i - 1]
            if inputs != [i - 1]:
                raise PeerError(f"{path}: /layers/{name} has inputs {inputs}; only a chain (input {i - 1}) is supported")
            if extra or args.get("groups", 1) != 1:
                raise PeerError(f"{path}: /layers/{name} ({kind}) has list arguments {extra} or groups; the peer runs square layers only")

            def weights():
                ids = [int(v) for v in g["params"][()]]
                if len(ids) != 2:
                    raise PeerError(f"{path}: /layers/{name} ({kind}) has {len(ids)} parameter ids, expected 2 (weight, bias)")
                return (np.asarray(params[f"{ids[0]:04d}"][()], dtype=np.float32),
                        np.asarray(params[f"{ids[1]:04d}"][()], dtype=np.float32).reshape(-1))

            if kind == "conv2d":
                c, h, w = cur
                k, s, pd, oc = args["kernel"], args["stride"], args["pad"], args["out_c"]
                if (args["in_c"], args["in_h"], args["in_w"]) != cur or flat_from:
                    raise PeerError(f"{path}: /layers/{name}: conv2d input {args} does not follow {cur}")
                wt, b = weights()
                if wt.shape != (k * k * c, oc) or b.shape != (oc,):
                    raise PeerError(f"{path}: /layers/{name}: weight {wt.shape}, bias {b.shape}, expected ({k * k * c}, {oc})")
                wt = np.ascontiguousarray(wt.reshape(k, k, c, oc).transpose(3, 2, 0, 1))
                cur = (oc, (h + 2 * pd - k) // s + 1, (w + 2 * pd - k) // s + 1)
                nodes.append(("conv2d", {"stride": s, "pad": pd}, wt, b, cur))
            elif kind == "maxpool2d":
                c, h, w = cur
                k, s = args["kernel"], args["stride"]
                cur = (c, (h - k) // s + 1, (w - k) // s + 1)
                nodes.append(("maxpool2d", {"kernel": k, "stride": s}, None, None, cur))
            elif kind == "relu":
                nodes.append(("relu", {}, None, None, cur))
            elif kind == "flatten":
                flat_from = cur
                cur = (cur[0] * cur[1] * cur[2], 1, 1)
                nodes.append(("flatten", {}, None, None, cur))
            elif kind == "dense":
                wt, b = weights()
                if wt.shape[0] != cur[0] * cur[1] * cur[2] or b.shape != (wt.shape[1],):
                    raise PeerError(f"{path}: /layers/{name}: weight {wt.shape} does not take {cur}")
                if flat_from and flat_from[1] * flat_from[2] > 1:
                    c, h, w = flat_from
                    wt = np.ascontiguousarray(wt.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(c * h * w, -1))
                flat_from = None
                cur = (wt.shape[1], 1, 1)
                nodes.append(("dense", {}, wt, b, cur))
            else:
                raise PeerError(f"{path}: /layers/{name} is a {kind!r} layer; the peer runs conv2d/relu/maxpool2d/flatten/dense chains only")
    if not any(n[0] in ("conv2d", "dense") for n in nodes):
        raise PeerError(f"{path}: no Dense/Conv2d layer")
    return nodes, shape


# Campaign state, set in the parent before the workers fork (shared copy-on-write).
S = {}


def pool2(x):
    """2 x 2 / stride 2 max pooling as the max of the four strided slices (floor: an odd last row/column is ignored)."""
    import torch

    h, w = x.shape[2] // 2 * 2, x.shape[3] // 2 * 2
    y = torch.maximum(x[:, :, 0:h:2, 0:w:2], x[:, :, 0:h:2, 1:w:2])
    return torch.maximum(y, torch.maximum(x[:, :, 1:h:2, 0:w:2], x[:, :, 1:h:2, 1:w:2]))


def node_op(node):
    """One node as a function of a batch (N, C, H, W) or (N, D)."""
    import torch
    import torch.nn.functional as F

    kind, args, w, b, _ = node
    if kind == "conv2d":
        w, b = torch.from_numpy(w), torch.from_numpy(b)
        return lambda x: F.conv2d(x, w, b, stride=args["stride"], padding=args["pad"])
    if kind == "maxpool2d":
        if args["kernel"] == 2 and args["stride"] == 2:
            return pool2
        return lambda x: F.max_pool2d(x, args["kernel"], args["stride"])
    if kind == "relu":
        return torch.relu
    if kind == "flatten":
        return lambda x: x.reshape(x.shape[0], -1)
    w, b = torch.from_numpy(w), torch.from_numpy(b)  # dense
    return lambda x: torch.addmm(b, x.reshape(x.shape[0], -1), w)


def compile_suffix(nodes, start):
    """The nodes from `start` on as a list of functions; a relu followed by a 2 x 2 / stride 2 maxpool runs
    as the strided-slice max, then an in-place ReLU on the 4x smaller result (max and ReLU commute)."""
    ops = []
    i = start
    while i < len(nodes):
        nxt = nodes[i + 1] if i + 1 < len(nodes) else None
        if nodes[i][0] == "relu" and nxt and nxt[0] == "maxpool2d" and nxt[1]["kernel"] == 2 and nxt[1]["stride"] == 2:
            ops.append(lambda x: pool2(x).relu_())
            i += 2
        else:
            ops.append(node_op(nodes[i]))
            i += 1
    return ops


def run(ops, x):
    for op in ops:
        x = op(x)
    return x


def fmap_job(f):
    """Injects S['n'] faults into fmap f = (layer position, channel); returns (f, mismatches, seconds)."""
    import torch

    t0 = time.perf_counter()
    li, ch = f
    L = S["layers"][li]
    act, fs = L["act"], L["fs"]  # clean output (subset, C, H, W) or (subset, D); full scale
    n, batch, bits = S["n"], S["batch"], S["bits"]
    positions = L["positions"]
    g = torch.Generator().manual_seed(S["seed"] * 1_000_003 + L["index"] * 10_007 + ch)
    sample = torch.randint(act.shape[0], (n,), generator=g)
    element = ch * positions + torch.randint(positions, (n,), generator=g)  # CHW offset inside the sample
    bit = torch.randint(bits, (n,), generator=g)
    step = fs / float(2 ** (bits - 1) - 1)
    lo, hi, mask, sign = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1, 2 ** bits - 1, 2 ** (bits - 1)
    mismatches = 0
    with torch.inference_mode():
        flat = act.reshape(act.shape[0], -1)
        for i0 in range(0, n, batch):
            sl = slice(i0, min(n, i0 + batch))
            smp, el = sample[sl], element[sl]
            rows = act.index_select(0, smp)  # (m, ...) copy of the clean outputs of the drawn images
            ar = torch.arange(rows.shape[0])
            v = flat[smp, el].double()
            q = torch.clamp(torch.sign(v) * torch.floor(v.abs() / step + 0.5), lo, hi).long()
            u = (q & mask) ^ (1 << bit[sl])
            code = torch.where(u >= sign, u - (mask + 1), u)
            rows.view(rows.shape[0], -1)[ar, el] = (code.double() * step).float()
            z = run(L["suffix"], rows)
            mismatches += int((z.argmax(dim=1) != S["pred"][smp]).sum())
    return f, mismatches, time.perf_counter() - t0


def main(argv):
    a = parse_args(argv)
    # As torch_mc_peer.py: OpenMP's and OpenBLAS' thread counts are fixed before torch is loaded.
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    try:
        import numpy as np
        import torch
    except ImportError as e:
        raise PeerError(f"{e}; install Debian's python3-torch and python3-numpy")
    torch.set_num_threads(a.threads)

    nodes, shape = load_cnn(a.model)
    matmul = [i for i, n in enumerate(nodes) if n[0] in ("conv2d", "dense")]
    if a.layers == "all":
        chosen = list(range(len(matmul)))
    else:
        try:
            chosen = sorted({int(t) for t in a.layers.split(",")})
        except ValueError:
            raise PeerError(f'--layers {a.layers!r}: expected "all" or Dense/Conv2d ordinals, e.g. "0,2"')
        if not chosen or chosen[0] < 0 or chosen[-1] >= len(matmul):
            raise PeerError(f"--layers {a.layers!r}: the model has {len(matmul)} Dense/Conv2d layers (ordinals 0..{len(matmul) - 1})")
    x_np, y_np = fashion_mnist(a.data_dir, "t10k", a.subset)
    c, h, w = shape
    # aimc's input rows are HWC; torch wants NCHW.
    x = torch.from_numpy(np.ascontiguousarray(x_np.reshape(-1, h, w, c).transpose(0, 3, 1, 2)))
    y = torch.from_numpy(y_np)

    # Clean pass, node by node: outputs of the injected layers, the clean top-1, full scales.
    full = compile_suffix(nodes, 0)
    per_node = [node_op(n) for n in nodes]
    layers = []
    with torch.inference_mode():
        acts = {matmul[o]: [] for o in chosen}
        preds = []
        for b0 in range(0, a.subset, 200):
            hcur = x[b0:b0 + 200]
            for i, op in enumerate(per_node):
                hcur = op(hcur)
                if i in acts:
                    acts[i].append(hcur)
            preds.append(hcur.argmax(dim=1))
        pred = torch.cat(preds)
        for o in chosen:
            i = matmul[o]
            act = torch.cat(acts[i]).contiguous()
            _, _, _, _, out = nodes[i]
            layers.append({"ordinal": o, "index": i, "kind": nodes[i][0], "act": act, "channels": out[0],
                           "positions": out[1] * out[2], "fs": float(act.abs().max()) or 1.0,
                           "suffix": compile_suffix(nodes, i + 1)})
        # Check the suffix path against the clean pass: clean rows in, clean top-1 out.
        for L in layers:
            m = min(a.subset, 200)
            if not torch.equal(run(L["suffix"], L["act"][:m].clone()).argmax(dim=1), pred[:m]):
                raise PeerError(f"layer {L['index']}: the suffix on clean outputs does not reproduce the clean top-1")
        zfull = run(full, x[:min(a.subset, 200)])
        if not torch.equal(zfull.argmax(dim=1), pred[:min(a.subset, 200)]):
            raise PeerError("the fused forward does not reproduce the node-by-node clean top-1")
    accuracy = float((pred == y).float().mean())
    S.update(layers=layers, pred=pred, n=a.injections, batch=a.batch, bits=a.bits, seed=a.seed)

    lines, info = blas_report(torch)
    print(f"{PROG}: " + "\n  ".join(lines))
    print(f"{PROG}: threads: torch.get_num_threads() = {torch.get_num_threads()}, OpenBLAS = {info['openblas_threads']}, "
          f"{a.procs} process{'es' if a.procs > 1 else ''}; mkldnn {'on' if torch.backends.mkldnn.is_available() else 'off'}")
    arch = " -> ".join(f"{n[0]}{'(%d)' % n[4][0] if n[0] in ('conv2d', 'dense') else ''}" for n in nodes)
    F_total = sum(L["channels"] for L in layers)
    print(f"{PROG}: {a.model}: {arch}; {a.subset} test images (clean accuracy {accuracy:.4f}); "
          f"layers {','.join(str(L['index']) for L in layers)}: {F_total} fmaps x {a.injections} injections, "
          f"bitflip_fixed {a.bits} bits, batch {a.batch}, seed {a.seed}")

    jobs = [(li, ch) for li, L in enumerate(layers) for ch in range(L["channels"])]
    results = []
    startup = time.perf_counter() - T_START
    t0 = time.perf_counter()
    if a.procs == 1:
        results = [fmap_job(f) for f in jobs]
    else:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(a.procs) as pool:
            results = list(pool.imap_unordered(fmap_job, jobs, chunksize=1))
    loop = time.perf_counter() - t0

    total_inj = len(jobs) * a.injections
    total_mis = sum(r[1] for r in results)
    for li, L in enumerate(layers):
        rs = [r for r in results if r[0][0] == li]
        inj = len(rs) * a.injections
        busy = sum(r[2] for r in rs)
        mis = sum(r[1] for r in rs)
        rate = inj / (busy / a.procs) if busy > 0 else float("nan")
        print(f"LAYER ordinal={L['ordinal']} index={L['index']} kind={L['kind']} fmaps={len(rs)} injections={inj} "
              f"busy_s={busy:.4f} inj_per_s={rate:.1f} mismatch_rate={mis / inj:.5f}")
    print(f"{PROG}: {total_inj} injections in {loop:.3f} s: {total_inj / loop / 1e3:.2f} k injections/s "
          f"({a.procs} process{'es' if a.procs > 1 else ''} x {a.threads} thread{'s' if a.threads > 1 else ''}); "
          f"start-up {startup:.2f} s; mismatch rate {total_mis / total_inj:.5f} (mean P(mismatch|f), unweighted)")
    print(f"RESULT injections={total_inj} campaign_s={loop:.4f} inj_per_s={total_inj / loop:.1f} procs={a.procs} "
          f"threads={a.threads} openblas_threads={info['openblas_threads']} mismatch_rate={total_mis / total_inj:.5f} "
          f"clean_accuracy={accuracy:.4f} startup_s={startup:.3f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except PeerError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(1)
