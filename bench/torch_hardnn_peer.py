#!/usr/bin/env python3
"""The PyTorch HarDNN campaign `aimc hardnn` is compared with (bench/README.md, "aimc hardnn against a
PyTorch campaign", issue 21).

A hand-written, efficient fault-injection campaign on the network of an aimc model file (format 2: a
graph of conv2d / dense / batchnorm / relu / add / maxpool2d / globalavgpool / flatten nodes, e.g. `aimc
train --model cnn` or `--model resnet8`), doing the work of `aimc hardnn` with error_model =
"bitflip_fixed" on the first `--subset` Fashion-MNIST test images:

  clean pass (once): the output of every injected Dense/Conv2d layer (its own output: before a
    batchnorm or ReLU), the clean outputs the injections read, the clean top-1 of every image, and the
    layer's full scale fs = max |clean output| over the subset;
  per fmap f (an output channel of a Conv2d, an output neuron of a Dense), n injections (`--injections`,
    `aimc hardnn`'s min(max_injections, ceil(z^2 / (4 e^2)))), in batches of `--batch` rows:
    each row is a uniformly drawn image, one uniformly drawn element of f gets
      code  = round(y / fs * 127) (half away from zero), saturated to [-128, 127] (8-bit two's complement),
      code' = code with bit b flipped, b uniform in 0..7,    y' = code' * fs / 127   (nets/fault.hpp),
    only the nodes that depend on the layer run on the batch (in topological order; an input they take
    from elsewhere, e.g. a residual block's other branch, is the cached clean output of the drawn
    images), and a row whose argmax differs from the clean top-1 is a mismatch.
Random draws are torch's (one torch.Generator per fmap, keyed by seed, layer and fmap), not aimc's streams:
the same kind and amount of work, the same mismatch probability, other samples.

Efficient by hand: torch.inference_mode; the graph runs as fused groups: a batchnorm directly after a
conv2d/dense is folded into its weight and bias, a ReLU after a conv2d/dense/batchnorm/add runs in place,
ReLU then 2 x 2 / stride 2 max pooling runs as the max of the four strided slices followed by an
in-place ReLU (max and ReLU commute); where the injected layer's followers are elementwise (BN, ReLU) the
faulty rows are the cached clean group outputs with the one element replaced by BN/ReLU of y'; Dense
weights are permuted once from aimc's channel-last (HWC) flattening to torch's CHW order; 4-D tensors
and conv weights are channels_last by default (`--memory-format`). The clean top-1 is the fused
network's; it is cross-checked against the node-by-node network, and every layer's suffix must reproduce
it on clean rows. Parallel: `--procs P` worker processes (fork, after the clean pass) take fmaps one at a
time (one process per core, OpenBLAS and OpenMP threads = `--threads`, default 1); `--procs 1 --threads 2`
is the single-process, 2-thread alternative.

  /usr/bin/python3 bench/torch_hardnn_peer.py MODEL.h5 [--subset 1000] [--injections 9604] [--procs 2] [--threads 1]
      [--batch 512] [--memory-format channels_last|contiguous] [--layers all]

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
from torch_mc_peer import PeerError, blas_report, fashion_mnist, open_model, text  # noqa: E402  (same data, model file checks and BLAS report)


def parse_args(argv):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="aimc model file, format 2 (aimc train --model cnn|resnet8 --out FILE)")
    p.add_argument("--subset", type=int, default=1000, help="first N test images injections draw from (default 1000)")
    p.add_argument("--injections", type=int, default=9604,
                   help="injections per fmap (default 9604: margin 0.01 at 95%%, as configs/hardnn_cnn.toml)")
    p.add_argument("--batch", type=int, default=512, help="injections per suffix forward (default 512)")
    p.add_argument("--procs", type=int, default=2, help="worker processes, one per core (default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op and OpenBLAS threads per process (default 1)")
    p.add_argument("--layers", default="all", help='"all" or Dense/Conv2d ordinals, e.g. "0,2" (as hardnn.layers)')
    p.add_argument("--bits", type=int, default=8, help="fixed-point bits B, two's complement (default 8)")
    p.add_argument("--memory-format", choices=("channels_last", "contiguous"), default="channels_last",
                   help="layout of the 4-D tensors (default channels_last: NHWC, faster oneDNN convolutions here)")
    p.add_argument("--seed", type=int, default=1, help="seed of the per-fmap torch generators (default 1)")
    p.add_argument("--data-dir", default=None,
                   help="Fashion-MNIST directory (default $AIMC_FASHION_MNIST_DIR, else /usr/share/datasets/fashion-mnist)")
    a = p.parse_args(argv)
    if min(a.subset, a.injections, a.batch, a.procs, a.threads) < 1 or not 2 <= a.bits <= 16:
        p.error("subset, injections, batch, procs, threads must be >= 1, bits in [2, 16]")
    return a


def load_graph(path):
    """The nodes of an aimc model file, format 2, as a list of dicts in file (= topological) order:
    kind, name, inputs (node indices, -1 = the network input), args, shape (c, h, w) of the output,
    and per kind the parameters in torch layouts:

    conv2d: crossbar view (kh kw in_c x out_c), row (i kw + j) in_c + c -> torch weight (out_c, in_c / groups,
            kh, kw) (grouped: the crossbar is block-diagonal, the in-group block of each output is kept);
    dense:  crossbar view (inputs x outputs), kept for addmm; on an input of (C, H, W) with H W > 1 (a
            flatten, or a tensor) its rows are permuted from aimc's HWC order (h W + w) C + c to torch's
            CHW order c H W + h W + w;
    batchnorm (eval): per channel s = gamma / sqrt(running_var + eps), t = beta - running_mean s."""
    import numpy as np

    with open_model(path, "cnn") as f:
        shape = (int(f.attrs["input_c"]), int(f.attrs["input_h"]), int(f.attrs["input_w"]))
        params = f["parameters"]
        nodes = []
        names = sorted(f["layers"].keys())
        for i, gname in enumerate(names):
            g = f["layers"][gname]
            where = f"{path}: /layers/{gname}"
            kind = text(g.attrs.get("kind", ""))
            args = {}
            if "args" in g:
                for k, v in g["args"].attrs.items():
                    args[k] = int(v) if np.issubdtype(type(v), np.integer) else (float(v) if np.issubdtype(type(v), np.floating) else text(v))
                for k in g["args"].keys():
                    args[k] = [int(v) if float(v).is_integer() else float(v) for v in np.asarray(g["args"][k][()]).reshape(-1)]
            inputs = [int(v) for v in np.asarray(g["inputs"][()]).reshape(-1)] if "inputs" in g else [i - 1]
            if any(not -1 <= k < i for k in inputs):
                raise PeerError(f"{where} ({kind}): inputs {inputs} are not earlier nodes")
            ins = [shape if k == -1 else nodes[k]["shape"] for k in inputs]
            ids = [int(v) for v in np.asarray(g["params"][()]).reshape(-1)] if "params" in g else []

            def param(s):
                return np.asarray(params[f"{ids[s]:04d}"][()], dtype=np.float32)

            def want(n):
                if len(ids) != n:
                    raise PeerError(f"{where} ({kind}): {len(ids)} parameter ids, expected {n}")

            nd = {"kind": kind, "name": text(g.attrs.get("name", gname)), "inputs": inputs, "args": args}
            if kind in ("conv2d", "dense", "relu", "batchnorm", "maxpool2d", "globalavgpool", "flatten") and len(inputs) != 1:
                raise PeerError(f"{where} ({kind}): {len(inputs)} inputs, expected 1")
            c, h, w = ins[0]
            if kind == "conv2d":
                want(2)
                k = args["kernel"]
                kh, kw = args.get("kernel_shape", [k, k])
                sh, sw = args.get("strides", [args["stride"]] * 2)
                p = args["pad"]
                pt, pl, pb, pr = args.get("pads", [p] * 4)
                dh, dw = args.get("dilations", [1, 1])
                groups, oc = args.get("groups", 1), args["out_c"]
                if (args["in_c"], args["in_h"], args["in_w"]) != (c, h, w):
                    raise PeerError(f"{where}: conv2d input {(args['in_c'], args['in_h'], args['in_w'])} but its input node gives {(c, h, w)}")
                wt, b = param(0), param(1).reshape(-1)
                if wt.shape != (kh * kw * c, oc) or b.shape != (oc,) or c % groups or oc % groups:
                    raise PeerError(f"{where}: weight {wt.shape}, bias {b.shape}, groups {groups}, expected ({kh * kw * c}, {oc})")
                full = wt.reshape(kh, kw, c, oc).transpose(3, 2, 0, 1)  # (oc, c, kh, kw)
                cg, og = c // groups, oc // groups
                wt = np.concatenate([full[gi * og:(gi + 1) * og, gi * cg:(gi + 1) * cg] for gi in range(groups)], axis=0)
                nd.update(W=np.ascontiguousarray(wt), b=b, stride=(sh, sw), pads=(pt, pl, pb, pr), dilation=(dh, dw), groups=groups,
                          shape=(oc, (h + pt + pb - dh * (kh - 1) - 1) // sh + 1, (w + pl + pr - dw * (kw - 1) - 1) // sw + 1))
            elif kind == "dense":
                want(2)
                wt, b = param(0), param(1).reshape(-1)
                src = nodes[inputs[0]].get("flat_src") if inputs[0] >= 0 and nodes[inputs[0]]["kind"] == "flatten" else (c, h, w)
                if wt.shape[0] != c * h * w or b.shape != (wt.shape[1],):
                    raise PeerError(f"{where}: weight {wt.shape} does not take {(c, h, w)}")
                if src[1] * src[2] > 1:
                    sc, shh, sww = src
                    wt = np.ascontiguousarray(wt.reshape(shh, sww, sc, -1).transpose(2, 0, 1, 3).reshape(sc * shh * sww, -1))
                nd.update(W=wt, b=b, shape=(wt.shape[1], 1, 1))
            elif kind == "batchnorm":
                want(4)
                gamma, beta, mean, var = (param(s).reshape(-1).astype(np.float64) for s in range(4))
                s = gamma / np.sqrt(var + float(args.get("eps", 1e-5)))
                nd.update(s=s.astype(np.float32), t=(beta - mean * s).astype(np.float32), shape=(c, h, w))
            elif kind == "maxpool2d":
                k = args["kernel"]
                kh, kw = args.get("kernel_shape", [k, k])
                sh, sw = args.get("strides", [args["stride"]] * 2)
                pt, pl, pb, pr = args.get("pads", [0] * 4)
                nd.update(ksize=(kh, kw), stride=(sh, sw), pads=(pt, pl, pb, pr),
                          shape=(c, (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1))
            elif kind in ("relu", "add"):
                if any(s != ins[0] for s in ins):
                    raise PeerError(f"{where} ({kind}): input shapes {ins} differ")
                nd.update(shape=(c, h, w))
            elif kind == "globalavgpool":
                nd.update(shape=(c, 1, 1))
            elif kind == "flatten":
                nd.update(flat_src=(c, h, w), shape=(c * h * w, 1, 1))
            else:
                raise PeerError(f"{where} is a {kind!r} layer; the peer runs conv2d, dense, batchnorm, relu, add, "
                                f"maxpool2d, globalavgpool and flatten nodes only")
            nodes.append(nd)
    if not any(n["kind"] in ("conv2d", "dense") for n in nodes):
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


def is_pool2(n):
    return n["kind"] == "maxpool2d" and n["ksize"] == (2, 2) and n["stride"] == (2, 2) and n["pads"] == (0, 0, 0, 0)


def chan(v, x):
    """A per-channel vector shaped to broadcast over x (N, C, H, W) or (N, C)."""
    return v.view(1, -1, 1, 1) if x.dim() == 4 else v.view(1, -1)


def head_op(n, fold=None):
    """Node n as a function of its list of input tensors (NCHW or (N, D)); conv2d/dense with a following
    batchnorm `fold` folded into weight and bias. Every op returns a fresh tensor (posts may work in place)."""
    import torch
    import torch.nn.functional as F

    kind = n["kind"]
    if kind in ("conv2d", "dense"):
        w, b = torch.from_numpy(n["W"]), torch.from_numpy(n["b"])
        if fold is not None:
            s, t = torch.from_numpy(fold["s"]), torch.from_numpy(fold["t"])
            w = (w * s.view(-1, 1, 1, 1)).contiguous() if kind == "conv2d" else (w * s.view(1, -1)).contiguous()
            b = b * s + t
        if kind == "conv2d" and S.get("channels_last"):
            w = w.contiguous(memory_format=torch.channels_last)
        if kind == "dense":
            return lambda xs: torch.addmm(b, xs[0].reshape(xs[0].shape[0], -1), w)
        pt, pl, pb, pr = n["pads"]
        st, dil, grp = n["stride"], n["dilation"], n["groups"]
        if pt == pb and pl == pr:
            return lambda xs: F.conv2d(xs[0], w, b, stride=st, padding=(pt, pl), dilation=dil, groups=grp)
        return lambda xs: F.conv2d(F.pad(xs[0], (pl, pr, pt, pb)), w, b, stride=st, dilation=dil, groups=grp)
    if kind == "batchnorm":
        s, t = torch.from_numpy(n["s"]), torch.from_numpy(n["t"])
        return lambda xs: torch.addcmul(chan(t, xs[0]), xs[0], chan(s, xs[0]))
    if kind == "relu":
        return lambda xs: torch.relu(xs[0])
    if kind == "add":
        def add(xs):
            y = torch.add(xs[0], xs[1])
            for x in xs[2:]:
                y.add_(x)
            return y
        return add
    if kind == "maxpool2d":
        if is_pool2(n):
            return lambda xs: pool2(xs[0])
        pt, pl, pb, pr = n["pads"]
        return lambda xs: F.max_pool2d(F.pad(xs[0], (pl, pr, pt, pb), value=float("-inf")), n["ksize"], n["stride"])
    if kind == "globalavgpool":
        return lambda xs: xs[0].mean(dim=(2, 3))
    return lambda xs: xs[0].reshape(xs[0].shape[0], -1)  # flatten: CHW order (Dense weights are permuted to match)


def post_ops(nodes, posts, folded):
    """The fused followers of a group's head as in-place-safe ops on a fresh tensor; a relu then a 2 x 2 /
    stride 2 max pooling runs as the pooling then an in-place ReLU on the 4x smaller result (they commute)."""
    import torch

    ops, k = [], 0
    while k < len(posts):
        n = nodes[posts[k]]
        if n["kind"] == "batchnorm":
            if not folded:
                s, t = torch.from_numpy(n["s"]), torch.from_numpy(n["t"])
                ops.append(lambda x, s=s, t=t: x.mul_(chan(s, x)).add_(chan(t, x)))
        elif n["kind"] == "relu":
            if k + 1 < len(posts) and is_pool2(nodes[posts[k + 1]]):
                ops.append(lambda x: pool2(x).relu_())
                k += 1
            else:
                ops.append(lambda x: x.relu_())
        else:
            ops.append(pool2)
        k += 1
    return ops


def compile_graph(nodes):
    """Fuses the nodes into groups, each a head node and followers that are the single consumer of the node
    before them: batchnorm after a conv2d/dense (folded into its weights), relu after a conv2d/dense/
    batchnorm/add (in place), a 2 x 2 / stride 2 maxpool after such a relu (pool, then ReLU). A group is
    known by its last node's index (its output is that node's output); its inputs are its head's inputs."""
    consumers = [[] for _ in nodes]
    for j, n in enumerate(nodes):
        for i in n["inputs"]:
            if i >= 0:
                consumers[i].append(j)
    last = len(nodes) - 1
    groups, group_of = [], {}
    for j, n in enumerate(nodes):
        i = n["inputs"][0]
        g = group_of.get(i) if len(n["inputs"]) == 1 and i >= 0 and consumers[i] == [j] and i != last else None
        if g is not None and g["id"] == i:
            hk = nodes[g["head"]]["kind"]
            pk = [nodes[p]["kind"] for p in g["posts"]]
            ok = ((n["kind"] == "batchnorm" and hk in ("conv2d", "dense") and not pk)
                  or (n["kind"] == "relu" and hk in ("conv2d", "dense", "batchnorm", "add") and pk in ([], ["batchnorm"]))
                  or (is_pool2(n) and pk and pk[-1] == "relu"))
            if ok:
                g["posts"].append(j)
                g["id"] = j
                group_of[j] = g
                continue
        g = {"head": j, "posts": [], "id": j, "inputs": list(n["inputs"])}
        groups.append(g)
        group_of[j] = g
    for g in groups:
        g["inputs"] = [-1 if i == -1 else group_of[i]["id"] for i in g["inputs"]]
        h = nodes[g["head"]]
        fold = nodes[g["posts"][0]] if g["posts"] and nodes[g["posts"][0]]["kind"] == "batchnorm" and h["kind"] in ("conv2d", "dense") else None
        g["fold"] = fold is not None
        head, posts = head_op(h, fold), post_ops(nodes, g["posts"], fold is not None)

        def fwd(xs, head=head, posts=posts):
            y = head(xs)
            for p in posts:
                y = p(y)
            return y
        g["fwd"] = fwd
        g["raw"] = head_op(h)  # the head alone, unfolded: the injected layer's own output
        g["tail"] = post_ops(nodes, g["posts"], False)  # the followers, unfolded, on the head's output
    return groups, group_of


