#!/usr/bin/python3
"""Writes small models with 3-D convolutions (video and volume networks:
torchvision's r3d_18, 3-D U-Nets) into tests/fixtures/exporters/, with an
input, ONNX Runtime's output, rows to train on and PyTorch's output after one
SGD step (NAME.onnx, .input.npy, .output.npy, .train_x.npy, .train_y.npy,
.sgd_output.npy), and one the lowering refuses (bad/):

  torch_conv3d   PyTorch, dynamic batch (opset 17), input [N, 3, 7, 9, 9]:
                 Conv3d with a depth stride and padding, a grouped Conv3d
                 without bias with a depth dilation, a (1, 3, 3) Conv3d,
                 MaxPool3d, ReLU, global average pooling, Linear;
                 a learnable task (which of the three input channels is
                 brightest)
  torch_convt3d  PyTorch, dynamic batch (opset 17), input [N, 3, 4, 6, 6]: a
                 3-D U-Net's decoder steps: ConvTranspose3d with strides 2,
                 padding and output_padding, a grouped one without bias,
                 dilated in depth and strided in height only, a skip
                 connection; the same task
  onnx_conv3d_same  python3-onnx helper, opset 13, fixed shape: a Conv3d with
                 auto_pad=SAME_UPPER, strides (2, 2, 1) and a kernel (2, 3, 1),
                 then a 5-D BatchNormalization, flattened to 144 logits

Run with Debian's python3 (torch, onnx):  /usr/bin/python3 tools/make_volume_fixtures.py
ONNX Runtime (npm onnxruntime-node) computes the outputs through
tools/ort_reference.js; set ORT_NODE_PATH to its node_modules directory
(default ~/.cache/bnnc-bench/node_modules, where tools/bench installs it).
"""
import os
import subprocess
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "exporters")


def torch_fixture(model, name, shape):
    """Exports model (dynamic batch, opset 17) and writes its input, 48
    training rows of `shape` whose label is the brightest input channel, and
    the output after one full-batch SGD step (lr 0.5, mean cross-entropy) in
    PyTorch: what `bnnc train --batch 1000 --epochs 1 --optimizer sgd --lr
    0.5` must reproduce."""
    import torch

    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.eval()
    torch.onnx.export(model, torch.randn(2, *shape), os.path.join(OUT, name + ".onnx"), opset_version=17,
                      input_names=["clip"], output_names=["logits"],
                      dynamic_axes={"clip": {0: "N"}, "logits": {0: "N"}})
    x = torch.randn(3, *shape)
    np.save(os.path.join(OUT, name + ".input.npy"), x.numpy())
    rng = np.random.default_rng(31)
    ty = rng.integers(0, 3, size=48).astype(np.int64)
    tx = rng.normal(size=(48, *shape)).astype(np.float32)
    tx[np.arange(48), ty] += 0.5  # the labelled channel is the brightest
    np.save(os.path.join(OUT, name + ".train_x.npy"), tx)
    np.save(os.path.join(OUT, name + ".train_y.npy"), ty)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = torch.nn.functional.cross_entropy(model(torch.tensor(tx)), torch.tensor(ty))
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        np.save(os.path.join(OUT, name + ".sgd_output.npy"), model(x).numpy())


def torch_conv3d():
    """Conv3d with a depth stride and padding, a grouped one without bias
    dilated in depth, a (1, 3, 3) window, MaxPool3d (no batch norm: the
    exporter folds it into the conv, which trains differently)."""
    import torch

    torch.manual_seed(31)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = torch.nn.Conv3d(3, 4, 3, stride=(2, 1, 1), padding=1)
            self.c2 = torch.nn.Conv3d(4, 6, (2, 3, 3), dilation=(2, 1, 1), groups=2, bias=False)
            self.c3 = torch.nn.Conv3d(6, 6, (1, 3, 3), padding=(0, 1, 1))
            self.fc = torch.nn.Linear(6, 3)

        def forward(self, x):
            h = torch.relu(self.c1(x))
            h = torch.relu(self.c2(h))
            h = torch.nn.functional.max_pool3d(torch.relu(self.c3(h)), (1, 2, 2))
            return self.fc(h.mean((2, 3, 4)))

    torch_fixture(Net(), "torch_conv3d", (3, 7, 9, 9))


