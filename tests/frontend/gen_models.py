#!/usr/bin/python3
"""Writes the frontend's test models: small valid models per op lowering under
models/, and the malformed corpus under malformed/ (each file's expected error
is asserted by test_malformed.c).  Deterministic; rerun after changing it:

    /usr/bin/python3 tests/frontend/gen_models.py

Needs Debian's python3-onnx and python3-torch (for the torch-exported model).
"""
import os
import random
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "models")
BAD = os.path.join(HERE, "malformed")
F = TensorProto.FLOAT
I64 = TensorProto.INT64


def vi(name, dims, t=F):
    return helper.make_tensor_value_info(name, t, dims)


def arr(shape, seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 0.5).astype(dtype)


def init(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


def tensor(name, t, dims):
    """A TensorProto with dims but no data (helper.make_tensor insists they agree)."""
    p = TensorProto()
    p.name = name
    p.data_type = t
    p.dims.extend(dims)
    return p


def model(nodes, inputs, outputs, inits=(), opset=13, extra_opsets=(), name="g"):
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    ops = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    m = helper.make_model(g, opset_imports=ops, producer_name="gen_models.py")
    m.ir_version = 8
    return m


def save(m, d, fname):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(m.SerializeToString())


def raw(d, fname, data):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


def valid_models():
    N = "N"
    # Gemm with a constant weight: dense reusing W (transB=1, alpha=1).
    save(model([helper.make_node("Gemm", ["x", "W", "b"], ["y"], name="fc", transB=1)],
               [vi("x", [N, 4])], [vi("y", [N, 3])],
               [init("W", arr([3, 4], 1)), init("b", arr([3], 2))]), MODELS, "gemm_dense.onnx")
    # Gemm transB=0, alpha/beta, C of shape [1,3]: W = alpha*B^T, bias = beta*C.
    save(model([helper.make_node("Gemm", ["x", "B", "C"], ["y"], name="fc", alpha=2.0, beta=0.5)],
               [vi("x", [2, 4])], [vi("y", [2, 3])],
               [init("B", np.arange(12, dtype=np.float32).reshape(4, 3)),
                init("C", np.array([[1, 2, 3]], dtype=np.float32))], opset=11), MODELS, "gemm_alpha.onnx")
    # Gemm with a weight fed at run time: gemm.
    save(model([helper.make_node("Gemm", ["x", "w"], ["y"], name="g", transB=1, alpha=0.5)],
               [vi("x", [2, 4]), vi("w", [3, 4])], [vi("y", [2, 3])]), MODELS, "gemm_dynamic.onnx")
    # Two Gemms sharing B (transB=0) and a scalar C: each gets its own W = B^T.
    save(model([helper.make_node("Gemm", ["x", "B", "C"], ["h"], name="fc1"),
                helper.make_node("Gemm", ["h", "B", "C"], ["y"], name="fc2", beta=2.0)],
               [vi("x", [2, 3])], [vi("y", [2, 3])],
               [init("B", np.arange(9, dtype=np.float32).reshape(3, 3)),
                init("C", np.array(0.5, dtype=np.float32))]), MODELS, "gemm_shared.onnx")
    # Unnamed nodes get generated names.
    save(model([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Tanh", ["a"], ["y"])],
               [vi("x", [2])], [vi("y", [2])]), MODELS, "unnamed.onnx")
    # MatMul + Add of a constant bias: one dense.
    save(model([helper.make_node("MatMul", ["x", "B"], ["t"], name="mm"),
                helper.make_node("Add", ["t", "bias"], ["y"], name="add")],
               [vi("x", [N, 4])], [vi("y", [N, 3])],
               [init("B", np.arange(12, dtype=np.float32).reshape(4, 3)),
                init("bias", np.array([1, 2, 3], dtype=np.float32))]), MODELS, "matmul_add.onnx")
    # MatMul whose result is also read elsewhere: dense without bias, then add.
    save(model([helper.make_node("MatMul", ["x", "B"], ["t"], name="mm"),
                helper.make_node("Add", ["t", "bias"], ["y"], name="add"),
                helper.make_node("Relu", ["t"], ["z"], name="r")],
               [vi("x", [N, 4])], [vi("y", [N, 3]), vi("z", [N, 3])],
               [init("B", arr([4, 3], 3)), init("bias", arr([3], 4))]), MODELS, "matmul_shared.onnx")
    # MatMul of two run-time operands: matmul.
    save(model([helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")],
               [vi("a", [2, 3, 4]), vi("b", [2, 4, 5])], [vi("y", [2, 3, 5])]), MODELS, "matmul_batched.onnx")
    # Conv: SAME_UPPER / SAME_LOWER resolved into pads, strides 2; 1-D conv; 3-D conv (lowered to 2-D).
    for mode in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        save(model([helper.make_node("Conv", ["x", "W"], ["y"], name="conv", auto_pad=mode,
                                     strides=[2, 2], kernel_shape=[4, 4])],
                   [vi("x", [1, 2, 7, 7])], [vi("y", None)], [init("W", arr([3, 2, 4, 4], 5))]),
             MODELS, "conv_%s.onnx" % mode.lower())
    save(model([helper.make_node("Conv", ["x", "W", "B"], ["y"], name="conv1", pads=[1, 2],
                                 dilations=[2], group=2)],
               [vi("x", [N, 4, 9])], [vi("y", None)], [init("W", arr([6, 2, 3], 6)), init("B", arr([6], 7))]),
         MODELS, "conv1d.onnx")
    save(model([helper.make_node("Conv", ["x", "W"], ["y"], name="conv3")],
               [vi("x", [1, 1, 4, 4, 4])], [vi("y", None)], [init("W", arr([1, 1, 2, 2, 2], 8))]),
         MODELS, "conv3d.onnx")
    save(model([helper.make_node("Conv", ["x", "W"], ["y"], name="conv", kernel_shape=[2, 2])],
               [vi("x", [1, 2, 5, 5])], [vi("y", None)], [init("W", arr([3, 2, 3, 3], 5))]),
         MODELS, "conv_kernel_mismatch.onnx")
    # Pooling.
    save(model([helper.make_node("MaxPool", ["x"], ["y"], name="mp", kernel_shape=[3, 3], strides=[2, 2],
                                 pads=[1, 1, 1, 1], ceil_mode=1, dilations=[1, 1]),
                helper.make_node("AveragePool", ["y"], ["z"], name="ap", kernel_shape=[2, 2],
                                 auto_pad="SAME_UPPER", count_include_pad=1)],
               [vi("x", [1, 1, 8, 8])], [vi("z", None)]), MODELS, "pools.onnx")
    save(model([helper.make_node("MaxPool", ["x"], ["y", "idx"], name="mp", kernel_shape=[2, 2])],
               [vi("x", [1, 1, 4, 4])], [vi("y", None), vi("idx", None, I64)]), MODELS, "maxpool_indices.onnx")
    # Softmax before and after opset 13.
    for opset in (11, 13):
        save(model([helper.make_node("Softmax", ["x"], ["y"], name="sm"),
                    helper.make_node("LogSoftmax", ["x"], ["z"], name="lsm", axis=2)],
                   [vi("x", [2, 3, 4])], [vi("y", None), vi("z", None)], opset=opset),
             MODELS, "softmax_opset%d.onnx" % opset)
    # Clip: attributes before 11, constant inputs after.
    save(model([helper.make_node("Clip", ["x"], ["y"], name="c", min=-1.0, max=2.0)],
               [vi("x", [3])], [vi("y", None)], opset=10), MODELS, "clip_opset10.onnx")
    save(model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="c")],
               [vi("x", [3]), vi("hi", [], F)], [vi("y", None)],
               [init("lo", np.array(-1.0, dtype=np.float32))], opset=13), MODELS, "clip_opset13.onnx")
    # Squeeze/Unsqueeze, Pad, Dropout: attributes before, inputs after.
    save(model([helper.make_node("Unsqueeze", ["x"], ["u"], name="u", axes=[0]),
                helper.make_node("Squeeze", ["u"], ["s"], name="s", axes=[0]),
                helper.make_node("Pad", ["s"], ["p"], name="p", pads=[0, 1, 0, 2], value=1.5),
                helper.make_node("Dropout", ["p"], ["y"], name="d", ratio=0.25)],
               [vi("x", [2, 3])], [vi("y", None)], opset=10), MODELS, "layout_opset10.onnx")
    save(model([helper.make_node("Unsqueeze", ["x", "axes"], ["u"], name="u"),
                helper.make_node("Squeeze", ["u", "axes"], ["s"], name="s"),
                helper.make_node("Pad", ["s", "pads", "cv"], ["p"], name="p", mode="reflect"),
                helper.make_node("Dropout", ["p", "ratio"], ["y", "mask"], name="d")],
               [vi("x", [2, 3])], [vi("y", None)],
               [init("axes", np.array([0], dtype=np.int64)), init("pads", np.array([0, 1, 0, 2], dtype=np.int64)),
                init("cv", np.array(0.0, dtype=np.float32)), init("ratio", np.array(0.25, dtype=np.float32))],
               opset=13), MODELS, "layout_opset13.onnx")
    # Dropout's mask read, training_mode true: ratio 0 imports, 0.5 is refused.
    for ratio, fname in ((0.0, "dropout_mask_training.onnx"), (0.5, "dropout_training_ratio.onnx")):
        save(model([helper.make_node("Dropout", ["x", "ratio", "t"], ["y", "mask"], name="d")],
                   [vi("x", [2, 3])], [vi("y", None), vi("mask", None, TensorProto.BOOL)],
                   [init("ratio", np.array(ratio, dtype=np.float32)), init("t", np.array(True))],
                   opset=13), MODELS, fname)
    # BatchNormalization (inference), Flatten, Transpose, Concat, activations.
    c = 3
    save(model([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"], name="bn", epsilon=1e-3),
                helper.make_node("LeakyRelu", ["bn"], ["a1"], name="lr"),
                helper.make_node("Elu", ["a1"], ["a2"], name="elu", alpha=0.5),
                helper.make_node("Selu", ["a2"], ["a3"], name="selu"),
                helper.make_node("PRelu", ["a3", "slope"], ["a4"], name="prelu"),
                helper.make_node("Transpose", ["a4"], ["t"], name="tr", perm=[0, 2, 3, 1]),
                helper.make_node("Concat", ["t", "t"], ["cc"], name="cat", axis=-1),
                helper.make_node("Flatten", ["cc"], ["y"], name="fl", axis=2)],
               [vi("x", [N, c, 2, 2])], [vi("y", None)],
               [init("s", arr([c], 9)), init("b", arr([c], 10)), init("m", arr([c], 11)),
                init("v", np.abs(arr([c], 12)) + 1), init("slope", arr([c, 1, 1], 13))]), MODELS, "misc.onnx")
    # Before opset 7: legacy broadcasting (B placed at `axis`, or suffix-aligned),
    # a per-channel PRelu slope, BatchNormalization and Dropout with is_test.
    save(model([helper.make_node("Add", ["x", "c3"], ["a"], name="add", broadcast=1, axis=1),
                helper.make_node("Mul", ["a", "s"], ["m"], name="mul", broadcast=1, axis=1),
                helper.make_node("PRelu", ["m", "slope"], ["p"], name="prelu"),
                helper.make_node("BatchNormalization", ["p", "bs", "bb", "bm", "bv"], ["bn"], name="bn",
                                 is_test=1, spatial=1, epsilon=1e-3),
                helper.make_node("Dropout", ["bn"], ["d"], name="drop", is_test=1, ratio=0.25),
                helper.make_node("Sub", ["d", "c4"], ["y"], name="sub", broadcast=1)],
               [vi("x", [2, 3, 4]), vi("s", [3])], [vi("y", None)],
               [init("c3", np.array([1, 2, 3], dtype=np.float32)), init("slope", arr([3], 30)),
                init("bs", arr([3], 31)), init("bb", arr([3], 32)), init("bm", arr([3], 33)),
                init("bv", np.abs(arr([3], 34)) + 1), init("c4", arr([4], 35))], opset=6),
         MODELS, "legacy_opset6.onnx")
    save(model([helper.make_node("BatchNormalization", ["x", "bs", "bb", "bm", "bv"], ["y"], name="bn", is_test=0)],
               [vi("x", [2, 3])], [vi("y", None)],
               [init("bs", arr([3], 31)), init("bb", arr([3], 32)), init("bm", arr([3], 33)),
                init("bv", np.abs(arr([3], 34)) + 1)], opset=6), MODELS, "batchnorm_training_opset6.onnx")
    # Opset 1: Concat's axis defaults to 1, Reshape's shape and Pad's
    # `paddings` are attributes.
    save(model([helper.make_node("Concat", ["x", "x"], ["c"], name="cat"),
                helper.make_node("Reshape", ["c"], ["r"], name="view", shape=[0, -1]),
                helper.make_node("Pad", ["r"], ["y"], name="pad", paddings=[0, 1, 0, 2], value=0.5)],
               [vi("x", [2, 3, 2])], [vi("y", None)], opset=1), MODELS, "legacy_opset1.onnx")
    # The opset-13 form of a pre-13 softmax (what export writes): fused back
    # into one softmax; the same chain whose softmax result is read elsewhere
    # stays as it is.
    def softmax_chain(p):
        return [helper.make_node("Flatten", ["x"], [p + "f"], name=p + "flat", axis=1),
                helper.make_node("Softmax", [p + "f"], [p + "s"], name=p + "sm", axis=-1),
                helper.make_node("Shape", ["x"], [p + "shape"], name=p + "shp"),
                helper.make_node("Reshape", [p + "s", p + "shape"], [p + "y"], name=p + "rs")]
    save(model(softmax_chain("a") + softmax_chain("b"),
               [vi("x", [2, 3, 4])], [vi("ay", None), vi("by", None), vi("bs", None)]),
         MODELS, "softmax_chain.onnx")
    # An absent ("") trailing input does not count as one.
    save(model([helper.make_node("Relu", ["x", ""], ["y"], name="relu")], [vi("x", [2])], [vi("y", None)]),
         MODELS, "trailing_empty_input.onnx")
    # Constants of every form.
    save(model([helper.make_node("Constant", [], ["c1"], name="k1", value_float=2.5),
                helper.make_node("Constant", [], ["c2"], name="k2", value_floats=[1.0, 2.0, 3.0]),
                helper.make_node("Constant", [], ["c3"], name="k3", value=init("t", arr([3], 14))),
                helper.make_node("Mul", ["x", "c1"], ["m1"], name="mul"),
                helper.make_node("Add", ["m1", "c2"], ["m2"], name="add"),
                helper.make_node("Sub", ["m2", "c3"], ["y"], name="sub")],
               [vi("x", [N, 3])], [vi("y", None)]), MODELS, "constants.onnx")
    # Reshape whose shape is a graph input: bound by the caller, or dynamic.
    save(model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="r")],
               [vi("x", [2, 3, 4]), vi("shape", [2], I64)], [vi("y", None)], opset=14), MODELS, "reshape_input.onnx")
    # Shape arithmetic without torch: y = reshape(x, [Shape(x)[0], -1]).
    save(model([helper.make_node("Shape", ["x"], ["s"], name="shape"),
                helper.make_node("Constant", [], ["zero"], name="zero", value=init("z", np.array(0, dtype=np.int64))),
                helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
                helper.make_node("Unsqueeze", ["n", "ax"], ["n1"], name="unsq"),
                helper.make_node("Concat", ["n1", "minus1"], ["shp"], name="cat", axis=0),
                helper.make_node("Reshape", ["x", "shp"], ["y"], name="view")],
               [vi("x", [N, 2, 3])], [vi("y", None)],
               [init("ax", np.array([0], dtype=np.int64)), init("minus1", np.array([-1], dtype=np.int64))]),
         MODELS, "view_manual.onnx")
    # External data next to the model.
    w = arr([3, 4], 15)
    raw(MODELS, "external.bin", b"\0" * 16 + w.tobytes())
    t = tensor("W", F, [3, 4])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "external.bin"), ("offset", "16"), ("length", str(w.nbytes))):
        e = t.external_data.add()
        e.key, e.value = k, v
    save(model([helper.make_node("Gemm", ["x", "W"], ["y"], name="fc", transB=1)],
               [vi("x", [N, 4])], [vi("y", None)], [t]), MODELS, "external.onnx")
    # Bayesian layers read back from domain ai.bnnc.
    save(model([helper.make_node("ConvReparam", ["x", "cw_mu", "cw_rho", "cb_mu", "cb_rho"], ["c"], name="conv1",
                                 domain="ai.bnnc", strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1], group=1,
                                 prior_mu=0.0, prior_sigma=0.1, estimator="reparam"),
                helper.make_node("Flatten", ["c"], ["f"], name="flat"),
                helper.make_node("DenseReparam", ["f", "w_mu", "w_rho", "b_mu", "b_rho"], ["y"], name="fc1",
                                 domain="ai.bnnc", prior_mu=0.0, prior_sigma=0.5, estimator="reparam")],
               [vi("x", [N, 1, 3, 3])], [vi("y", None)],
               [init("cw_mu", arr([2, 1, 3, 3], 16)), init("cw_rho", arr([2, 1, 3, 3], 17) - 3),
                init("cb_mu", arr([2], 18)), init("cb_rho", arr([2], 19) - 3),
                init("w_mu", arr([4, 18], 20)), init("w_rho", arr([4, 18], 21) - 3),
                init("b_mu", arr([4], 22)), init("b_rho", arr([4], 23) - 3)],
               extra_opsets=[("ai.bnnc", 1)]), MODELS, "bayes.onnx")


