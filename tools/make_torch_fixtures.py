#!/usr/bin/python3
"""Make small PyTorch-exported ONNX fixtures for bnnc's importer and runtime.

Each fixture is a tiny seeded model exported by torch.onnx.export (opset 13,
dynamic batch axis "N" on input and output) into tests/fixtures/torch/:
    <name>.onnx          the model (input "input", output "output")
    <name>.input.npy     float32, a batch of 3 seeded random inputs
    <name>.output.npy    float32, torch's output for that batch
together with tests/fixtures/torch/README.md listing what each one exercises.
Every file is checked with onnx.checker and with a pure-NumPy evaluation of the
ONNX graph (float64) against torch's output before it is written.

Run from the project root:
    /usr/bin/python3 tools/make_torch_fixtures.py
    /usr/bin/python3 tools/make_torch_fixtures.py --big-out DIR
The second form also writes the benchmark MLP 784-1200-1200-10 (~9.6 MB,
random seeded weights) into DIR, which is kept out of the repository.
    /usr/bin/python3 tools/make_torch_fixtures.py --only NAME[,NAME..]
regenerates only the named fixtures (the README is rewritten from all of them).

The NumPy evaluator below (run_onnx) is also used by tools/make_lenet5.py.
"""

import argparse
import io
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPSET = 13
BATCH = 3


# --------------------------------------------------------------------------
# Output helpers
# --------------------------------------------------------------------------

