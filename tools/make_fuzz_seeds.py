#!/usr/bin/python3
"""Makes the seed corpora of the fuzz targets (tests/fuzz/corpus/TARGET/).

Seeds are small valid and nearly valid inputs for each reader: libFuzzer
mutates them, and the normal suite replays them (tests/fuzz/meson.build).
ONNX seeds are copied from the test models and generated here; the rest are
written from scratch.  Run: /usr/bin/python3 tools/make_fuzz_seeds.py
"""
import gzip
import os
import shutil
import struct
import sys
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def target_dir(name):
    d = os.path.join(OUT, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    return d


def save_model(path, nodes, inputs, outputs, inits=(), opset=17, bnnc=False):
    g = helper.make_graph(nodes, "seed", inputs, outputs, list(inits))
    ops = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("ai.bnnc", 1)] if bnnc else [])
    m = helper.make_model(g, opset_imports=ops)
    m.ir_version = 8
    with open(path, "wb") as f:
        f.write(m.SerializeToString())


def onnx_seeds(d, small_only):
    f32 = TensorProto.FLOAT
    rng = np.random.default_rng(0)
    vi = helper.make_tensor_value_info
    # A tiny MLP, a conv net and a few shape ops: enough op variety to mutate.
    w1 = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.standard_normal((3,)).astype(np.float32), "b1")
    save_model(os.path.join(d, "gemm_relu.onnx"),
               [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1"),
                helper.make_node("Relu", ["h"], ["y"], name="act")],
               [vi("x", f32, ["N", 4])], [vi("y", f32, ["N", 3])], [w1, b1])
    wc = numpy_helper.from_array(rng.standard_normal((2, 1, 3, 3)).astype(np.float32), "wc")
    save_model(os.path.join(d, "conv_pool.onnx"),
               [helper.make_node("Conv", ["x", "wc"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
                helper.make_node("Flatten", ["p"], ["f"]),
                helper.make_node("Softmax", ["f"], ["y"], axis=1)],
               [vi("x", f32, ["N", 1, 6, 6])], [vi("y", f32, ["N", 18])], [wc])
    shape = numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "shape")
    save_model(os.path.join(d, "shape_ops.onnx"),
               [helper.make_node("Shape", ["x"], ["s"]),
                helper.make_node("Reshape", ["x", "shape"], ["r"]),
                helper.make_node("Transpose", ["r"], ["t"], perm=[1, 0]),
                helper.make_node("ReduceMean", ["t"], ["y"], axes=[0], keepdims=0)],
               [vi("x", f32, [2, 3, 4])], [vi("y", f32, [2])], [shape])
    # A Bayesian layer with its prior's means as inputs 5 and 6
    # (convert --prior-mu weights), one without a bias but with a weight prior.
    arrays = {"wm": rng.standard_normal((4, 3)), "wr": np.full((4, 3), -4.0),
              "bm": rng.standard_normal(4), "br": np.full(4, -4.0),
              "w0": rng.standard_normal((4, 3)), "b0": rng.standard_normal(4),
              "wm2": rng.standard_normal((3, 4)), "wr2": np.full((3, 4), -3.0),
              "w02": rng.standard_normal((3, 4))}
    save_model(os.path.join(d, "bayes_prior.onnx"),
               [helper.make_node("DenseReparam", ["x", "wm", "wr", "bm", "br", "w0", "b0"], ["h"],
                                 domain="ai.bnnc", name="fc1", prior_sigma=0.3),
                helper.make_node("DenseReparam", ["h", "wm2", "wr2", "", "", "w02"], ["y"],
                                 domain="ai.bnnc", name="fc2")],
               [vi("x", f32, ["N", 3])], [vi("y", f32, ["N", 3])],
               [numpy_helper.from_array(a.astype(np.float32), n) for n, a in arrays.items()],
               bnnc=True)
    # The empty graph (no inputs, outputs or nodes): once a UBSan report.
    save_model(os.path.join(d, "empty_graph.onnx"), [], [], [])
    save_model(os.path.join(d, "chain.onnx"),
               [helper.make_node("Relu", [f"v{i}"], [f"v{i + 1}"]) for i in range(64)],
               [vi("v0", f32, [1, 4])], [vi("v64", f32, [1, 4])])
    # Copies of the frontend's test models (valid and malformed).
    # The exporter fixtures bring control flow (If/Loop/Scan), LSTM/GRU,
    # opset 18-21 model-local functions and shape arithmetic.
    for sub in ("tests/frontend/models", "tests/frontend/malformed", "tests/fixtures/exporters"):
        src = os.path.join(ROOT, sub)
        for name in sorted(os.listdir(src)):
            p = os.path.join(src, name)
            if name.endswith(".onnx") and os.path.getsize(p) <= (16 << 10 if small_only else 64 << 10):
                shutil.copy(p, os.path.join(d, os.path.basename(sub) + "_" + name))


def ir_text_seeds(d):
    src = os.path.join(ROOT, "tests", "ir_text")
    for name in sorted(os.listdir(src)):
        if name.endswith(".ir"):
            shutil.copy(os.path.join(src, name), os.path.join(d, name))


def pipeline_seeds(d):
    seeds = ["", "canonicalize", "dce", "canonicalize,dce,fold-batchnorm,bnn-to-mean",
             "to-bnn{layers=all delta=0.3}", "to-bnn{layers=dense,conv only=fc1 exclude=fc2}",
             "to-bnn{init=random rho_init=-4 seed=7 estimator=flipout}",
             "canonicalize{keep_dropout=true},to-bnn{prior_mu=0 prior_sigma=0.2},dce",
             "lower-bnn-to-onnx,dce", "to-bnn{", "to-bnn{layers=}", "dce,,dce",
             "to-bnn{prior_mu=weights},bnn-to-mean,dce",
             "to-bnn{prior_mu=weights layers=all},lower-bnn-to-onnx,dce"]
    for i, s in enumerate(seeds):
        with open(os.path.join(d, f"p{i:02d}.txt"), "w") as f:
            f.write(s)


def npy_seeds(d):
    arrays = {
        "f32.npy": np.arange(12, dtype=np.float32).reshape(3, 4),
        "f64.npy": np.linspace(0, 1, 5),
        "i64.npy": np.array([1, -2, 3], dtype=np.int64),
        "u8.npy": np.arange(16, dtype=np.uint8).reshape(2, 2, 4),
        "bool.npy": np.array([True, False]),
        "scalar.npy": np.array(3.5, dtype=np.float32),
        "empty.npy": np.zeros((0, 3), dtype=np.float32),
        "i16.npy": np.array([[1, 2], [3, 4]], dtype=np.int16),
    }
    for name, a in arrays.items():
        np.save(os.path.join(d, name), a)
    # Version 2.0 header, Fortran order, big-endian: read or refused.
    with open(os.path.join(d, "v2.npy"), "wb") as f:
        np.lib.format.write_array(f, np.ones((2, 2), np.float32), version=(2, 0))
    np.save(os.path.join(d, "fortran.npy"), np.asfortranarray(np.ones((2, 3), np.float32)))
    np.save(os.path.join(d, "bigendian.npy"), np.ones(3, dtype=">f4"))


def idx_bytes(code, dims, data):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", x) for x in dims) + data


def idx_seeds(d):
    imgs = idx_bytes(0x08, [3, 4, 4], bytes(range(48)))
    labels = idx_bytes(0x08, [3], bytes([1, 7, 9]))
    f32 = idx_bytes(0x0D, [2, 2], struct.pack(">4f", 1.0, -2.0, 0.5, 3.0))
    i16 = idx_bytes(0x0B, [3], struct.pack(">3h", 1, -1, 300))
    for name, b in [("images.idx", imgs), ("labels.idx", labels), ("f32.idx", f32),
                    ("i16.idx", i16)]:
        with open(os.path.join(d, name), "wb") as f:
            f.write(b)
        with open(os.path.join(d, name + ".gz"), "wb") as f:
            f.write(gzip.compress(b, mtime=0))


def checkpoint_seeds(d):
    # The format of tools/train_state.c: version 4 (epoch_steps after the
    # header of version 3), and version 3, which is still read.
    def state(n, arrays, kind, epochs=1, epoch_steps=None):
        h = b"BNNCKPT3" if epoch_steps is None else b"BNNCKPT4"
        h += struct.pack("<QQQQIIII", epochs, 10 * epochs, 10 * epochs, n,
                         1234, 0xDEADBEEF, kind, arrays)
        if epoch_steps is not None:
            h += struct.pack("<Q", epoch_steps)
        body = h + np.arange(n * arrays, dtype="<f4").tobytes()
        return body + struct.pack("<I", zlib.crc32(body))
    for name, b in [("adam.bin", state(6, 2, 1)), ("sgd.bin", state(5, 1, 0)),
                    ("empty.bin", state(0, 1, 0)), ("v2.bin", b"BNNCKPT2" + bytes(48)),
                    ("adam4.bin", state(6, 2, 1, 2, 3)), ("sgd4.bin", state(5, 1, 0, 1, 0))]:
        with open(os.path.join(d, name), "wb") as f:
            f.write(b)


def main():
    onnx_seeds(target_dir("onnx"), small_only=False)
    onnx_seeds(target_dir("run"), small_only=True)
    ir_text_seeds(target_dir("ir_text"))
    pipeline_seeds(target_dir("pipeline"))
    npy_seeds(target_dir("npy"))
    idx_seeds(target_dir("idx"))
    checkpoint_seeds(target_dir("checkpoint"))
    for name in ("onnx", "run", "ir_text", "pipeline", "npy", "idx", "checkpoint"):
        os.makedirs(os.path.join(ROOT, "tests", "fuzz", "regressions", name), exist_ok=True)
        keep = os.path.join(ROOT, "tests", "fuzz", "regressions", name, ".keep")
        if not os.path.exists(keep):
            open(keep, "w").close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
