#!/usr/bin/python3
"""Writes small models in the idioms of the exporters bnnc meets in the wild,
with an input and ONNX Runtime's output for each, into
tests/fixtures/exporters/ (NAME.onnx, NAME.input.npy, NAME.output.npy):

  tf2onnx_nhwc     tf2onnx: NHWC input, Transpose around Conv, LeakyRelu,
                   MatMul+Add dense, Max with 0; fixed batch 1 (opset 13)
  paddle_int32     paddle2onnx: weights as Constant nodes, Shape -> Cast(int32)
                   -> Slice -> Cast(int64) -> Concat -> Reshape (opset 11)
  torch_cnn_op11   PyTorch 1.13 export, fixed batch 1, opset 11
  torch_cnn_op17   the same at opset 17
  torch_dynamic_hw PyTorch 1.13, dynamic N, H and W (Reshape from Shape)
  onnx18_ops       python3-onnx helper, opset 18: Reduce* axes inputs, Split
                   num_outputs (uneven), Pad with axes
  onnx21_function  opset 21, IR version 10: a model-local function called
                   twice, one attribute taken from the call, one from the
                   function's default (FunctionProto.attribute_proto)
  torch_view_batch1     PyTorch 1.13 at batch 1 (opset 13): x.view(1, -1)
                   before the classifier, traced to Reshape(x, [1, -1])
  torch_unflatten_batch1  the same: a Linear's output viewed as (1, 4, 3, 3)
                   feature maps (Reshape to [1, 4, 3, 3]), a Conv, then
                   view(1, -1) again; both with 64 training rows
  bad/torch_flatten_all_batch1  x.flatten() over the whole batch-1 tensor
                   (Reshape to [-1]): the batch is gone, so it runs at batch
                   1 only

`make_exporter_fixtures.py torch_pinned` writes only the three torch_*batch1
models (their rows come from their own generator).

Run with Debian's python3 (torch, onnx):  /usr/bin/python3 tools/make_exporter_fixtures.py
ONNX Runtime (npm onnxruntime-node) computes the outputs through
tools/ort_reference.js; set ORT_NODE_PATH to its node_modules directory
(default ~/.cache/bnnc-bench/node_modules, where tools/bench installs it).
"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "exporters")
F = TensorProto.FLOAT
rng = np.random.default_rng(20261202)


def arr(*shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def const_node(name, a):
    return helper.make_node("Constant", [], [name], name=name + "_const",
                            value=numpy_helper.from_array(np.asarray(a), name + "_value"))


def save(name, model, x):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())
    np.save(os.path.join(OUT, name + ".input.npy"), x.astype(np.float32))


def make_model(graph, opset, ir_version=8, extra=()):
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra]
    m = helper.make_model(graph, opset_imports=ops, producer_name="make_exporter_fixtures.py")
    m.ir_version = ir_version
    return m


def tf2onnx_nhwc():
    w = arr(6, 3, 3, 3)
    b = arr(6)
    dw = arr(8 * 8 * 6, 10, scale=0.05)
    db = arr(10)
    nodes = [
        helper.make_node("Transpose", ["input_1"], ["nchw"], name="conv2d/Conv2D__6", perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "conv_w", "conv_b"], ["conv"], name="conv2d/Conv2D",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1]),
        helper.make_node("LeakyRelu", ["conv"], ["act"], name="leaky_re_lu/LeakyRelu", alpha=0.2),
        helper.make_node("Transpose", ["act"], ["nhwc"], name="conv2d/Conv2D__9", perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["nhwc", "flat_shape"], ["flat"], name="flatten/Reshape"),
        helper.make_node("MatMul", ["flat", "dense_w"], ["mm"], name="dense/MatMul"),
        helper.make_node("Add", ["mm", "dense_b"], ["logits"], name="dense/BiasAdd"),
        helper.make_node("Max", ["logits", "zero"], ["relu"], name="re_lu/Relu"),
        helper.make_node("Softmax", ["relu"], ["Identity:0"], name="softmax", axis=1),
    ]
    inits = [numpy_helper.from_array(w, "conv_w"), numpy_helper.from_array(b, "conv_b"),
             numpy_helper.from_array(np.array([-1, 8 * 8 * 6], np.int64), "flat_shape"),
             numpy_helper.from_array(dw, "dense_w"), numpy_helper.from_array(db, "dense_b"),
             numpy_helper.from_array(np.array(0, np.float32), "zero")]
    g = helper.make_graph(nodes, "tf2onnx", [helper.make_tensor_value_info("input_1", F, [1, 8, 8, 3])],
                          [helper.make_tensor_value_info("Identity:0", F, [1, 10])], inits)
    save("tf2onnx_nhwc", make_model(g, 13), arr(1, 8, 8, 3, scale=1.0))


def paddle_int32():
    nodes = [
        const_node("conv_w", arr(8, 3, 3, 3)),
        const_node("conv_b", arr(8)),
        helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["conv"], name="conv2d_0", pads=[1, 1, 1, 1],
                         kernel_shape=[3, 3]),
        helper.make_node("Relu", ["conv"], ["act"], name="relu_0"),
        helper.make_node("Shape", ["act"], ["shape64"], name="shape_0"),
        helper.make_node("Cast", ["shape64"], ["shape32"], name="cast_0", to=TensorProto.INT32),
        const_node("starts", np.array([0], np.int32)),
        const_node("ends", np.array([2], np.int32)),
        const_node("axes", np.array([0], np.int32)),
        helper.make_node("Slice", ["shape32", "starts", "ends", "axes"], ["nc32"], name="slice_0"),
        helper.make_node("Cast", ["nc32"], ["nc"], name="cast_1", to=TensorProto.INT64),
        const_node("minus1", np.array([-1], np.int64)),
        helper.make_node("Concat", ["nc", "minus1"], ["target"], name="concat_0", axis=0),
        helper.make_node("Reshape", ["act", "target"], ["flat"], name="reshape2_0"),
        helper.make_node("ReduceMean", ["flat"], ["pooled"], name="reduce_mean_0", axes=[2], keepdims=0),
        const_node("fc_w", arr(8, 5)),
        const_node("fc_b", arr(5)),
        helper.make_node("MatMul", ["pooled", "fc_w"], ["mm"], name="linear_0"),
        helper.make_node("Add", ["mm", "fc_b"], ["logits"], name="linear_0.add"),
        helper.make_node("Softmax", ["logits"], ["softmax_0.tmp_0"], name="softmax_0", axis=-1),
    ]
    x = helper.make_tensor_value_info("x", F, ["p2o.DynamicDimension.0", 3, 16, 16])
    y = helper.make_tensor_value_info("softmax_0.tmp_0", F, ["p2o.DynamicDimension.0", 5])
    g = helper.make_graph(nodes, "paddle", [x], [y])
    save("paddle_int32", make_model(g, 11), arr(2, 3, 16, 16, scale=1.0))


def torch_models():
    import torch

    torch.manual_seed(7)

    class Cnn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(4)
            self.fc = torch.nn.Linear(4 * 6 * 6, 3)

        def forward(self, x):
            x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
            return self.fc(torch.flatten(x, 1))

    class DynamicHW(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)
            self.fc = torch.nn.Linear(6, 4)

        def forward(self, x):
            x = torch.relu(self.conv(x))
            x = x.reshape(x.shape[0], x.shape[1], -1).mean(-1)
            return self.fc(x)

    cnn = Cnn().eval()
    with torch.no_grad():
        cnn.bn.running_mean.uniform_(-0.2, 0.2)
        cnn.bn.running_var.uniform_(0.5, 1.5)
    x = torch.randn(1, 1, 12, 12)
    for opset in (11, 17):
        path = os.path.join(OUT, "torch_cnn_op%d.onnx" % opset)
        torch.onnx.export(cnn, x, path, opset_version=opset, input_names=["input"], output_names=["logits"])
        np.save(os.path.join(OUT, "torch_cnn_op%d.input.npy" % opset), x.numpy())
    dyn = DynamicHW().eval()
    path = os.path.join(OUT, "torch_dynamic_hw.onnx")
    torch.onnx.export(dyn, torch.randn(1, 3, 8, 8), path, opset_version=13, input_names=["image"],
                      output_names=["scores"], dynamic_axes={"image": {0: "N", 2: "H", 3: "W"}, "scores": {0: "N"}})
    np.save(os.path.join(OUT, "torch_dynamic_hw.input.npy"), torch.randn(2, 3, 10, 14).numpy())


def onnx18_ops():
    nodes = [
        helper.make_node("Split", ["x"], ["a", "b"], name="split", axis=2, num_outputs=2),
        helper.make_node("ReduceMean", ["a", "ax2"], ["ma"], name="mean_a", keepdims=1),
        helper.make_node("ReduceMax", ["b", "ax2"], ["mb"], name="max_b", keepdims=1),
        helper.make_node("Pad", ["x", "pads", "", "pad_axes"], ["xp"], name="pad", mode="constant"),
        helper.make_node("ReduceSum", ["xp", "ax2"], ["sp"], name="sum_p", keepdims=1),
        helper.make_node("Concat", ["ma", "mb", "sp"], ["cat"], name="cat", axis=2),
        helper.make_node("Reshape", ["cat", "flat_shape"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["y"], name="fc", transB=1),
    ]
    inits = [numpy_helper.from_array(np.array([2], np.int64), "ax2"),
             numpy_helper.from_array(np.array([1, 2], np.int64), "pads"),
             numpy_helper.from_array(np.array([-1], np.int64), "pad_axes"),
             numpy_helper.from_array(np.array([0, -1], np.int64), "flat_shape"),
             numpy_helper.from_array(arr(3, 4 * 3), "fc_w"), numpy_helper.from_array(arr(3), "fc_b")]
    g = helper.make_graph(nodes, "onnx18", [helper.make_tensor_value_info("x", F, [1, 4, 5])],
                          [helper.make_tensor_value_info("y", F, [1, 3])], inits)
    save("onnx18_ops", make_model(g, 18), arr(1, 4, 5, scale=1.0))


def onnx21_function():
    # local.DenseAct(x, w, b) = LeakyRelu(MatMul(x, w) + b, alpha=@alpha)
    # with @alpha defaulting to 0.25 and ReduceSum over @axis-less axes input.
    body = [
        helper.make_node("MatMul", ["x", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["pre"]),
        helper.make_node("LeakyRelu", ["pre"], ["y"]),
    ]
    alpha_ref = helper.make_attribute_ref("alpha", TensorProto.FLOAT) if hasattr(helper, "make_attribute_ref") \
        else None
    if alpha_ref is None:
        alpha_ref = onnx.AttributeProto()
        alpha_ref.name = "alpha"
        alpha_ref.ref_attr_name = "alpha"
        alpha_ref.type = onnx.AttributeProto.FLOAT
    body[2].attribute.append(alpha_ref)
    fn = helper.make_function("local", "DenseAct", ["x", "w", "b"], ["y"], body,
                              [helper.make_opsetid("", 21)], [])
    # FunctionProto.attribute_proto (field 11, IR 10) postdates this onnx
    # module: append it as raw bytes; protobuf keeps fields it does not know.
    default = helper.make_attribute("alpha", 0.25)
    payload = default.SerializeToString()
    raw = fn.SerializeToString() + bytes([11 << 3 | 2]) + _varint(len(payload)) + payload
    fn = onnx.FunctionProto()
    fn.ParseFromString(raw)
    nodes = [
        helper.make_node("DenseAct", ["x", "w1", "b1"], ["h"], name="layer1", domain="local"),
        helper.make_node("DenseAct", ["h", "w2", "b2"], ["z"], name="layer2", domain="local", alpha=0.01),
        helper.make_node("ReduceSum", ["z", "last"], ["y"], name="sum", keepdims=0),
    ]
    inits = [numpy_helper.from_array(arr(6, 8), "w1"), numpy_helper.from_array(arr(8), "b1"),
             numpy_helper.from_array(arr(8, 4), "w2"), numpy_helper.from_array(arr(4), "b2"),
             numpy_helper.from_array(np.array([-1], np.int64), "last")]
    g = helper.make_graph(nodes, "onnx21", [helper.make_tensor_value_info("x", F, ["N", 3, 6])],
                          [helper.make_tensor_value_info("y", F, ["N", 3])], inits)
    m = make_model(g, 21, ir_version=10, extra=[("local", 1)])
    m.functions.append(fn)
    save("onnx21_function", m, arr(2, 3, 6, scale=1.0))


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


# Fixed-batch fixtures: the --input-shape that frees their batch, and 64
# training rows with labels for the batch-64 training check.
FIXED_BATCH = {
    "tf2onnx_nhwc": ((8, 8, 3), 10),
    "torch_cnn_op11": ((1, 12, 12), 3),
    "torch_cnn_op17": ((1, 12, 12), 3),
    "onnx18_ops": ((4, 5), 3),
}


def training_rows():
    for name, (dims, classes) in sorted(FIXED_BATCH.items()):
        np.save(os.path.join(OUT, name + ".train_x.npy"), arr(64, *dims, scale=1.0))
        np.save(os.path.join(OUT, name + ".train_y.npy"), rng.integers(0, classes, 64).astype(np.int64))


def pinned_batch():
    """A Reshape to a constant [2, 2]: the model's own arithmetic drops the
    batch, so --input-shape x=N,4 must fail naming that node (a leading 1,
    [1, 2, 2], would be taken for the batch and pass)."""
    nodes = [helper.make_node("Reshape", ["x", "target"], ["r"], name="pin"),
             helper.make_node("Relu", ["r"], ["y"], name="relu")]
    g = helper.make_graph(nodes, "pinned", [helper.make_tensor_value_info("x", F, [1, 4])],
                          [helper.make_tensor_value_info("y", F, [2, 2])],
                          [numpy_helper.from_array(np.array([2, 2], np.int64), "target")])
    os.makedirs(os.path.join(OUT, "bad"), exist_ok=True)
    with open(os.path.join(OUT, "bad", "pinned_batch.onnx"), "wb") as f:
        f.write(make_model(g, 13).SerializeToString())


def torch_pinned():
    """Models exported at batch 1 whose traced Reshapes hold that batch as a
    constant, as PyTorch code written for one example does."""
    import torch

    torch.manual_seed(8)
    r = np.random.default_rng(8)

    class View(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4 * 4 * 4, 3)

        def forward(self, x):
            x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
            return self.fc(x.view(1, -1))

    class Unflatten(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.up = torch.nn.Linear(6, 4 * 3 * 3)
            self.conv = torch.nn.Conv2d(4, 2, 3, padding=1)
            self.fc = torch.nn.Linear(2 * 3 * 3, 3)

        def forward(self, x):
            x = torch.relu(self.conv(self.up(x).view(1, 4, 3, 3)))
            return self.fc(x.view(1, -1))

    class FlattenAll(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4 * 5, 3)

        def forward(self, x):
            return self.fc(x.flatten())

    for name, model, x in (("torch_view_batch1", View(), torch.randn(1, 1, 8, 8)),
                           ("torch_unflatten_batch1", Unflatten(), torch.randn(1, 6)),
                           ("bad/torch_flatten_all_batch1", FlattenAll(), torch.randn(1, 4, 5))):
        torch.onnx.export(model.eval(), x, os.path.join(OUT, name + ".onnx"), opset_version=13,
                          input_names=["x"], output_names=["logits"])
        np.save(os.path.join(OUT, name + ".input.npy"), x.numpy())
        if not name.startswith("bad/"):
            rows = (r.standard_normal((64,) + tuple(x.shape[1:]))).astype(np.float32)
            np.save(os.path.join(OUT, name + ".train_x.npy"), rows)
            np.save(os.path.join(OUT, name + ".train_y.npy"), r.integers(0, 3, 64).astype(np.int64))


def main():
    node_path = os.environ.get("ORT_NODE_PATH", os.path.expanduser("~/.cache/bnnc-bench/node_modules"))
    env = dict(os.environ, NODE_PATH=node_path)
    if sys.argv[1:] == ["torch_pinned"]:
        torch_pinned()
        models = [os.path.join(OUT, n + ".onnx") for n in ("torch_view_batch1", "torch_unflatten_batch1",
                                                          "bad/torch_flatten_all_batch1")]
        subprocess.run(["node", os.path.join(HERE, "ort_reference.js")] + models, check=True, env=env)
        return
    pinned_batch()
    tf2onnx_nhwc()
    paddle_int32()
    onnx18_ops()
    onnx21_function()
    torch_models()
    training_rows()
    torch_pinned()
    node_path = os.environ.get("ORT_NODE_PATH", os.path.expanduser("~/.cache/bnnc-bench/node_modules"))
    models = sorted(os.path.join(OUT, f) for f in os.listdir(OUT) if f.endswith(".onnx"))
    env = dict(os.environ, NODE_PATH=node_path)
    subprocess.run(["node", os.path.join(HERE, "ort_reference.js")] + models, check=True, env=env)


if __name__ == "__main__":
    sys.exit(main())
