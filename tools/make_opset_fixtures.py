#!/usr/bin/python3
"""Models at opsets 18 to 21, made from PyTorch 1.13 exports (opset 17), with
an input and ONNX Runtime's output for each.

Debian's python3-onnx (1.12) knows opsets up to 17, so its version_converter
cannot write 18 to 21.  bump() does the upgrade by hand for what these models
hold: the default-domain opset (and the IR version it needs: 8 for 18, 9 for
19 and 20, 10 for 21), and from 18 on the `axes` attribute of ReduceMean,
ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum,
ReduceLogSumExp and ReduceSumSquare moved to an int64 input (ReduceSum's moved
at 13).  Everything else these models use means the same from 17 to 21 (the
later versions add types, modes and attributes whose defaults are the old
behaviour: Pad's axes, Resize's antialias, Cast's saturate), including inside
If/Loop/Scan bodies, which bump() walks too.

  python3 tools/make_opset_fixtures.py
      writes tests/fixtures/exporters/opsets/NAME_opNN.onnx (NN = 18..21) with
      NAME_opNN.input.npy and NAME_opNN.output.npy (ONNX Runtime's) for the
      small models below (each < 1 MB)
  python3 tools/make_opset_fixtures.py --torchvision DIR
      the same for a dozen torchvision models (random weights) into DIR, for
      a check by hand: they are too large to commit

ONNX Runtime (npm onnxruntime-node) computes the outputs through
tools/ort_reference.js; set ORT_NODE_PATH to its node_modules directory
(default ~/.cache/bnnc-bench/node_modules).
"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "exporters", "opsets")
REDUCE_AXES_TO_INPUT = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"}
IR_VERSION = {18: 8, 19: 9, 20: 9, 21: 10}


def bump_graph(graph, target, counter):
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                bump_graph(attr.g, target, counter)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    bump_graph(g, target, counter)
        if target >= 18 and node.domain in ("", "ai.onnx") and node.op_type in REDUCE_AXES_TO_INPUT:
            axes = [a for a in node.attribute if a.name == "axes"]
            if axes:
                name = "bump_axes_%d" % counter[0]
                counter[0] += 1
                # a Constant node, not an initializer: valid inside subgraphs too
                const = helper.make_node("Constant", [], [name], name=name,
                                         value=numpy_helper.from_array(np.array(axes[0].ints, np.int64), name))
                node.attribute.remove(axes[0])
                while len(node.input) < 1:
                    node.input.append("")
                node.input.append(name)
                graph.node.insert(list(graph.node).index(node), const)


def bump(model, target):
    """A copy of model (default-domain opset 13 to 17) at opset target.  An
    older model needs the changes of 13 first (Squeeze, Unsqueeze and Split
    take axes and splits as inputs), which this does not make."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for op in m.opset_import:
        if op.domain in ("", "ai.onnx"):
            op.version = target
    m.ir_version = IR_VERSION[target]
    bump_graph(m.graph, target, [0])
    return m


def export(model, x, path, **kw):
    import torch

    torch.onnx.export(model.eval(), x, path, opset_version=17, input_names=["x"], output_names=["y"], **kw)
    return onnx.load(path)


def small_models():
    """(name, module, input): small enough to commit at four opsets."""
    import torch

    torch.manual_seed(21)

    class Pooled(torch.nn.Module):
        """Conv, BatchNorm, a mean over H and W (ReduceMean), LayerNorm, a max
        over channels (ReduceMax), GELU, Linear."""

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(8)
            self.ln = torch.nn.LayerNorm(8)
            self.fc = torch.nn.Linear(8 + 6 * 6, 4)

        def forward(self, x):
            h = torch.relu(self.bn(self.conv(x)))
            pooled = self.ln(h.mean((2, 3)))
            peak = h.amax(1).flatten(1)
            return self.fc(torch.nn.functional.gelu(torch.cat([pooled, peak], 1)))

    class Attention(torch.nn.Module):
        """A TransformerEncoder layer and a mean over time."""

        def __init__(self):
            super().__init__()
            layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
            self.enc = torch.nn.TransformerEncoder(layer, 1)
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, x):
            return self.fc(self.enc(x).mean(1))

    return [("torch_pooled", Pooled(), torch.randn(2, 3, 6, 6), {"x": {0: "N"}, "y": {0: "N"}}),
            ("torch_attention", Attention(), torch.randn(2, 5, 8), {"x": {0: "N"}, "y": {0: "N"}})]


TORCHVISION = ["resnet18", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1", "shufflenet_v2_x0_5",
               "efficientnet_b0", "mnasnet0_5", "densenet121", "googlenet", "regnet_y_400mf", "convnext_tiny",
               "swin_t"]


def torchvision_models():
    import torch
    import torchvision

    torch.manual_seed(22)
    out = []
    for name in TORCHVISION:
        kw = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
        model = getattr(torchvision.models, name)(weights=None, **kw)
        size = 224 if name == "swin_t" else 64
        out.append((name, model, torch.randn(1, 3, size, size), {"x": {0: "N"}, "y": {0: "N"}}))
    return out


def write(models, out):
    os.makedirs(out, exist_ok=True)
    paths = []
    for name, module, x, axes in models:
        base = os.path.join(out, name + "_op17.onnx")
        model = export(module, x, base, dynamic_axes=axes)
        os.remove(base)
        for target in (18, 19, 20, 21):
            stem = os.path.join(out, "%s_op%d" % (name, target))
            onnx.save(bump(model, target), stem + ".onnx")
            np.save(stem + ".input.npy", x.numpy())
            paths.append(stem + ".onnx")
    node_path = os.environ.get("ORT_NODE_PATH", os.path.expanduser("~/.cache/bnnc-bench/node_modules"))
    subprocess.run(["node", os.path.join(HERE, "ort_reference.js")] + paths, check=True,
                   env=dict(os.environ, NODE_PATH=node_path))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--torchvision":
        write(torchvision_models(), sys.argv[2])
    elif len(sys.argv) == 1:
        write(small_models(), OUT)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