def write_atomic(path, data):
    """Write bytes to path via a temporary file in the same directory."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


# --------------------------------------------------------------------------
# A small NumPy evaluator for the ONNX ops torch emits for these models.
# It is a check on the exported files, written for clarity, not speed.
# --------------------------------------------------------------------------

def _attrs(node):
    import onnx
    out = {}
    for a in node.attribute:
        out[a.name] = onnx.helper.get_attribute_value(a)
    return out


def _windows(xp, kernel, strides, dilations):
    """[N,C,H,W] padded input -> [N,C,OH,OW,kh,kw] strided dilated windows."""
    kh, kw = kernel
    span = ((kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1)
    win = np.lib.stride_tricks.sliding_window_view(xp, span, axis=(2, 3))
    return win[:, :, ::strides[0], ::strides[1], ::dilations[0], ::dilations[1]]


def _as_2d(x, a, ndim_spatial):
    """Lift 1-D spatial ops to 2-D with H = 1; return (x, kernel, strides, pads, dilations)."""
    k = list(a.get("kernel_shape", []))
    s = list(a.get("strides", [1] * ndim_spatial))
    d = list(a.get("dilations", [1] * ndim_spatial))
    p = list(a.get("pads", [0] * (2 * ndim_spatial)))
    if ndim_spatial == 1:
        x = x[:, :, None, :]
        k = [1] + k if k else k
        s = [1] + s
        d = [1] + d
        p = [0, p[0], 0, p[1]]
    elif ndim_spatial != 2:
        raise NotImplementedError("only 1-D and 2-D spatial ops")
    return x, k, s, p, d


def _conv(x, w, b, a):
    nsp = x.ndim - 2
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("auto_pad")
    if "kernel_shape" not in a:
        a = dict(a, kernel_shape=list(w.shape[2:]))
    x, k, s, p, d = _as_2d(x, a, nsp)
    if nsp == 1:
        w = w[:, :, None, :]
    group = a.get("group", 1)
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])))
    win = _windows(xp, k, s, d)
    cin_g = x.shape[1] // group
    cout_g = w.shape[0] // group
    outs = []
    for g in range(group):
        xg = win[:, g * cin_g:(g + 1) * cin_g]
        wg = w[g * cout_g:(g + 1) * cout_g]
        outs.append(np.einsum("nchwij,mcij->nmhw", xg, wg, optimize=True))
    y = np.concatenate(outs, axis=1)
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y[:, :, 0, :] if nsp == 1 else y


def _conv_transpose(x, w, b, a):
    """ConvTranspose with explicit pads (what torch emits): scatter every
    kernel tap into the full output, then crop the pads."""
    nsp = x.ndim - 2
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") or "output_shape" in a:
        raise NotImplementedError("ConvTranspose auto_pad / output_shape")
    op = list(a.get("output_padding", [0] * nsp))
    x, _, s, p, d = _as_2d(x, a, nsp)
    if nsp == 1:
        w = w[:, :, None, :]
        op = [0] + op
    group = a.get("group", 1)
    n, c, h, wd = x.shape
    cin_g, cout_g = c // group, w.shape[1]
    kh, kw = w.shape[2:]
    full = np.zeros((n, cout_g * group,
                     (h - 1) * s[0] + (kh - 1) * d[0] + 1 + op[0],
                     (wd - 1) * s[1] + (kw - 1) * d[1] + 1 + op[1]))
    for g in range(group):
        xg = x[:, g * cin_g:(g + 1) * cin_g]
        for i in range(kh):
            for j in range(kw):
                tap = np.einsum("nchw,cm->nmhw", xg, w[g * cin_g:(g + 1) * cin_g, :, i, j])
                full[:, g * cout_g:(g + 1) * cout_g,
                     i * d[0]:i * d[0] + (h - 1) * s[0] + 1:s[0],
                     j * d[1]:j * d[1] + (wd - 1) * s[1] + 1:s[1]] += tap
    y = full[:, :, p[0]:full.shape[2] - p[2], p[1]:full.shape[3] - p[3]]
    if b is not None:
        y = y + b.reshape(1, -1, 1, 1)
    return y[:, :, 0, :] if nsp == 1 else y


def _pool(x, a, kind):
    nsp = x.ndim - 2
    x, k, s, p, d = _as_2d(x, a, nsp)
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise NotImplementedError("auto_pad")
    ceil_mode = a.get("ceil_mode", 0)
    h, w = x.shape[2], x.shape[3]
    extra = []
    for i, size in enumerate((h, w)):
        span = (k[i] - 1) * d[i] + 1
        total = size + p[i] + p[i + 2]
        if ceil_mode:
            out = -(-(total - span) // s[i]) + 1
            # a window must start inside the input or its leading padding
            if (out - 1) * s[i] >= size + p[i]:
                out -= 1
        else:
            out = (total - span) // s[i] + 1
        extra.append(max(0, (out - 1) * s[i] + span - total))
    pads = ((0, 0), (0, 0), (p[0], p[2] + extra[0]), (p[1], p[3] + extra[1]))
    if kind == "max":
        xp = np.pad(x, pads, constant_values=-np.inf)
        y = _windows(xp, k, s, d).max(axis=(4, 5))
    else:
        xp = np.pad(x, pads)
        sums = _windows(xp, k, s, d).sum(axis=(4, 5))
        if a.get("count_include_pad", 0):
            # count the declared padding, never the extra ceil_mode overhang
            inside = np.ones((1, 1, h + p[0] + p[2], w + p[1] + p[3]))
            mask = np.pad(inside, ((0, 0), (0, 0), (0, extra[0]), (0, extra[1])))
        else:
            mask = np.pad(np.ones((1, 1, h, w)), pads)
        y = sums / _windows(mask, k, s, d).sum(axis=(4, 5))
    return y[:, :, 0, :] if nsp == 1 else y


def _gemm(A, B, C, a):
    if a.get("transA", 0):
        A = A.T
    if a.get("transB", 0):
        B = B.T
    y = a.get("alpha", 1.0) * (A @ B)
    if C is not None:
        y = y + a.get("beta", 1.0) * C
    return y


def _reshape(x, shape, a):
    shape = [int(v) for v in shape]
    if not a.get("allowzero", 0):
        shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return x.reshape(shape)


def _eval_node(op, ins, a):
    x = ins[0] if ins else None
    if op == "Conv":
        return _conv(x, ins[1], ins[2] if len(ins) > 2 else None, a)
    if op == "ConvTranspose":
        return _conv_transpose(x, ins[1], ins[2] if len(ins) > 2 else None, a)
    if op == "MaxPool":
        return _pool(x, a, "max")
    if op == "AveragePool":
        return _pool(x, a, "avg")
    if op == "GlobalAveragePool":
        return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)
    if op == "GlobalMaxPool":
        return x.max(axis=tuple(range(2, x.ndim)), keepdims=True)
    if op == "BatchNormalization":
        scale, bias, mean, var = ins[1:5]
        shape = (1, -1) + (1,) * (x.ndim - 2)
        eps = a.get("epsilon", 1e-5)
        return ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
                * scale.reshape(shape) + bias.reshape(shape))
    if op == "Gemm":
        return _gemm(x, ins[1], ins[2] if len(ins) > 2 else None, a)
    if op == "MatMul":
        return np.matmul(x, ins[1])
    if op == "Add":
        return x + ins[1]
    if op == "Sub":
        return x - ins[1]
    if op == "Mul":
        return x * ins[1]
    if op == "Div":
        return x / ins[1]
    if op == "Relu":
        return np.maximum(x, 0)
    if op == "LeakyRelu":
        return np.where(x >= 0, x, a.get("alpha", 0.01) * x)
    if op == "Sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if op == "Tanh":
        return np.tanh(x)
    if op == "Softmax":
        e = np.exp(x - x.max(axis=a.get("axis", -1), keepdims=True))
        return e / e.sum(axis=a.get("axis", -1), keepdims=True)
    if op == "Flatten":
        axis = a.get("axis", 1)
        if axis < 0:
            axis += x.ndim
        return x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)
    if op == "Reshape":
        return _reshape(x, ins[1], a)
    if op == "Concat":
        return np.concatenate(ins, axis=a["axis"])
    if op == "Transpose":
        return np.transpose(x, a.get("perm"))
    if op == "Identity" or op == "Dropout":
        return x
    if op == "Shape":
        return np.array(x.shape, dtype=np.int64)
    if op == "Gather":
        return np.take(x, ins[1], axis=a.get("axis", 0))
    if op == "Unsqueeze":
        y = x
        for ax in sorted(int(v) % (x.ndim + len(ins[1])) for v in ins[1]):
            y = np.expand_dims(y, ax)
        return y
    if op == "Squeeze":
        if len(ins) > 1:
            return np.squeeze(x, axis=tuple(int(v) for v in ins[1]))
        return np.squeeze(x)
    if op == "Pad":
        pads = [int(v) for v in ins[1]]
        value = float(ins[2]) if len(ins) > 2 and ins[2] is not None else 0.0
        mode = a.get("mode", b"constant")
        if mode not in (b"constant", "constant"):
            raise NotImplementedError("Pad mode %r" % mode)
        n = x.ndim
        return np.pad(x, [(pads[i], pads[i + n]) for i in range(n)], constant_values=value)
    if op == "LayerNormalization":
        axes = tuple(range(a.get("axis", -1) % x.ndim, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
        y = (x - mean) / np.sqrt(var + a.get("epsilon", 1e-5)) * ins[1]
        return y + ins[2] if len(ins) > 2 and ins[2] is not None else y
    if op == "Slice":
        starts, ends = ins[1], ins[2]
        axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
        steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        index = [slice(None)] * x.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            index[int(ax)] = slice(int(s), int(e), int(st))
        return x[tuple(index)]
    if op == "Pow":
        return np.power(x, ins[1])
    if op == "Max":
        return np.maximum.reduce(ins)
    if op in ("ReduceMean", "ReduceMax"):
        axes = tuple(a["axes"]) if "axes" in a else None
        fn = np.mean if op == "ReduceMean" else np.max
        return fn(x, axis=axes, keepdims=bool(a.get("keepdims", 1)))
    if op in _COMPARE:
        return _COMPARE[op](x, ins[1])
    if op == "Not":
        return np.logical_not(x)
    if op == "Where":
        return np.where(x, ins[1], ins[2])
    if op == "Neg":
        return -x
    if op == "Cast":
        import onnx.mapping
        dt = onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[a["to"]]
        return x.astype(np.float64 if np.dtype(dt).kind == "f" else dt)
    if op == "ConstantOfShape":
        import onnx.numpy_helper
        value = onnx.numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1)
        value = value.astype(np.float64) if value.dtype.kind == "f" else value
        return np.full(tuple(int(v) for v in x), value.reshape(-1)[0], dtype=value.dtype)
    if op == "Expand":
        shape = np.broadcast_shapes(x.shape, tuple(int(v) for v in ins[1]))
        return np.broadcast_to(x, shape).copy()
    raise NotImplementedError("NumPy evaluator has no op %s" % op)


_COMPARE = {
    "Equal": np.equal, "Greater": np.greater, "Less": np.less,
    "GreaterOrEqual": np.greater_equal, "LessOrEqual": np.less_equal,
    "And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor,
}


def run_onnx(model, feeds):
    """Evaluate an onnx.ModelProto in float64 NumPy; return {output name: array}."""
    import onnx.numpy_helper
    env = {}
    for init in model.graph.initializer:
        arr = onnx.numpy_helper.to_array(init)
        env[init.name] = arr.astype(np.float64) if arr.dtype.kind == "f" else arr
    for name, value in feeds.items():
        env[name] = np.asarray(value, dtype=np.float64)
    for node in model.graph.node:
        a = _attrs(node)
        if node.op_type == "Constant":
            arr = onnx.numpy_helper.to_array(a["value"])
            env[node.output[0]] = arr.astype(np.float64) if arr.dtype.kind == "f" else arr
            continue
        ins = [env[n] if n else None for n in node.input]
        env[node.output[0]] = _eval_node(node.op_type, ins, a)
    return {o.name: env[o.name] for o in model.graph.output}


def op_types(model):
    """Op types in node order, each once."""
    seen = []
    for node in model.graph.node:
        if node.op_type not in seen:
            seen.append(node.op_type)
    return seen


def export_onnx(module, example, input_name="input", output_name="output", **options):
    """Export to ONNX bytes with a dynamic batch axis N; return bytes.

    options go to torch.onnx.export (e.g. training=TrainingMode.PRESERVE).
    """
    import torch
    buf = io.BytesIO()
    options.setdefault("do_constant_folding", True)
    with torch.no_grad():
        torch.onnx.export(module, example, buf, opset_version=options.pop("opset_version", OPSET),
                          input_names=[input_name], output_names=[output_name],
                          dynamic_axes={input_name: {0: "N"}, output_name: {0: "N"}},
                          **options)
    return buf.getvalue()


def check_export(data, x, expected, input_name="input", output_name="output", tol=1e-4):
    """onnx.checker plus NumPy evaluation against torch; return (model, max error)."""
    import onnx
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    got = run_onnx(model, {input_name: x})[output_name]
    if got.shape != expected.shape:
        raise SystemExit("shape mismatch: onnx %s vs torch %s" % (got.shape, expected.shape))
    err = float(np.max(np.abs(got - expected.astype(np.float64)) /
                       (1.0 + np.abs(expected.astype(np.float64)))))
    if not err <= tol:
        raise SystemExit("ONNX graph disagrees with torch: max rel err %g > %g" % (err, tol))
    return model, err


# --------------------------------------------------------------------------
# The fixtures
# --------------------------------------------------------------------------

def _models():
    import torch
    from torch import nn

    def bn_stats(bn, generator):
        """Give a batchnorm non-trivial running stats and affine parameters."""
        c = bn.num_features
        with torch.no_grad():
            bn.running_mean.copy_(torch.randn(c, generator=generator) * 0.5)
            bn.running_var.copy_(torch.rand(c, generator=generator) * 1.5 + 0.25)
            bn.weight.copy_(torch.rand(c, generator=generator) + 0.5)
            bn.bias.copy_(torch.randn(c, generator=generator) * 0.2)

    class Residual(nn.Module):
        """relu(x + conv(relu(conv(x)))) then a strided 1x1 projection skip."""
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
            self.down = nn.Conv2d(4, 8, 3, stride=2, padding=1)
            self.proj = nn.Conv2d(4, 8, 1, stride=2)
            self.fc = nn.Linear(8 * 4 * 4, 5)

        def forward(self, x):
            y = torch.relu(x + self.conv2(torch.relu(self.conv1(x))))
            z = torch.relu(self.down(y) + self.proj(y))
            return self.fc(torch.flatten(z, 1))

    class GroupedConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(4, 6, 3, padding=1, groups=2)
            self.conv2 = nn.Conv2d(6, 4, 3, stride=2, groups=2, bias=False)

        def forward(self, x):
            return self.conv2(torch.relu(self.conv1(x)))

    class DepthwiseConv(nn.Module):
        """Depthwise-separable: 3x3 depthwise, 1x1 pointwise; then a dilated depthwise."""
        def __init__(self):
            super().__init__()
            self.dw = nn.Conv2d(6, 6, 3, padding=1, groups=6)
            self.pw = nn.Conv2d(6, 8, 1)
            self.dw2 = nn.Conv2d(8, 16, 3, stride=2, padding=2, dilation=2, groups=8)

        def forward(self, x):
            return self.dw2(torch.relu(self.pw(torch.relu(self.dw(x)))))

    class ConcatBranches(nn.Module):
        """Inception-like: 1x1, 3x3 and max-pool branches concatenated on channels."""
        def __init__(self):
            super().__init__()
            self.b1 = nn.Conv2d(3, 4, 1)
            self.b3 = nn.Conv2d(3, 5, 3, padding=1)
            self.pool = nn.MaxPool2d(3, stride=1, padding=1)
            self.mix = nn.Conv2d(4 + 5 + 3, 6, 1)

        def forward(self, x):
            y = torch.cat([torch.relu(self.b1(x)), torch.relu(self.b3(x)), self.pool(x)], dim=1)
            return self.mix(y)

    class AvgPool(nn.Module):
        def __init__(self, **kw):
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3)
            self.pool = nn.AvgPool2d(**kw)

        def forward(self, x):
            return self.pool(self.conv(x))

    class GlobalAvgPool(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            return self.fc(torch.flatten(self.gap(torch.relu(self.conv(x))), 1))

    class BatchNorm(nn.Module):
        """Batchnorm placed where torch's exporter cannot fold it into a conv."""
        def __init__(self, generator):
            super().__init__()
            self.bn_in = nn.BatchNorm2d(3)
            self.conv = nn.Conv2d(3, 6, 3, padding=1)
            self.bn2d = nn.BatchNorm2d(6)
            self.fc = nn.Linear(6 * 4 * 4, 10)
            self.bn1d = nn.BatchNorm1d(10)
            self.out = nn.Linear(10, 3)
            for bn in (self.bn_in, self.bn2d, self.bn1d):
                bn_stats(bn, generator)

        def forward(self, x):
            y = self.bn2d(torch.relu(self.conv(self.bn_in(x))))
            y = nn.functional.max_pool2d(y, 2)
            y = torch.relu(self.bn1d(self.fc(torch.flatten(y, 1))))
            return self.out(y)

    class ConvBatchNorm(nn.Module):
        """Conv directly followed by batchnorm (what fold-batchnorm targets)."""
        def __init__(self, generator):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, bias=False)
            self.bn = nn.BatchNorm2d(4)
            bn_stats(self.bn, generator)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)))

    class MlpMatMul(nn.Module):
        """nn.Linear on a 3-D input [N,T,F]: exported as MatMul + Add."""
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(8, 16)
            self.fc2 = nn.Linear(16, 4)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))

    class Activations(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(12, 16)
            self.fc2 = nn.Linear(16, 16)
            self.fc3 = nn.Linear(16, 8)
            self.fc4 = nn.Linear(8, 4)
            self.leaky = nn.LeakyReLU(0.1)

        def forward(self, x):
            y = self.leaky(self.fc1(x))
            y = torch.sigmoid(self.fc2(y))
            y = torch.tanh(self.fc3(y))
            return self.fc4(y)

    class Conv1d(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv1d(3, 8, 5, padding=2)
            self.pool = nn.MaxPool1d(2)
            self.conv2 = nn.Conv1d(8, 8, 3, stride=2, groups=2)
            self.fc = nn.Linear(8 * 7, 4)

        def forward(self, x):
            y = self.pool(torch.relu(self.conv1(x)))
            y = torch.relu(self.conv2(y))
            return self.fc(torch.flatten(y, 1))

    class ModernOps(nn.Module):
        """What newer architectures export: LayerNorm, chunk, slicing, GLU."""
        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(8)
            self.up = nn.Linear(8, 16)
            self.down = nn.Linear(8, 4)

        def forward(self, x):
            h = self.up(self.norm(x))
            a, b = h.chunk(2, dim=-1)
            g = a * torch.sigmoid(b)
            d = g[:, 1:, :] - g[:, :-1, :]
            m = torch.maximum(d.pow(2), g[:, 1:, :])
            return self.down(m.mean(dim=1) + g.amax(dim=1))

    class Mlp(nn.Module):
        def __init__(self, sizes):
            super().__init__()
            self.fc1 = nn.Linear(sizes[0], sizes[1])
            self.fc2 = nn.Linear(sizes[1], sizes[2])
            self.fc3 = nn.Linear(sizes[2], sizes[3])

        def forward(self, x):
            x = torch.flatten(x, 1)
            return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    class Decoder(nn.Module):
        """Upsampling decoder: transposed convolutions 2-D and 1-D."""
        def __init__(self):
            super().__init__()
            self.up1 = nn.ConvTranspose2d(8, 6, 4, stride=2, padding=1)
            self.up2 = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1,
                                          groups=2, bias=False)
            self.up1d = nn.ConvTranspose1d(4, 2, 5, stride=3, padding=2, output_padding=1,
                                           dilation=2)

        def forward(self, x):
            y = torch.relu(self.up1(x))
            y = torch.tanh(self.up2(y))
            return self.up1d(y.mean(dim=2))

    class Masks(nn.Module):
        """Masks and selection: x.expand(-1, k), comparisons, torch.where, masked_fill."""
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 6)
            self.gate = nn.Linear(6, 1)

        def forward(self, x):
            h = self.fc(x)
            g = self.gate(x).expand(-1, 6)
            y = torch.where(h > 0, h * g, -h)
            y = y.masked_fill(x < -1.0, 0.0)
            return y + (x >= 0.5).float() - (h != 0.25).float() * 0.5

    # (name, constructor taking a generator, input shape without batch,
    #  what it exercises[, torch.onnx.export options])
    return [
        ("residual", lambda g: Residual(), (4, 8, 8),
         "residual adds of two branches (identity skip, and a strided 1x1 projection skip), Flatten, Gemm"),
        ("grouped_conv", lambda g: GroupedConv(), (4, 7, 7),
         "grouped convolution (groups=2), padded and strided, one without bias"),
        ("depthwise_conv", lambda g: DepthwiseConv(), (6, 9, 9),
         "depthwise convolution (groups=channels, and a channel multiplier of 2 with dilation 2), 1x1 pointwise conv"),
        ("concat", lambda g: ConcatBranches(), (3, 6, 6),
         "concatenation of three branches along channels; padded stride-1 MaxPool"),
        ("avg_pool", lambda g: AvgPool(kernel_size=2), (2, 10, 10),
         "AvgPool2d(2): no padding (torch still emits an all-zero Pad before it)"),
        ("avg_pool_pad", lambda g: AvgPool(kernel_size=3, stride=2, padding=1), (2, 10, 10),
         "AvgPool2d(3, stride 2, padding 1, count_include_pad=True): padding counted in the divisor"),
        ("avg_pool_pad_exclude",
         lambda g: AvgPool(kernel_size=3, stride=2, padding=1, count_include_pad=False), (2, 10, 10),
         "AvgPool2d(3, stride 2, padding 1, count_include_pad=False): padding not counted"),
        ("avg_pool_ceil",
         lambda g: AvgPool(kernel_size=3, stride=2, ceil_mode=True, count_include_pad=False), (2, 12, 12),
         "AvgPool2d(3, stride 2, ceil_mode=True): last window hangs over the edge"),
        ("global_avg_pool", lambda g: GlobalAvgPool(), (3, 6, 6),
         "AdaptiveAvgPool2d(1) as GlobalAveragePool, then Flatten and Gemm"),
        ("batchnorm", lambda g: BatchNorm(g), (3, 8, 8),
         "BatchNormalization (eval, non-trivial running stats) on the input, after a ReLU, and 1-D after a Gemm"),
        ("conv_batchnorm", lambda g: ConvBatchNorm(g), (3, 6, 6),
         "Conv (no bias) directly followed by BatchNormalization, left unfolded: the input "
         "fold-batchnorm works on (exported with training=PRESERVE on the eval-mode model, "
         "since a default export folds the batchnorm into the conv)",
         {"training": "preserve", "do_constant_folding": False}),
        ("mlp_matmul", lambda g: MlpMatMul(), (5, 8),
         "nn.Linear on a 3-D input [N,5,8]: MatMul + Add instead of Gemm"),
        ("activations", lambda g: Activations(), (12,),
         "LeakyReLU(0.1), Sigmoid and Tanh between Gemm layers"),
        ("conv1d", lambda g: Conv1d(), (3, 32),
         "Conv1d (padded, and strided grouped), MaxPool1d, Flatten, Gemm on [N,C,L] input"),
        ("modern_ops", lambda g: ModernOps(), (6, 8),
         "opset 17: LayerNormalization, torch.chunk (Slice with shape arithmetic), stepped "
         "slices, Pow, Max, ReduceMean, ReduceMax",
         {"opset_version": 17}),
        ("decoder", lambda g: Decoder(), (8, 4, 4),
         "ConvTranspose2d (stride 2, padding 1; and grouped, groups=2, with output_padding, "
         "no bias) and ConvTranspose1d (stride 3, dilation 2, output_padding) after a ReduceMean"),
        ("masks", lambda g: Masks(), (6,),
         "opset 17: x.expand(-1, k) (ConstantOfShape, Equal, Where on shapes: folds at import), "
         "Greater/Less/GreaterOrEqual masks, Where, masked_fill, != as Equal + Not, Cast of bool",
         {"opset_version": 17}),
    ], ("mlp_784_1200_1200_10", lambda g: Mlp((784, 1200, 1200, 10)), (784,),
        "benchmark MLP 784-1200-1200-10, random seeded weights")


