#!/usr/bin/env python3
"""The PyTorch loop `aimc mc` is compared with (bench/README.md, "aimc mc against a PyTorch loop").

A plain Monte Carlo loop over the reference MLP of an aimc model file (format 2), doing by hand the
work the issue describes, on the first 100 Fashion-MNIST test images:

  per trial, for every Dense layer l (weight W_l in crossbar view, inputs x outputs):
    W~ = W_l + 0.05 * max|W_l| * z,  z ~ N(0, 1) fresh per weight and trial  (cf. rram.sigma_prog = 0.05,
                                                                             prog_model = "additive")
    x  = fake_quant_8bit(x; [-x_max, x_max], 255 magnitude steps)            (DAC)
    y  = fake_quant_8bit(x @ W~; [-y_max, y_max), 256 levels) + b_l          (ADC, then digital bias)
    ReLU between layers; accuracy of the argmax over the batch.
  x_max and y_max of each layer come from a noiseless calibration pass over the first 256 training
  images, as `aimc mc` calibrates on `[data] calibration = 256`.

It is deliberately the simple version of that work: one Gaussian per weight (aimc draws one per device
of a differential pair, two per weight), one ADC range per layer (aimc: per column of every 128 x 128
tile, each tile converted on its own) and no per-layer SNR.

  /usr/bin/python3 bench/torch_mc_peer.py MODEL.h5 [--trials 2000] [--threads 1] [--seed 1]

Needs Debian's python3-torch, python3-h5py and python3-numpy; Fashion-MNIST from Debian's
dataset-fashion-mnist (/usr/share/datasets/fashion-mnist) or $AIMC_FASHION_MNIST_DIR.
Prints the BLAS torch's GEMMs run on, ms per trial and trials/s; the last line is machine-readable:
  RESULT ms_per_trial=... trials_per_s=... loop_s=... loop_cpu_s=... startup_s=... threads=... accuracy_mean=...
(loop_cpu_s: CPU time of all the process' threads during the trial loop.)
"""
import argparse
import gzip
import os
import sys
import time

T_START = time.perf_counter()
PROG = "torch_mc_peer.py"


class PeerError(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="aimc model file, format 2 (aimc train --model mlp --out FILE)")
    p.add_argument("--trials", type=int, default=2000, help="Monte Carlo trials (default 2000)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads and OpenBLAS threads (default 1, the issue's reference)")
    p.add_argument("--seed", type=int, default=1, help="torch.manual_seed (default 1)")
    p.add_argument("--images", type=int, default=100, help="first N test images per trial (default 100)")
    p.add_argument("--calibration", type=int, default=256, help="first N training images calibrating ranges")
    p.add_argument("--sigma", type=float, default=0.05, help="weight noise sigma as a fraction of max|W| per layer")
    p.add_argument("--bits", type=int, default=8, help="DAC and ADC bits (default 8)")
    p.add_argument("--data-dir", default=None,
                   help="Fashion-MNIST directory (default $AIMC_FASHION_MNIST_DIR, else /usr/share/datasets/fashion-mnist)")
    a = p.parse_args(argv)
    if a.trials < 1 or a.threads < 1 or a.images < 1 or a.calibration < 1 or not 2 <= a.bits <= 16 or a.sigma < 0:
        p.error("trials, threads, images, calibration must be >= 1, bits in [2, 16], sigma >= 0")
    return a


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def open_model(path, model):
    """The aimc model file at path, format 2, open for reading (an h5py.File, to use in a with block);
    PeerError naming the file and the problem otherwise. model: the --model to suggest for making one."""
    import h5py

    if not os.path.exists(path):
        raise PeerError(f"{path}: no such file (make it: aimc train --model {model} --out {path})")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise PeerError(f"{path}: not an HDF5 file ({e})")
    problem = None
    if text(f.attrs.get("format", "")) != "aimc-model":
        problem = f"not an aimc model file (attribute format = {text(f.attrs.get('format', ''))!r})"
    elif int(f.attrs.get("format_version", 0)) != 2:
        problem = (f"model file format_version {int(f.attrs.get('format_version', 0))}; this script reads format 2 "
                   f"only (re-make it with a current aimc: aimc train --model {model} --out FILE)")
    elif "parameters" not in f or "layers" not in f:
        problem = "format 2 file without /parameters or /layers"
    if problem:
        f.close()
        raise PeerError(f"{path}: {problem}")
    return f