def torch_convt3d():
    """A 3-D U-Net's decoder steps: ConvTranspose3d with strides 2, padding
    and output_padding, then a grouped one without bias, dilated in depth,
    strided in height only, with a skip connection added."""
    import torch

    torch.manual_seed(33)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.down = torch.nn.Conv3d(3, 4, 3, stride=2, padding=1)
            self.up = torch.nn.ConvTranspose3d(4, 3, 3, stride=2, padding=1, output_padding=1)
            self.t2 = torch.nn.ConvTranspose3d(3, 6, (2, 3, 3), stride=(1, 2, 1), dilation=(2, 1, 1),
                                               groups=3, bias=False)
            self.fc = torch.nn.Linear(6, 3)

        def forward(self, x):
            u = torch.relu(self.up(torch.relu(self.down(x)))) + x
            return self.fc(torch.relu(self.t2(u)).mean((2, 3, 4)))

    torch_fixture(Net(), "torch_convt3d", (3, 4, 6, 6))


def onnx_conv3d_same():
    rng = np.random.default_rng(32)
    w = rng.normal(scale=0.3, size=(4, 2, 2, 3, 1)).astype(np.float32)
    b = rng.normal(scale=0.1, size=(4,)).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["c"], auto_pad="SAME_UPPER", strides=[2, 2, 1],
                            kernel_shape=[2, 3, 1])
    bn = helper.make_node("BatchNormalization", ["c", "scale", "shift", "mean", "var"], ["n"])
    flat = helper.make_node("Flatten", ["n"], ["y"])
    stats = [numpy_helper.from_array(rng.uniform(lo, hi, size=(4,)).astype(np.float32), name)
             for name, lo, hi in (("scale", 0.5, 1.5), ("shift", -0.3, 0.3), ("mean", -0.2, 0.2), ("var", 0.5, 2))]
    graph = helper.make_graph([node, bn, flat], "conv3d_same",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 6, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 144])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")] + stats)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, "onnx_conv3d_same.onnx"))
    np.save(os.path.join(OUT, "onnx_conv3d_same.input.npy"), rng.normal(size=(1, 2, 5, 6, 4)).astype(np.float32))


def refused():
    """bad/conv3d_symbolic_depth.onnx: a Conv3d over an input whose depth is a
    symbol, which the lowering onto 2-D convolutions cannot size;
    bad/conv3d_huge_dilation.onnx: a depth dilation of 2^62."""
    os.makedirs(os.path.join(OUT, "bad"), exist_ok=True)
    w = np.ones((2, 1, 3, 3, 3), np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1] * 6)
    graph = helper.make_graph([node], "conv3d_symbolic_depth",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, "D", 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2, "D", 8, 8])],
                              [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, "bad", "conv3d_symbolic_depth.onnx"))
    # a depth dilation of 2^62: the lowering's tap offsets would overflow
    node = helper.make_node("Conv", ["x", "w"], ["y"], dilations=[2 ** 62, 1, 1])
    graph = helper.make_graph([node], "conv3d_huge_dilation",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]),
              os.path.join(OUT, "bad", "conv3d_huge_dilation.onnx"))


NAMES = ["torch_conv3d", "torch_convt3d", "onnx_conv3d_same"]


def main():
    os.makedirs(OUT, exist_ok=True)
    torch_conv3d()
    torch_convt3d()
    onnx_conv3d_same()
    refused()
    node_path = os.environ.get("ORT_NODE_PATH", os.path.expanduser("~/.cache/bnnc-bench/node_modules"))
    env = dict(os.environ, NODE_PATH=node_path)
    subprocess.run(["node", os.path.join(HERE, "ort_reference.js")] + [os.path.join(OUT, n + ".onnx") for n in NAMES],
                   check=True, env=env)


if __name__ == "__main__":
    sys.exit(main())
