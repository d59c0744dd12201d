"""Writes the ONNX models and reference outputs of tests/nets/test_onnx_import.cpp (one run: importing torch
is the slow part).

    /usr/bin/python3 tests/nets/torch_export.py OUT_DIR

For every model NAME below: OUT_DIR/NAME.onnx (torch.onnx.export, opset 13 unless stated) and a group
NAME in OUT_DIR/reference.h5 with
    x      (N, C, H, W) or (N, F) float32 inputs (NCHW, as torch sees them)
    y      (N, out) float64: the model evaluated in float64 on the same float32 weights and inputs
           (the oracle: its own rounding error is ~1e-16 relative, far below aimc's float32 error)
    bound  (N, out) float64: a first-order bound on the float32 rounding error of any evaluation of the
           model (error_bound below; the derivation is in test_onnx_import.cpp).
Models with hand-built graphs (onnx.helper) for the error cases are written as OUT_DIR/bad_*.onnx.
Seeded (torch.manual_seed, numpy default_rng), models in eval mode, BatchNorm running statistics randomized
so a BatchNorm is not the identity.
"""
import os
import sys
import warnings

import h5py
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

warnings.filterwarnings("ignore")  # torch.onnx's notes on constant folding and training modes
OUT = sys.argv[1]
N = 16  # samples per model


def randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(c, generator=gen) - 0.5)
                m.running_mean.copy_(torch.rand(c, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)


class AddOp(nn.Module):
    """a + b as a module, so error_bound() sees the rounding of a residual add (exports as Add)."""

    def forward(self, a, b):
        return a + b


class MatMulBias(nn.Module):
    """x @ w + b written out: torch exports it as MatMul + Add (not Gemm)."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n_in, n_out) * 0.3)
        self.b = nn.Parameter(torch.randn(n_out) * 0.1)

    def forward(self, x):
        return torch.matmul(x, self.w) + self.b


class MLP(nn.Module):
    """(a) Gemm, ReLU, Dropout, and MatMul + Add (an explicit x @ W + b) on a flat (N, 24) input."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(24, 32)
        self.act1 = nn.ReLU()
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(32, 16)
        self.act2 = nn.ReLU()
        self.fc3 = MatMulBias(16, 5)

    def forward(self, x):
        x = self.act2(self.fc2(self.drop(self.act1(self.fc1(x)))))
        return self.fc3(x)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU()
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.add = AddOp()

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(self.add(y, x if self.short is None else self.short(x)))


class ResNet(nn.Module):
    """(b) conv-BN-ReLU stem, an identity block and a stride-2 block with a projection shortcut,
    GlobalAveragePool, x.view(x.size(0), -1) with a dynamic batch (Shape/Gather/Concat/Reshape), Linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.block1 = BasicBlock(8, 8, 1)
        self.block2 = BasicBlock(8, 16, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.pool(self.block2(self.block1(self.stem(x))))
        return self.fc(x.view(x.size(0), -1))


class MobileNetBlock(nn.Module):
    """(c) depthwise 3x3 (groups = C) BN ReLU6, pointwise 1x1 BN, Hardtanh(0, 6), a stride-2 depthwise
    conv, GlobalAveragePool, Flatten, Linear. ReLU6 and Hardtanh export as Clip with constant inputs."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(4, 4, 3, 1, 1, groups=4, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.act1 = nn.ReLU6()
        self.pw = nn.Conv2d(4, 8, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.act2 = nn.Hardtanh(0.0, 6.0)
        self.dw2 = nn.Conv2d(8, 8, 3, 2, 1, groups=8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = self.act2(self.bn2(self.pw(self.act1(self.bn1(self.dw(x))))))
        return self.fc(self.flat(self.pool(self.dw2(x))))


class FlatCNN(nn.Module):
    """(d) conv, ReLU, max pool, average pool, Flatten of a (C>1, H, W) image and Linear: the Linear's
    rows must be permuted from CHW to HWC. A non-square input catches swapped H and W."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, 1, 1)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2d(2, 2)
        self.avg = nn.AvgPool2d(2, 1)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(3 * 3 * 2, 4)

    def forward(self, x):
        return self.fc(self.flat(self.avg(self.pool(self.act(self.conv(x))))))


class ConcatNet(nn.Module):
    """(e) two branches (1x1 and 3x3 conv) of the input joined along channels, max pool, and
    x.view(x.size(0), -1) + Linear."""

    def __init__(self):
        super().__init__()
        self.b1 = nn.Conv2d(3, 2, 1)
        self.r1 = nn.ReLU()
        self.b2 = nn.Conv2d(3, 4, 3, 1, 1)
        self.r2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(6 * 2 * 2, 3)

    def forward(self, x):
        y = torch.cat([self.r1(self.b1(x)), self.r2(self.b2(x))], dim=1)
        y = self.pool(y)
        return self.fc(y.view(y.size(0), -1))


class ConvOptions(nn.Module):
    """(f) the conv2d / pool options: a (3, 2) kernel with strides (2, 1), padding (1, 0) and dilation
    (1, 2); a (2, 3) max pool with strides (1, 2) and padding (1, 1); a padded average pool that does not
    count the padding."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, (3, 2), (2, 1), (1, 0), (1, 2))
        self.act = nn.ReLU()
        self.mp = nn.MaxPool2d((2, 3), (1, 2), (1, 1))
        self.ap = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(4 * 6 * 3, 3)

    def forward(self, x):
        return self.fc(self.flat(self.ap(self.mp(self.act(self.conv(x))))))


class Clip10(nn.Module):
    """(g) opset 10: Clip takes min and max as attributes. ReLU6 and Hardtanh(-1, 0.5) on a flat input."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(10, 12)
        self.act1 = nn.ReLU6()
        self.fc2 = nn.Linear(12, 6)
        self.act2 = nn.Hardtanh(-1.0, 0.5)

    def forward(self, x):
        return self.act2(self.fc2(self.act1(self.fc1(x))))


U = 2.0**-24  # unit roundoff of float32


def gamma(k):
    """gamma_k = k u / (1 - k u): a sum of k terms in float32, in any order, is off by at most gamma_k
    times the sum of the terms' magnitudes (Higham, Accuracy and Stability of Numerical Algorithms,
    2nd ed., Eq. 3.5)."""
    return k * U / (1 - k * U)


def local_error(m, inputs):
    """A bound on the rounding error of module m's float32 output (whatever the summation order),
    given its inputs: gamma_k of its longest sum times the module evaluated with |weights| on |inputs|.
    None for modules that round nothing (ReLU, Clip, max pooling, reshapes)."""
    a = inputs[0].abs()
    absb = lambda b: None if b is None else b.abs()
    if isinstance(m, nn.Conv2d):
        # aimc sums over all kh kw in_c rows of its (block-diagonal for groups) crossbar, + the bias
        k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels + 1
        return gamma(k) * F.conv2d(a, m.weight.abs(), absb(m.bias), m.stride, m.padding, m.dilation, m.groups)
    if isinstance(m, nn.Linear):
        return gamma(m.in_features + 1) * F.linear(a, m.weight.abs(), absb(m.bias))
    if isinstance(m, MatMulBias):
        return gamma(m.w.shape[0] + 1) * (a @ m.w.abs() + m.b.abs())
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        # (x - mean) / sqrt(var + eps) * gamma + beta, or x * scale + shift: at most 6 roundings, each of
        # a value bounded by |gamma| / sqrt(var + eps) (|x| + |mean|) + |beta|
        shape = (1, -1) + (1,) * (a.dim() - 2)
        scale = (m.weight.abs() / torch.sqrt(m.running_var + m.eps)).reshape(shape)
        return gamma(6) * (scale * (a + m.running_mean.abs().reshape(shape)) + m.bias.abs().reshape(shape))
    if isinstance(m, nn.AvgPool2d):
        k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size, m.kernel_size)
        return gamma(k[0] * k[1] + 1) * F.avg_pool2d(a, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return gamma(a.shape[2] * a.shape[3] + 1) * a.mean((2, 3), keepdim=True)
    if isinstance(m, AddOp):
        return gamma(1) * (inputs[0].abs() + inputs[1].abs())
    return None


def error_bound(model, x):
    """First-order bound on |y_float32 - y_exact| for every sample and output: each rounding module l adds
    at most e_l = local_error(l) to its output z_l, which reaches output j through the Jacobian, so
    |delta y_j| <= sum_l sum_i |d y_j / d z_l,i| e_l,i + O(u^2). Evaluated in float64 with autograd (eval
    mode: samples are independent, so one backward pass per output gives every sample's Jacobian)."""
    taps = []

    def hook(m, inputs, out):
        e = local_error(m, inputs)
        if e is not None:
            out.retain_grad()
            taps.append((out, e.detach()))

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    y = model(x)
    for h in handles:
        h.remove()
    bound = torch.zeros_like(y)
    for j in range(y.shape[1]):
        for z, _ in taps:
            z.grad = None
        y[:, j].sum().backward(retain_graph=True)
        for z, e in taps:
            bound[:, j] += (z.grad.abs() * e).flatten(1).sum(1)
    return y.detach(), bound.detach()


def export(name, model, shape, opset=13, dynamic_batch=False, preserve_bn=False):
    gen = torch.Generator().manual_seed(sum(name.encode()))
    randomize_bn(model, gen)
    model.eval()
    x = torch.randn((N,) + shape, generator=gen)
    path = os.path.join(OUT, name + ".onnx")
    kw = {}
    if preserve_bn:  # keep BatchNormalization nodes (eval export folds them into the conv before)
        kw["training"] = torch.onnx.TrainingMode.PRESERVE
    torch.onnx.export(model, x[:1], path, opset_version=opset, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}} if dynamic_batch else None, **kw)
    y, bound = error_bound(model.double(), x.double())
    with h5py.File(os.path.join(OUT, "reference.h5"), "a") as f:
        g = f.create_group(name)
        g["x"] = x.numpy()
        g["y"] = y.numpy()
        g["bound"] = bound.numpy()


def bad_models():
    """Graphs built with onnx.helper that aimc must reject with a clear message."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)

    def w(name, *dims, dtype=np.float32):
        return numpy_helper.from_array(rng.standard_normal(dims).astype(dtype), name)

    def save(name, nodes, inputs, outputs, inits, opset=13):
        g = helper.make_graph(nodes, name, inputs, outputs, inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="aimc-test")
        onnx.save(m, os.path.join(OUT, name + ".onnx"))

    vin = lambda name, *dims: helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims))
    # an unsupported operator after a supported one
    save("bad_softmax", [helper.make_node("Gemm", ["x", "W", "B"], ["h"], name="fc", transB=1),
                         helper.make_node("Softmax", ["h"], ["y"], name="probs", axis=1)],
         [vin("x", "N", 6)], [vin("y", "N", 4)], [w("W", 4, 6), w("B", 4)])
    # a recurrent layer
    save("bad_lstm", [helper.make_node("LSTM", ["x", "W", "R"], ["y"], name="rnn", hidden_size=2)],
         [vin("x", 5, "N", 3)], [vin("y", 5, 1, "N", 2)], [w("W", 1, 8, 3), w("R", 1, 8, 2)])
    # Conv with auto_pad SAME_UPPER
    save("bad_autopad", [helper.make_node("Conv", ["x", "W"], ["y"], name="conv_same", auto_pad="SAME_UPPER")],
         [vin("x", 1, 2, 5, 5)], [vin("y", 1, 3, 5, 5)], [w("W", 3, 2, 3, 3)])
    # dynamic spatial dimensions (importable with --input-shape 2,6,6)
    save("dynamic", [helper.make_node("Conv", ["x", "W"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                     helper.make_node("GlobalAveragePool", ["c"], ["p"], name="gap"),
                     helper.make_node("Flatten", ["p"], ["f"], name="flat", axis=1),
                     helper.make_node("Gemm", ["f", "V"], ["y"], name="fc", transB=1)],
         [vin("x", "N", 2, "H", "W")], [vin("y", "N", 3)], [w("W", 4, 2, 3, 3), w("V", 3, 4)])
    # float64 weights
    save("bad_double", [helper.make_node("Gemm", ["x", "Wd"], ["y"], name="fc64", transB=1)],
         [vin("x", 1, 6)], [vin("y", 1, 4)], [w("Wd", 4, 6, dtype=np.float64)])
    # two graph inputs, two outputs
    save("bad_two_inputs", [helper.make_node("Add", ["a", "b"], ["y"], name="sum")],
         [vin("a", 1, 4), vin("b", 1, 4)], [vin("y", 1, 4)], [])
    save("bad_two_outputs", [helper.make_node("Relu", ["x"], ["y"], name="r1"),
                             helper.make_node("Relu", ["x"], ["z"], name="r2")],
         [vin("x", 1, 4)], [vin("y", 1, 4), vin("z", 1, 4)], [])
    # a flattened (C, H, W) tensor concatenated with another: the feature order would change meaning
    save("bad_flat_concat", [helper.make_node("Flatten", ["x"], ["f"], name="flat", axis=1),
                             helper.make_node("Flatten", ["x"], ["g"], name="flat2", axis=1),
                             helper.make_node("Concat", ["f", "g"], ["y"], name="join", axis=1)],
         [vin("x", 1, 2, 3, 3)], [vin("y", 1, 36)], [])
    # activation + constant that is not the bias of a MatMul
    save("bad_add_const", [helper.make_node("Relu", ["x"], ["r"], name="relu"),
                           helper.make_node("Add", ["r", "B"], ["y"], name="shift")],
         [vin("x", 1, 4)], [vin("y", 1, 4)], [w("B", 4)])
    # a ceil_mode max pool
    save("bad_ceil", [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2],
                                       ceil_mode=1)],
         [vin("x", 1, 2, 5, 5)], [vin("y", 1, 2, 3, 3)], [])
    # an initializer whose raw data is shorter than its dimensions say
    t = w("Wt", 4, 6)
    t.raw_data = t.raw_data[:50]
    save("bad_short_tensor", [helper.make_node("Gemm", ["x", "Wt"], ["y"], name="fc", transB=1)],
         [vin("x", 1, 6)], [vin("y", 1, 4)], [t])


torch.manual_seed(1)
os.makedirs(OUT, exist_ok=True)
if os.path.exists(os.path.join(OUT, "reference.h5")):
    os.remove(os.path.join(OUT, "reference.h5"))
export("mlp", MLP(), (24,), dynamic_batch=True)
export("resnet", ResNet(), (3, 8, 8), dynamic_batch=True, preserve_bn=True)
export("mobilenet", MobileNetBlock(), (4, 8, 8), preserve_bn=True)
export("flatcnn", FlatCNN(), (2, 8, 7))
export("concat", ConcatNet(), (3, 5, 5), dynamic_batch=True)
export("convopts", ConvOptions(), (2, 9, 7))
export("clip10", Clip10(), (10,), opset=10)
bad_models()
print("torch_export.py: wrote", OUT)
