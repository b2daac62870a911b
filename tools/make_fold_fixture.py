#!/usr/bin/python3
"""Makes tests/cli/fixtures/conv_bn.onnx and its input and output .npy: a
Conv -> BatchNormalization -> Relu -> Conv -> BatchNormalization net with
non-trivial running statistics, exported by PyTorch, and the output PyTorch
computes in eval mode (the reference `bnnc run` must match once it has folded
the batch norms into the convolutions; tests/cli/run_cli.sh).

    /usr/bin/python3 tools/make_fold_fixture.py
"""
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "cli", "fixtures")


def main():
    torch.manual_seed(3)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 3, 3, bias=False), torch.nn.BatchNorm2d(3))
    with torch.no_grad():
        for m in net:
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    net.eval()
    x = torch.rand(2, 2, 6, 6) - 0.5
    with torch.no_grad():
        y = net(x)
    # written node by node: PyTorch's exporter folds eval-mode batch norms
    # into the convolutions itself, and the point is that bnnc does
    conv1, bn1, _, conv2, bn2 = net
    inits, nodes = [], []

    def param(name, t):
        inits.append(numpy_helper.from_array(t.detach().numpy().astype(np.float32), name))
        return name

    def batch_norm(bn, x, y, name):
        ins = [x, param(name + ".weight", bn.weight), param(name + ".bias", bn.bias),
               param(name + ".running_mean", bn.running_mean),
               param(name + ".running_var", bn.running_var)]
        nodes.append(helper.make_node("BatchNormalization", ins, [y], name=name, epsilon=bn.eps))

    nodes.append(helper.make_node("Conv", ["x", param("conv1.weight", conv1.weight),
                                           param("conv1.bias", conv1.bias)], ["c1"],
                                  name="conv1", pads=[1, 1, 1, 1]))
    batch_norm(bn1, "c1", "b1", "bn1")
    nodes.append(helper.make_node("Relu", ["b1"], ["r1"], name="relu1"))
    nodes.append(helper.make_node("Conv", ["r1", param("conv2.weight", conv2.weight)], ["c2"],
                                  name="conv2"))
    batch_norm(bn2, "c2", "y", "bn2")
    graph = helper.make_graph(
        nodes, "conv_bn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 4, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, "conv_bn.onnx"))
    np.save(os.path.join(OUT, "conv_bn_x.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(OUT, "conv_bn_y.npy"), y.numpy().astype(np.float32))


if __name__ == "__main__":
    main()
