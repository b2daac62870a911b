#!/usr/bin/python3
"""Writes tests/fixtures/audio/: a small audio classifier whose front end is
ONNX's own spectral ops (opset 17), as models with a built-in feature
extractor export it:

  x [N, 400] -> Unsqueeze -> STFT (HannWindow(64), hop 16, onesided)
    -> power (Mul, ReduceSum over re/im) -> MatMul(MelWeightMatrix (8 mel
    bins, 8 kHz) transposed, power transposed): the filter bank as the first
    operand, a fixed transform and not a dense layer -> Log -> Flatten
                                                                [N, 176]
  x -> DFT (dft_length 64: the first 64 samples, onesided) -> power -> Log
                                                                [N, 33]
  Concat -> Gemm -> Softmax                                     [N, 4]

audio.onnx with audio.input.npy (3 rows) and ONNX Runtime's output for them
(audio.output.npy), and 96 training rows (audio.train_x.npy, train_y.npy):
tones in one of four frequency bands, with noise, labelled by band.

Run with Debian's python3 (onnx, numpy):  /usr/bin/python3 tools/make_audio_fixture.py
ONNX Runtime (npm onnxruntime-node) computes the output through
tools/ort_reference.js; ORT_NODE_PATH names its node_modules directory
(default ~/.cache/bnnc-bench/node_modules).
"""
import os
import subprocess
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "audio")
F = TensorProto.FLOAT
RATE, SAMPLES, CLASSES = 8000, 400, 4
rng = np.random.default_rng(20261203)


def tones(n):
    """n rows of a tone in band y (250-750, ..., 1750-2250 Hz) with noise."""
    y = rng.integers(0, CLASSES, n)
    t = np.arange(SAMPLES) / RATE
    f = 250 + 500 * y + rng.uniform(0, 500, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    x = np.sin(2 * np.pi * f[:, None] * t[None, :] + phase[:, None])
    x += 0.3 * rng.standard_normal((n, SAMPLES))
    return x.astype(np.float32), y.astype(np.int64)


def scalar(name, value, dtype):
    return numpy_helper.from_array(np.array(value, dtype=dtype), name)


def model():
    nodes = [
        helper.make_node("Unsqueeze", ["x", "last"], ["sig"], name="as_signal"),
        helper.make_node("HannWindow", ["win_len"], ["win"], name="window"),
        helper.make_node("STFT", ["sig", "hop", "win"], ["spec"], name="stft", onesided=1),
        helper.make_node("Mul", ["spec", "spec"], ["spec2"], name="spec_sq"),
        helper.make_node("ReduceSum", ["spec2", "last"], ["power"], name="power", keepdims=0),
        helper.make_node("MelWeightMatrix", ["mel_bins", "dft_len", "rate", "lo", "hi"], ["mel"],
                         name="mel_matrix"),
        helper.make_node("Transpose", ["mel"], ["mel_t"], name="mel_rows", perm=[1, 0]),
        helper.make_node("Transpose", ["power"], ["power_t"], name="bins_rows", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["mel_t", "power_t"], ["melp"], name="mel"),
        helper.make_node("Add", ["melp", "eps"], ["melp_e"], name="mel_eps"),
        helper.make_node("Log", ["melp_e"], ["logmel"], name="log_mel"),
        helper.make_node("Flatten", ["logmel"], ["feat_a"], name="flat_a", axis=1),
        helper.make_node("DFT", ["sig", "dft_len"], ["dft"], name="dft", axis=1, onesided=1),
        helper.make_node("Mul", ["dft", "dft"], ["dft2"], name="dft_sq"),
        helper.make_node("ReduceSum", ["dft2", "last"], ["dpow"], name="dft_power", keepdims=0),
        helper.make_node("Add", ["dpow", "eps"], ["dpow_e"], name="dft_eps"),
        helper.make_node("Log", ["dpow_e"], ["feat_b"], name="log_dft"),
        helper.make_node("Concat", ["feat_a", "feat_b"], ["feat"], name="features", axis=1),
        helper.make_node("Gemm", ["feat", "fc_w", "fc_b"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=1),
    ]
    frames = 1 + (SAMPLES - 64) // 16
    inits = [
        numpy_helper.from_array(np.array([-1], np.int64), "last"),
        scalar("win_len", 64, np.int64), scalar("hop", 16, np.int64),
        scalar("mel_bins", 8, np.int64), scalar("dft_len", 64, np.int64),
        scalar("rate", RATE, np.int64), scalar("lo", 20.0, np.float32),
        scalar("hi", 4000.0, np.float32), scalar("eps", 1e-3, np.float32),
        numpy_helper.from_array((rng.standard_normal((CLASSES, frames * 8 + 33)) * 0.05)
                                .astype(np.float32), "fc_w"),
        numpy_helper.from_array(np.zeros(CLASSES, np.float32), "fc_b"),
    ]
    g = helper.make_graph(nodes, "audio", [helper.make_tensor_value_info("x", F, ["N", SAMPLES])],
                          [helper.make_tensor_value_info("y", F, ["N", CLASSES])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)],
                          producer_name="make_audio_fixture.py")
    m.ir_version = 8
    return m


def main():
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "audio.onnx")
    with open(path, "wb") as f:
        f.write(model().SerializeToString())
    x, _ = tones(3)
    np.save(os.path.join(OUT, "audio.input.npy"), x)
    tx, ty = tones(96)
    np.save(os.path.join(OUT, "audio.train_x.npy"), tx)
    np.save(os.path.join(OUT, "audio.train_y.npy"), ty)
    node_path = os.environ.get("ORT_NODE_PATH", os.path.expanduser("~/.cache/bnnc-bench/node_modules"))
    subprocess.run(["node", os.path.join(HERE, "ort_reference.js"), path], check=True,
                   env=dict(os.environ, NODE_PATH=node_path))


if __name__ == "__main__":
    sys.exit(main())