def plan_from(groups, site):
    """The groups that depend on group `site`, in topological order, each as (id, fwd, [(dirty?, input id)])."""
    dirty, plan = {site}, []
    for g in groups:
        if g["id"] > site and any(i in dirty for i in g["inputs"]):
            dirty.add(g["id"])
            plan.append((g["id"], g["fwd"], [(i in dirty, i) for i in g["inputs"]]))
    return plan


def run_plan(L, rows, smp):
    """The network from the site group's (faulty) rows on: dirty groups recomputed, clean inputs gathered
    from the cached clean outputs of the drawn images; the logits, or None if the fault cannot reach them."""
    cache = S["cache"]
    vals = {L["site"]: rows}
    for gid, fwd, ins in L["plan"]:
        vals[gid] = fwd([vals[i] if d else cache[i].index_select(0, smp) for d, i in ins])
    return vals.get(S["out"])


def fmap_job(f):
    """Injects S['n'] faults into fmap f = (layer position, channel); returns (f, mismatches, seconds)."""
    import torch

    t0 = time.perf_counter()
    li, ch = f
    L = S["layers"][li]
    pre, fs = L["pre"], L["fs"]  # the layer's own clean output (subset, C, H, W) or (subset, D); full scale
    n, batch, bits = S["n"], S["batch"], S["bits"]
    positions = L["positions"]
    g = torch.Generator().manual_seed(S["seed"] * 1_000_003 + L["index"] * 10_007 + ch)
    sample = torch.randint(pre.shape[0], (n,), generator=g)
    element = ch * positions + torch.randint(positions, (n,), generator=g)  # CHW offset inside the sample
    bit = torch.randint(bits, (n,), generator=g)
    step = fs / float(2 ** (bits - 1) - 1)
    lo, hi, mask, sign = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1, 2 ** bits - 1, 2 ** (bits - 1)
    mismatches = 0
    if S["out"] not in L["reach"]:
        return f, 0, time.perf_counter() - t0
    with torch.inference_mode():
        for i0 in range(0, n, batch):
            sl = slice(i0, min(n, i0 + batch))
            smp, el = sample[sl], element[sl]
            ar = torch.arange(smp.shape[0])
            # The element as (channel, row, column) indices: any memory format (NCHW or channels_last).
            at = (ar, el // positions, (el % positions) // pre.shape[3], el % pre.shape[3]) if pre.dim() == 4 else (ar, el)
            v = pre[(smp,) + at[1:]].double()
            q = torch.clamp(torch.sign(v) * torch.floor(v.abs() / step + 0.5), lo, hi).long()
            u = (q & mask) ^ (1 << bit[sl])
            code = torch.where(u >= sign, u - (mask + 1), u)
            y = (code.double() * step).float()
            if L["elementwise"]:
                # The followers are elementwise: the clean group outputs of the drawn images with the one
                # element replaced by its faulty value through them (BN affine of channel ch, ReLU).
                rows = S["cache"][L["site"]].index_select(0, smp)
                for kind, s, t in L["scalar_tail"]:
                    y = y * s[ch] + t[ch] if kind == "batchnorm" else y.clamp_min_(0)
                rows[at] = y
            else:
                # A pooling follows: the layer's own clean rows, the fault, then the followers.
                rows = pre.index_select(0, smp)
                rows[at] = y
                for p in L["tail"]:
                    rows = p(rows)
            z = run_plan(L, rows, smp)
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

    nodes, shape = load_graph(a.model)
    matmul = [i for i, n in enumerate(nodes) if n["kind"] in ("conv2d", "dense")]
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
    S["channels_last"] = a.memory_format == "channels_last"
    if S["channels_last"]:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.from_numpy(y_np)

    groups, group_of = compile_graph(nodes)
    out = group_of[len(nodes) - 1]["id"]
    layers = []
    for o in chosen:
        i = matmul[o]
        g = group_of[i]
        if g["head"] != i:
            raise PeerError(f"node {i} ({nodes[i]['kind']}) is not the head of its group")  # cannot happen
        plan = plan_from(groups, g["id"])
        post_kinds = [nodes[p]["kind"] for p in g["posts"]]
        elementwise = "maxpool2d" not in post_kinds
        layers.append({"ordinal": o, "index": i, "kind": nodes[i]["kind"], "channels": nodes[i]["shape"][0],
                       "positions": nodes[i]["shape"][1] * nodes[i]["shape"][2], "site": g["id"], "plan": plan,
                       "reach": {g["id"]} | {s[0] for s in plan}, "elementwise": elementwise, "tail": g["tail"],
                       "scalar_tail": [(nodes[p]["kind"], torch.from_numpy(nodes[p].get("s", np.zeros(1, np.float32))).double(),
                                        torch.from_numpy(nodes[p].get("t", np.zeros(1, np.float32))).double()) for p in g["posts"]],
                       "group": g})
    # Clean outputs to keep: every injected layer's own output, the group output of an elementwise site,
    # and every clean input of a recomputed group.
    keep = set()
    for L in layers:
        if L["elementwise"]:
            keep.add(L["site"])
        keep |= {i for _, _, ins in L["plan"] for d, i in ins if not d}

    # Clean pass, group by group (the fused network the suffixes run), in chunks of 200 images; and the
    # unfused node-by-node network as a cross-check of the fusion (BN folding).
    per_node = [head_op(n) for n in nodes]
    with torch.inference_mode():
        cache = {k: [] for k in keep}
        pre = {L["index"]: [] for L in layers}
        preds, ref_preds = [], []
        for b0 in range(0, a.subset, 200):
            vals = {-1: x[b0:b0 + 200]}
            for g in groups:
                xs = [vals[i] for i in g["inputs"]]
                if g["head"] in pre:
                    pre[g["head"]].append(g["raw"](xs))
                vals[g["id"]] = g["fwd"](xs)
                if g["id"] in cache:
                    cache[g["id"]].append(vals[g["id"]])
            preds.append(vals[out].argmax(dim=1))
            ref = {-1: x[b0:b0 + 200]}
            for j, n in enumerate(nodes):
                ref[j] = per_node[j]([ref[i] for i in n["inputs"]])
            ref_preds.append(ref[len(nodes) - 1].argmax(dim=1))
        pred, ref_pred = torch.cat(preds), torch.cat(ref_preds)
        fmt = torch.channels_last if S["channels_last"] else torch.contiguous_format
        cache = {k: torch.cat(v).contiguous(memory_format=fmt) if v[0].dim() == 4 else torch.cat(v).contiguous()
                 for k, v in cache.items()}
        if -1 in keep:
            cache[-1] = x
        for L in layers:
            L["pre"] = torch.cat(pre[L["index"]])
            L["pre"] = L["pre"].contiguous(memory_format=fmt) if L["pre"].dim() == 4 else L["pre"].contiguous()
            L["fs"] = float(L["pre"].abs().max()) or 1.0
        S.update(cache=cache, out=out)
        # Check the suffix path against the clean pass: clean rows in, clean top-1 out.
        m = min(a.subset, 200)
        smp = torch.arange(m)
        for L in layers:
            if L["elementwise"]:
                rows = cache[L["site"]][:m].clone()
            else:
                rows = L["pre"][:m].clone()
                for p in L["tail"]:
                    rows = p(rows)
            z = run_plan(L, rows, smp)
            if z is not None and not torch.equal(z.argmax(dim=1), pred[:m]):
                raise PeerError(f"layer {L['index']}: the suffix on clean outputs does not reproduce the clean top-1")
    fused_diff = int((pred != ref_pred).sum())
    if fused_diff > max(1, a.subset // 500):
        raise PeerError(f"the fused network (BN folded) and the node-by-node one disagree on {fused_diff} of {a.subset} top-1s")
    accuracy = float((pred == y).float().mean())
    S.update(layers=layers, pred=pred, n=a.injections, batch=a.batch, bits=a.bits, seed=a.seed)

    lines, info = blas_report(torch)
    print(f"{PROG}: " + "\n  ".join(lines))
    print(f"{PROG}: threads: torch.get_num_threads() = {torch.get_num_threads()}, OpenBLAS = {info['openblas_threads']}, "
          f"{a.procs} process{'es' if a.procs > 1 else ''}; mkldnn {'on' if torch.backends.mkldnn.is_available() else 'off'}")
    def label(g):
        return "+".join(nodes[j]["kind"] + (f"({nodes[j]['shape'][0]})" if nodes[j]["kind"] in ("conv2d", "dense") else "")
                        for j in [g["head"]] + g["posts"])
    arch = " -> ".join(label(g) + ("" if g["inputs"] == [g["head"] - 1] or len(g["inputs"]) == 1 and g["inputs"][0] == g["head"] - 1
                                   else "[" + ",".join(map(str, g["inputs"])) + "]") for g in groups)
    F_total = sum(L["channels"] for L in layers)
    print(f"{PROG}: {a.model}: {arch}; {a.subset} test images (clean accuracy {accuracy:.4f}); "
          f"layers {','.join(str(L['index']) for L in layers)}: {F_total} fmaps x {a.injections} injections, "
          f"bitflip_fixed {a.bits} bits, batch {a.batch}, seed {a.seed}, {a.memory_format}; fused vs node-by-node top-1 differ on {fused_diff}")

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
