#!/usr/bin/python3
"""Writes small PyTorch models for the layer types `bnnc convert` makes
Bayesian and the output kinds `bnnc eval`/`run`/`train` read, into
tests/fixtures/outputs/ (NAME.onnx, NAME.x.npy and NAME.y.npy or
NAME.output.npy):

  upsampler   ConvTranspose2d (stride 2, padding 1, output_padding 1) -> ReLU
              -> mean over H -> ConvTranspose1d (stride 2, dilation 2)
              -> Linear on the [N, C, W] activation (a MatMul with
              a constant weight, then Add); output [N, 4, 5]; NAME.output.npy
              is PyTorch's output for NAME.x.npy
  binary      Linear -> ReLU -> Linear -> Sigmoid, output [N, 1]: a binary
              classifier trained on which side of a plane a point lies;
              NAME.y.npy holds 0/1 labels (int64)
  per_step    Linear -> ReLU -> Linear -> Softmax over the last dim on
              [N, T, F] rows, output [N, 5, 3]: a per-step classifier
              trained to name the largest of a step's first three features;
              NAME.y.npy holds [N, 5] labels (int64)

Each is exported by torch.onnx (opset 13, dynamic batch).  PyTorch's own
output is the reference (no op here needs ONNX Runtime's).  And, built with
python3-onnx's helper, a ConvTranspose and an ai.bnnc ConvTransposeReparam
with the same output_shape and auto_pad attributes (ct_output_shape.onnx,
ct_reparam_output_shape.onnx; their Bayesian node must import with the
pads and output_padding of the plain one).

Run with Debian's python3 (torch, onnx):  /usr/bin/python3 tools/make_output_fixtures.py
"""
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "outputs")


class Upsampler(nn.Module):
    def __init__(self):
        super().__init__()
        self.up2d = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1)
        self.up1d = nn.ConvTranspose1d(3, 4, 3, stride=2, dilation=2)
        self.fc = nn.Linear(19, 5)

    def forward(self, x):
        h = torch.relu(self.up2d(x))      # [N, 3, 8, 8]
        h = h.mean(dim=2)                 # [N, 3, 8]
        h = self.up1d(h)                  # [N, 4, 19]
        return self.fc(h)                 # [N, 4, 5]: MatMul + Add


def export(model, x, name, dynamic_axes):
    model.eval()
    torch.onnx.export(model, x, os.path.join(OUT, name + ".onnx"), opset_version=13,
                      input_names=["x"], output_names=["y"], dynamic_axes=dynamic_axes,
                      do_constant_folding=True)


def train(model, x, loss_of, steps=300):
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_of(model(x))
        loss.backward()
        opt.step()


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    batch = {0: "N"}

    up = Upsampler()
    x = rng.standard_normal((3, 2, 4, 4)).astype(np.float32)
    export(up, torch.from_numpy(x), "upsampler", {"x": batch, "y": batch})
    with torch.no_grad():
        y = up(torch.from_numpy(x)).numpy()
    np.save(os.path.join(OUT, "upsampler.x.npy"), x)
    np.save(os.path.join(OUT, "upsampler.output.npy"), y)

    binary = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1), nn.Sigmoid())
    x = rng.standard_normal((64, 4)).astype(np.float32)
    labels = (x @ np.array([1.0, -2.0, 0.5, 1.0]) + 0.3 * rng.standard_normal(64) > 0)
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels.astype(np.float32))[:, None]
    train(binary, xt, lambda p: nn.functional.binary_cross_entropy(p, yt))
    export(binary, xt, "binary", {"x": batch, "y": batch})
    np.save(os.path.join(OUT, "binary.x.npy"), x)
    np.save(os.path.join(OUT, "binary.y.npy"), labels.astype(np.int64))

    steps = nn.Sequential(nn.Linear(4, 12), nn.ReLU(), nn.Linear(12, 3), nn.Softmax(dim=-1))
    x = rng.standard_normal((32, 5, 4)).astype(np.float32)
    labels = x[:, :, :3].argmax(axis=2).astype(np.int64)
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels)
    train(steps, xt, lambda p: nn.functional.nll_loss(torch.log(p + 1e-9).reshape(-1, 3),
                                                      yt.reshape(-1)))
    export(steps, xt, "per_step", {"x": batch, "y": batch})
    np.save(os.path.join(OUT, "per_step.x.npy"), x)
    np.save(os.path.join(OUT, "per_step.y.npy"), labels)

    conv_transpose_attribute_models()


def conv_transpose_attribute_models():
    """A ConvTranspose and its ai.bnnc form with output_shape (2-D) and
    auto_pad=SAME_UPPER (1-D)."""
    w = np.linspace(-1, 1, 2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3)
    w1 = np.linspace(-1, 1, 3 * 2 * 4, dtype=np.float32).reshape(3, 2, 4)
    for bayes in (False, True):
        def node(x, w_name, y, name, **attrs):
            if not bayes:
                return helper.make_node("ConvTranspose", [x, w_name], [y], name=name, **attrs)
            return helper.make_node("ConvTransposeReparam", [x, w_name, w_name + "_rho"], [y],
                                    name=name, domain="ai.bnnc", prior_sigma=0.2, **attrs)
        nodes = [node("x", "w", "h", "up", strides=[2, 2], output_shape=[10, 8]),
                 helper.make_node("ReduceMean", ["h"], ["m"], name="mean", axes=[2], keepdims=0),
                 node("m", "w1", "y", "up1d", strides=[2], auto_pad="SAME_UPPER")]
        inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(w1, "w1")]
        if bayes:
            inits += [numpy_helper.from_array(np.full_like(w, -3), "w_rho"),
                      numpy_helper.from_array(np.full_like(w1, -3), "w1_rho")]
        graph = helper.make_graph(
            nodes, "ct", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
        opsets = [helper.make_opsetid("", 13)] + ([helper.make_opsetid("ai.bnnc", 1)] if bayes else [])
        model = helper.make_model(graph, opset_imports=opsets, producer_name="make_output_fixtures")
        model.ir_version = 7
        onnx.save(model, os.path.join(OUT, "ct_reparam_output_shape.onnx" if bayes
                                      else "ct_output_shape.onnx"))


if __name__ == "__main__":
    main()