def torch_view_model():
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 2, 3)
            self.fc = torch.nn.Linear(2 * 4 * 4, 5)

        def forward(self, x):
            x = torch.relu(self.conv(x))
            x = x.view(x.size(0), -1)
            return self.fc(x)

    torch.manual_seed(0)
    path = os.path.join(MODELS, "torch_view.onnx")
    torch.onnx.export(Net().eval(), torch.zeros(1, 1, 6, 6), path, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      opset_version=13, do_constant_folding=False)


def malformed():
    good = model([helper.make_node("Relu", ["x"], ["y"], name="relu")], [vi("x", [1, 3])], [vi("y", None)],
                 [init("unused", arr([64], 24))])
    data = good.SerializeToString()
    raw(BAD, "truncated.onnx", data[: len(data) // 2])
    raw(BAD, "empty.onnx", b"")
    rnd = random.Random(1234)
    # Wire type 7 does not exist: no protobuf parser accepts this.
    raw(BAD, "random.onnx", b"\x0f" + bytes(rnd.randrange(256) for _ in range(256)))

    def bad(fname, m):
        save(m, BAD, fname)

    relu = lambda: [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    # Dims that claim far more than the data holds.
    t = tensor("w", F, [1 << 40, 1 << 40])
    t.raw_data = b"\0" * 4
    bad("huge_dims_overflow.onnx", model(relu(), [vi("x", [1])], [vi("y", None)], [t]))
    t = tensor("w", F, [1 << 30, 1 << 10])
    t.raw_data = b"\0" * 4
    bad("huge_dims.onnx", model(relu(), [vi("x", [1])], [vi("y", None)], [t]))
    t = tensor("w", F, [3])
    t.raw_data = b"\0" * 8
    bad("raw_data_short.onnx", model(relu(), [vi("x", [1])], [vi("y", None)], [t]))
    t = tensor("w", F, [4])
    t.float_data.extend([1.0, 2.0])
    bad("float_data_short.onnx", model(relu(), [vi("x", [1])], [vi("y", None)], [t]))
    t = tensor("w", F, [2, -3])
    bad("negative_dim_initializer.onnx", model(relu(), [vi("x", [1])], [vi("y", None)], [t]))
    bad("negative_dim_input.onnx", model(relu(), [vi("x", [1, -3])], [vi("y", None)]))
    bad("rank9.onnx", model(relu(), [vi("x", [1] * 9)], [vi("y", None)]))
    bad("unknown_op.onnx", model([helper.make_node("FooBar", ["x"], ["y"], name="foo")],
                                 [vi("x", [1])], [vi("y", None)]))
    bad("unknown_domain.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.example")],
                                     [vi("x", [1])], [vi("y", None)], extra_opsets=[("com.example", 1)]))
    bad("undefined_input.onnx", model([helper.make_node("Conv", ["x", "W"], ["y"], name="conv")],
                                      [vi("x", [1, 1, 3, 3])], [vi("y", None)]))
    bad("undefined_output.onnx", model(relu(), [vi("x", [1])], [vi("z", None)]))
    bad("duplicate_initializer.onnx", model(relu(), [vi("x", [1])], [vi("y", None)],
                                            [init("w", arr([2], 1)), init("w", arr([2], 2))]))
    bad("duplicate_output.onnx", model([helper.make_node("Relu", ["x"], ["y"], name="a"),
                                        helper.make_node("Tanh", ["x"], ["y"], name="b")],
                                       [vi("x", [1])], [vi("y", None)]))
    bad("cyclic.onnx", model([helper.make_node("Relu", ["b"], ["a"], name="first"),
                              helper.make_node("Add", ["x", "a"], ["b"], name="second")],
                             [vi("x", [1])], [vi("b", None)]))
    bad("wrong_attr_type.onnx", model([helper.make_node("LeakyRelu", ["x"], ["y"], name="lr", alpha=2)],
                                      [vi("x", [1])], [vi("y", None)]))
    bad("opset22.onnx", model(relu(), [vi("x", [1])], [vi("y", None)], opset=22))
    bad("unknown_ops.onnx", model([helper.make_node("FooBar", ["x"], ["a"], name="foo"),
                                   helper.make_node("Relu", ["a"], ["b"], name="r"),
                                   helper.make_node("FooBar", ["b"], ["c"]),
                                   helper.make_node("Baz", ["c"], ["d"], name="baz", domain="com.example"),
                                   helper.make_node("LayerNormalization", ["d"], ["y"], name="ln")],
                                  [vi("x", [1])], [vi("y", None)], extra_opsets=[("com.example", 1)]))
    bad("too_many_inputs.onnx", model([helper.make_node("Relu", ["x", "x"], ["y"], name="relu")],
                                      [vi("x", [1])], [vi("y", None)]))
    bad("shape_mismatch.onnx", model([helper.make_node("Add", ["x", "z"], ["y"], name="add")],
                                     [vi("x", [2, 3]), vi("z", [4])], [vi("y", None)]))
    bad("string_input.onnx", model(relu(), [vi("x", [1], TensorProto.STRING)], [vi("y", None)]))
    bad("missing_input.onnx", model([helper.make_node("Add", ["x"], ["y"], name="add")],
                                    [vi("x", [1])], [vi("y", None)]))
    t = tensor("W", F, [2])
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "../../../etc/passwd"
    bad("external_escape.onnx", model(relu(), [vi("x", [1])], [vi("y", None)], [t]))
    t = tensor("W", F, [1000])
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "short.bin"
    raw(BAD, "short.bin", b"\0" * 8)
    bad("external_short.onnx", model(relu(), [vi("x", [1])], [vi("y", None)], [t]))


def main():
    valid_models()
    malformed()
    if "--no-torch" not in sys.argv:
        torch_view_model()


if __name__ == "__main__":
    main()
