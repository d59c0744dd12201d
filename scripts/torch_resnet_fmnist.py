#!/usr/bin/env python3
"""Bring your own network, the PyTorch half (scripts/byon.sh runs it): trains a small ResNet with BatchNorm
and residual adds on Fashion-MNIST in PyTorch and hands it to aimc as an ONNX file plus .npz data files.

    /usr/bin/python3 scripts/torch_resnet_fmnist.py [--out build/byon] [--epochs 2] [--seed 1]

Network (input 1 x 28 x 28, already normalized):
    stem: conv3x3(16)-BN-ReLU, max pool 2x2                                14 x 14 x 16
    2 basic blocks 16: conv3x3-BN-ReLU-conv3x3-BN, + identity, ReLU        14 x 14 x 16
    basic block 16 -> 32, stride 2: conv3x3/2-BN-ReLU-conv3x3-BN,
        + conv1x1/2-BN projection, ReLU                                    7 x 7 x 32
    global average pool, Linear(32, 10)
(the stem's max pool, as in ResNet, quarters the cost: 2.6 M multiply-accumulates per image).

Data: Debian's dataset-fashion-mnist IDX files (/usr/share/datasets/fashion-mnist, env
AIMC_FASHION_MNIST_DIR overrides), read with gzip + numpy; pixels x / 255 in [0, 1], then normalized with
mean 0.2860 and std 0.3530 *outside* the model, so `aimc import --mean 0.2860 --std 0.3530` puts the same
normalization in front of the imported network. Training: Adam, learning rate 2e-3 decayed to 0 on a cosine
schedule over all steps, batch 128, cross-entropy, CPU, 2 threads, seeded,
torch.use_deterministic_algorithms(True).

Writes into OUT:
    resnet_torch.onnx          torch.onnx.export of the model in eval mode, opset 13, static input 1x1x28x28
                               (torch folds each BatchNorm into the conv before it; --keep-batchnorm exports
                               them as BatchNormalization nodes, TrainingMode.PRESERVE)
    resnet_torch.pt            the trained state_dict
    fmnist_train.npz           x float32 (60000, 1, 28, 28) in [0, 1] (not normalized), y int64 (60000,)
    fmnist_test.npz            the same for the 10,000 test images
    fmnist_test_torchpred.npz  the test images with y = torch's predicted class: `aimc eval` on it counts
                               the images where aimc and torch agree
    torch_accuracy.txt         the line below
and prints one parseable line:
    torch: test accuracy 0.9123 (9123/10000)
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
from torch import nn

MEAN, STD = 0.2860, 0.3530
DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path, rank):
    """An IDX array (MNIST format) of unsigned bytes from a gzip file; strict about magic, rank and size."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 + 4 * rank or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] != rank:
        sys.exit(f"{path}: not an IDX file of unsigned bytes with {rank} dimensions")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank)
    if body.size != int(np.prod(dims)):
        sys.exit(f"{path}: {body.size} bytes of data for dimensions {dims}")
    return body.reshape(dims)


def load_split(directory, prefix):
    """x float32 (N, 1, 28, 28) in [0, 1], y int64 (N,)."""
    x = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"), 3)
    y = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz"), 1)
    if x.shape[0] != y.shape[0]:
        sys.exit(f"{directory}: {x.shape[0]} {prefix} images but {y.shape[0]} labels")
    return (x.astype(np.float32) / np.float32(255.0))[:, None, :, :], y.astype(np.int64)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.short is None else self.short(x)))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.MaxPool2d(2))
        self.blocks = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 16, 1), BasicBlock(16, 32, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


def normalize(x):
    return (x - MEAN) / STD


def predict(model, x, batch=1000):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(model(normalize(torch.from_numpy(x[i:i + batch]))).argmax(1))
    return torch.cat(out).numpy().astype(np.int64)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="build/byon", help="output directory (default: build/byon)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3, help="initial learning rate (cosine decay to 0)")
    p.add_argument("--keep-batchnorm", action="store_true",
                   help="export BatchNorm as its own ONNX node instead of folded into the conv before it")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data-dir", default=os.environ.get("AIMC_FASHION_MNIST_DIR") or DEFAULT_DIR,
                   help="Fashion-MNIST IDX directory (default: $AIMC_FASHION_MNIST_DIR, else " + DEFAULT_DIR + ")")
    a = p.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True)
    os.makedirs(a.out, exist_ok=True)
    onnx_path = os.path.join(a.out, "resnet_torch.onnx")
    if os.path.exists(onnx_path):
        os.remove(onnx_path)  # a stale model must not outlive the data files it belongs with

    x_train, y_train = load_split(a.data_dir, "train")
    x_test, y_test = load_split(a.data_dir, "t10k")
    xt, yt = normalize(torch.from_numpy(x_train)), torch.from_numpy(y_train)

    model = ResNet()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    steps = a.epochs * ((len(xt) + a.batch - 1) // a.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(a.seed)
    for epoch in range(a.epochs):
        t0 = time.time()
        model.train()
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(order), a.batch):
            idx = order[i:i + a.batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        acc = float(np.mean(predict(model, x_test) == y_test))
        print(f"epoch {epoch + 1}/{a.epochs}: train loss {total / len(xt):.4f}, test accuracy {acc:.4f}, "
              f"{time.time() - t0:.0f} s", file=sys.stderr, flush=True)

    model.eval()
    pred = predict(model, x_test)
    correct = int(np.sum(pred == y_test))

    torch.save(model.state_dict(), os.path.join(a.out, "resnet_torch.pt"))
    np.savez_compressed(os.path.join(a.out, "fmnist_train.npz"), x=x_train, y=y_train)
    np.savez_compressed(os.path.join(a.out, "fmnist_test.npz"), x=x_test, y=y_test)
    np.savez_compressed(os.path.join(a.out, "fmnist_test_torchpred.npz"), x=x_test, y=pred)

    line = f"torch: test accuracy {correct / len(y_test):.4f} ({correct}/{len(y_test)})"
    with open(os.path.join(a.out, "torch_accuracy.txt"), "w") as f:
        f.write(line + "\n")
    # Last, so that a run killed earlier leaves no ONNX file and scripts/byon.sh trains again.
    mode = torch.onnx.TrainingMode.PRESERVE if a.keep_batchnorm else torch.onnx.TrainingMode.EVAL
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), onnx_path, opset_version=13, training=mode,
                      input_names=["input"], output_names=["logits"])
    print(line, flush=True)


if __name__ == "__main__":
    main()