def load_mlp(path):
    """[(kind, W, b)] of an aimc model file, format 2: a chain of flatten / dense / relu nodes.

    Dense weight is the crossbar view (inputs x outputs), bias (1 x outputs) (nets/model_io.hpp)."""
    import numpy as np

    with open_model(path, "mlp") as f:
        params = f["parameters"]
        layers = []
        names = sorted(f["layers"].keys())
        for i, name in enumerate(names):
            g = f["layers"][name]
            kind = text(g.attrs.get("kind", ""))
            inputs = [int(v) for v in g["inputs"][()]] if "inputs" in g else [i - 1]
            if inputs != [i - 1]:
                raise PeerError(f"{path}: /layers/{name} has inputs {inputs}; only a chain (input {i - 1}) is supported")
            if kind == "dense":
                ids = [int(v) for v in g["params"][()]]
                if len(ids) != 2:
                    raise PeerError(f"{path}: /layers/{name} (dense) has {len(ids)} parameter ids, expected 2 (weight, bias)")
                w = np.asarray(params[f"{ids[0]:04d}"][()], dtype=np.float32)
                b = np.asarray(params[f"{ids[1]:04d}"][()], dtype=np.float32).reshape(1, -1)
                if w.ndim != 2 or b.shape[1] != w.shape[1]:
                    raise PeerError(f"{path}: /layers/{name}: weight {w.shape} and bias {b.shape} do not fit")
                layers.append(("dense", w, b))
            elif kind in ("relu", "flatten"):
                layers.append((kind, None, None))
            else:
                raise PeerError(f"{path}: /layers/{name} is a {kind!r} layer; the peer runs flatten/dense/relu chains only")
    dense = [w for k, w, _ in layers if k == "dense"]
    if not dense:
        raise PeerError(f"{path}: no dense layer")
    for a, b in zip(dense, dense[1:]):
        if a.shape[1] != b.shape[0]:
            raise PeerError(f"{path}: dense layers do not chain ({a.shape} then {b.shape})")
    return layers


def read_idx(path, images):
    import numpy as np

    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise PeerError(f"{path}: cannot read ({e}); install Debian's dataset-fashion-mnist or set $AIMC_FASHION_MNIST_DIR")
    if images:
        n, rows, cols = (int.from_bytes(raw[o:o + 4], "big") for o in (4, 8, 12))
        return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)
    return np.frombuffer(raw, dtype=np.uint8, offset=8)


def fashion_mnist(data_dir, split, count):
    d = data_dir or os.environ.get("AIMC_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"
    x = read_idx(os.path.join(d, f"{split}-images-idx3-ubyte.gz"), True)[:count]
    y = read_idx(os.path.join(d, f"{split}-labels-idx1-ubyte.gz"), False)[:count]
    if len(x) < count:
        raise PeerError(f"{d}: {split} set has {len(x)} images, fewer than {count}")
    return (x.astype("float32") / 255.0), y.astype("int64")


def blas_report(torch):
    """Which BLAS library the process mapped, OpenBLAS' build and thread count (via ctypes)."""
    import ctypes

    libs = sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.split()[-1] or "mkl" in l.split()[-1]})
    import re

    cfg = torch.__config__.show()
    keys = [m.group(0) for m in re.finditer(r"\b(BLAS_INFO|LAPACK_INFO|USE_MKLDNN)=[^,\s]*", cfg)]
    cap = re.search(r"CPU capability usage: (\S+)", cfg)
    lines = [f"torch {torch.__version__}: " + ", ".join(keys or ["BLAS_INFO not reported"])
             + (f", CPU capability {cap.group(1)}" if cap else "")]
    lines.append("mapped: " + (", ".join(libs) if libs else "no BLAS library mapped"))
    openblas = [p for p in libs if "libopenblas" in os.path.basename(p)]
    info = {"openblas_threads": None}
    if openblas:
        lib = ctypes.CDLL(openblas[0])
        lib.openblas_get_config.restype = ctypes.c_char_p
        info["openblas_threads"] = lib.openblas_get_num_threads()
        lines.append(f"{lib.openblas_get_config().decode()}; openblas_get_num_threads() = {info['openblas_threads']}")
    elif any(os.path.dirname(p).endswith("/blas") for p in libs):
        lines.append("WARNING: the reference BLAS (libblas3) is mapped: install libopenblas0-pthread")
    return lines, info