def make_fixture(index, name, ctor, in_shape, options=None):
    """Build, run and export one fixture; return (onnx bytes, x, y, model, err)."""
    import torch
    options = dict(options or {})
    if options.get("training") == "preserve":
        options["training"] = torch.onnx.TrainingMode.PRESERVE
    torch.manual_seed(1000 + index)
    generator = torch.Generator().manual_seed(2000 + index)
    module = ctor(generator).eval()
    x = torch.randn((BATCH,) + tuple(in_shape), generator=generator)
    with torch.no_grad():
        y = module(x)
    data = export_onnx(module, x, **options)
    x_np = x.numpy().astype(np.float32)
    y_np = y.numpy().astype(np.float32)
    model, err = check_export(data, x_np, y_np)
    return data, x_np, y_np, model, err


def readme_text(rows):
    lines = [
        "# PyTorch-exported ONNX fixtures",
        "",
        "Tiny seeded models exported by `torch.onnx.export` (torch 1.13, opset %d" % OPSET,
        "unless the row says otherwise,",
        "`do_constant_folding=True`), each with input `input` and output `output` whose",
        "first axis is the dynamic batch `N`. For each `<name>`:",
        "",
        "- `<name>.onnx`: the model;",
        "- `<name>.input.npy`: float32, a batch of %d seeded random normal inputs;" % BATCH,
        "- `<name>.output.npy`: float32, torch's output for that batch.",
        "",
        "The generator checks each file with `onnx.checker` and a float64 NumPy",
        "evaluation of the graph, which must match torch's float32 output to 1e-4",
        "(|a-b| / (1+|b|)); a float32 runtime should pass with a similar tolerance.",
        "",
        "| name | input | output | ONNX ops | exercises |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, in_shape, out_shape, ops, what in rows:
        lines.append("| `%s` | [N,%s] | [N,%s] | %s | %s |" % (
            name, ",".join(map(str, in_shape)), ",".join(map(str, out_shape)),
            ", ".join(ops), what))
    lines += [
        "",
        "Regenerate (from the project root) with",
        "",
        "    /usr/bin/python3 tools/make_torch_fixtures.py",
        "",
        "`--big-out DIR` also writes the benchmark model `mlp_784_1200_1200_10.onnx`",
        "(784-1200-1200-10, ~9.6 MB, random seeded weights) and its input/output",
        "into DIR; it is not kept here.",
        "",
        "## What torch 1.13's exporter emits, for importers",
        "",
        "- `AvgPool2d` with `count_include_pad=True` (torch's default) becomes",
        "  `Constant` (int64 pads, 8 values) + `Pad` (mode constant, no value input)",
        "  + `AveragePool` with zero pads, even when the padding is 0. With",
        "  `count_include_pad=False` it is a single `AveragePool` carrying the pads.",
        "- `nn.Linear` on a 2-D input is `Gemm` (transB=1); on a 3-D input it is",
        "  `MatMul` with a pre-transposed [in,out] initializer named like",
        "  `onnx::MatMul_12`, then `Add` with the bias as the *first* input.",
        "- An eval-mode export folds a BatchNorm that directly follows a Conv into the",
        "  Conv; elsewhere `BatchNormalization` stays, with `epsilon` and `momentum`.",
        "- `torch.flatten(x, 1)` is `Flatten` (axis 1); `AdaptiveAvgPool2d(1)` and",
        "  `AdaptiveAvgPool1d(1)` are `GlobalAveragePool`.",
        "- Models are ir_version 7, opset_import `ai.onnx` only (13, or the row's), no",
        "  value_info.",
        "- `torch.chunk` at opset 17 is Shape, Gather and Add/Div/Mul arithmetic on the",
        "  split size feeding two `Slice` nodes (not `Split`).",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "torch"),
                        help="fixture directory (default: %(default)s)")
    parser.add_argument("--big-out", metavar="DIR",
                        help="also write mlp_784_1200_1200_10 into DIR")
    parser.add_argument("--only", help="comma-separated fixture names to regenerate")
    args = parser.parse_args()

    import torch
    torch.set_num_threads(2)
    try:
        torch.use_deterministic_algorithms(True)
    except AttributeError:
        pass

    fixtures, big = _models()
    only = set(args.only.split(",")) if args.only else None
    known = {f[0] for f in fixtures} | {big[0]}
    if only and not only <= known:
        raise SystemExit("unknown fixture(s): %s" % ", ".join(sorted(only - known)))

    rows = []
    for index, (name, ctor, in_shape, what, *options) in enumerate(fixtures):
        data, x, y, model, err = make_fixture(index, name, ctor, in_shape, *options)
        ops = op_types(model)
        rows.append((name, in_shape, y.shape[1:], ops, what))
        if only is not None and name not in only:
            continue
        if len(data) > 200 * 1024:
            raise SystemExit("%s: %d bytes, over the 200 KB budget" % (name, len(data)))
        write_atomic(os.path.join(args.out, name + ".onnx"), data)
        write_atomic(os.path.join(args.out, name + ".input.npy"), npy_bytes(x))
        write_atomic(os.path.join(args.out, name + ".output.npy"), npy_bytes(y))
        print("%-22s %7d bytes  out %-12s max err %.2e  ops %s" % (
            name, len(data), list(y.shape), err, " ".join(ops)))
    write_atomic(os.path.join(args.out, "README.md"), readme_text(rows).encode("utf-8"))

    if args.big_out:
        name, ctor, in_shape, what = big
        data, x, y, model, err = make_fixture(len(fixtures), name, ctor, in_shape)
        write_atomic(os.path.join(args.big_out, name + ".onnx"), data)
        write_atomic(os.path.join(args.big_out, name + ".input.npy"), npy_bytes(x))
        write_atomic(os.path.join(args.big_out, name + ".output.npy"), npy_bytes(y))
        print("%-22s %7d bytes  out %-12s max err %.2e  ops %s  -> %s" % (
            name, len(data), list(y.shape), err, " ".join(op_types(model)), args.big_out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