def main(argv):
    a = parse_args(argv)
    # torch.set_num_threads sets OpenMP's count only; OpenBLAS (pthread build) starts one thread per core
    # unless told otherwise, so both are fixed before torch (and with it OpenBLAS) is loaded.
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    try:
        import numpy as np
        import torch
    except ImportError as e:
        raise PeerError(f"{e}; install Debian's python3-torch and python3-numpy")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    layers = load_mlp(a.model)
    x_np, y_np = fashion_mnist(a.data_dir, "t10k", a.images)
    c_np, _ = fashion_mnist(a.data_dir, "train", a.calibration)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    net = [(k, None if w is None else torch.from_numpy(w), None if b is None else torch.from_numpy(b)) for k, w, b in layers]
    dense = [(w, b) for k, w, b in net if k == "dense"]

    # Calibration: noiseless digital pass; per layer the largest |input| (DAC) and |x W| (ADC).
    x_max, y_max = [], []
    with torch.inference_mode():
        h = torch.from_numpy(c_np)
        for k, w, b in net:
            if k == "dense":
                x_max.append(float(h.abs().max()))
                p = h @ w
                y_max.append(float(p.abs().max()))
                h = p + b
            elif k == "relu":
                h = torch.relu(h)
    half = 2 ** (a.bits - 1)
    steps = 2 ** a.bits - 1
    dac = [(max(m, 1e-30) / steps, -steps, steps) for m in x_max]    # magnitude steps over [0, x_max], signed
    adc = [(max(m, 1e-30) / half, -half, half - 1) for m in y_max]    # 2^B levels over [-y_max, y_max)
    noise = [a.sigma * float(w.abs().max()) for w, _ in dense]

    lines, info = blas_report(torch)
    print(f"{PROG}: " + "\n  ".join(lines))
    print(f"{PROG}: threads: torch.get_num_threads() = {torch.get_num_threads()}, OpenBLAS = {info['openblas_threads']}")
    print(f"{PROG}: {a.model}: dense " + " -> ".join([str(dense[0][0].shape[0])] + [str(w.shape[1]) for w, _ in dense])
          + f"; {a.images} test images, {a.calibration} calibration images, sigma {a.sigma} x max|W|, "
          f"{a.bits}-bit DAC/ADC, {a.trials} trials, seed {a.seed}")

    acc = torch.empty(a.trials)
    startup = time.perf_counter() - T_START
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for t in range(a.trials):
            h = x
            i = 0
            for k, w, b in net:
                if k == "dense":
                    wt = w + noise[i] * torch.randn_like(w)
                    h = torch.fake_quantize_per_tensor_affine(h, dac[i][0], 0, dac[i][1], dac[i][2])
                    h = torch.fake_quantize_per_tensor_affine(h @ wt, adc[i][0], 0, adc[i][1], adc[i][2]) + b
                    i += 1
                elif k == "relu":
                    h = torch.relu(h)
            acc[t] = (h.argmax(dim=1) == y).float().mean()
    loop, loop_cpu = time.perf_counter() - t0, time.process_time() - c0
    ms = 1e3 * loop / a.trials
    print(f"{PROG}: {a.trials} trials in {loop:.3f} s: {ms:.3f} ms/trial, {a.trials / loop:.0f} trials/s "
          f"({a.threads} thread{'s' if a.threads > 1 else ''}; CPU {1e3 * loop_cpu / a.trials:.3f} ms/trial); start-up {startup:.2f} s; "
          f"accuracy {float(acc.mean()):.4f} +- {float(acc.std()) if a.trials > 1 else 0.0:.4f} (mean +- sd over trials)")
    print(f"RESULT ms_per_trial={ms:.4f} trials_per_s={a.trials / loop:.1f} loop_s={loop:.4f} loop_cpu_s={loop_cpu:.4f} startup_s={startup:.3f} "
          f"threads={a.threads} openblas_threads={info['openblas_threads']} accuracy_mean={float(acc.mean()):.4f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except PeerError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(1)
