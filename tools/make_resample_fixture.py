#!/usr/bin/python3
"""Writes tests/fixtures/exporters/onnx21_resample (NAME.onnx, .input.npy,
.output.npy from ONNX Runtime, .train_x.npy, .train_y.npy): a small CNN at
opset 21 with a dynamic batch in the idioms detection and segmentation
models resample with --

  Conv -> Relu -> Resize nearest/asymmetric/floor x2 (PaddleOCR's FPN)
  -> Conv -> Resize linear/half_pixel to sizes 12x12 over axes [2, 3]
  (PyTorch's interpolate) -> Resize cubic with antialias x0.5
  -> GroupNormalization-21 -> GlobalAveragePool -> Flatten -> Gemm

so that runtime/exporters checks it against ONNX Runtime and
frontend/exporters_cli converts, samples and trains it (gradients through
every resize and the normalization).  Kept apart from
make_exporter_fixtures.py, which needs torch: run with Debian's python3
(python3-onnx) and ONNX Runtime from npm as that script describes.
"""
import os
import subprocess

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from make_exporter_fixtures import HERE, OUT, make_model, save

rng = np.random.default_rng(20261203)
F = TensorProto.FLOAT


def arr(*shape, scale=0.3):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def main():
    nodes = [
        helper.make_node("Conv", ["x", "c1_w", "c1_b"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Resize", ["r1", "", "up2"], ["u1"], name="up_nearest", mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        helper.make_node("Conv", ["u1", "c2_w", "c2_b"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Resize", ["c2", "", "", "hw"], ["u2"], name="to_12", mode="linear",
                         axes=[2, 3]),
        helper.make_node("Resize", ["u2", "", "half"], ["u3"], name="down_cubic", mode="cubic",
                         antialias=1),
        helper.make_node("GroupNormalization", ["u3", "gn_s", "gn_b"], ["g"], name="gn", num_groups=2),
        helper.make_node("GlobalAveragePool", ["g"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", transB=1),
    ]
    inits = [numpy_helper.from_array(arr(4, 3, 3, 3), "c1_w"), numpy_helper.from_array(arr(4), "c1_b"),
             numpy_helper.from_array(arr(4, 4, 3, 3), "c2_w"), numpy_helper.from_array(arr(4), "c2_b"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up2"),
             numpy_helper.from_array(np.array([12, 12], np.int64), "hw"),
             numpy_helper.from_array(np.array([1, 1, 0.5, 0.5], np.float32), "half"),
             numpy_helper.from_array(1 + arr(4), "gn_s"), numpy_helper.from_array(arr(4), "gn_b"),
             numpy_helper.from_array(arr(3, 4, scale=1.0), "fc_w"), numpy_helper.from_array(arr(3), "fc_b")]
    g = helper.make_graph(nodes, "onnx21_resample", [helper.make_tensor_value_info("x", F, ["N", 3, 8, 8])],
                          [helper.make_tensor_value_info("y", F, ["N", 3])], inits)
    name = "onnx21_resample"
    save(name, make_model(g, 21), arr(2, 3, 8, 8, scale=1.0))
    np.save(os.path.join(OUT, name + ".train_x.npy"), arr(64, 3, 8, 8, scale=1.0))
    np.save(os.path.join(OUT, name + ".train_y.npy"), rng.integers(0, 3, 64).astype(np.int64))
    node_path = os.environ.get("ORT_NODE_PATH", os.path.expanduser("~/.cache/bnnc-bench/node_modules"))
    subprocess.run(["node", os.path.join(HERE, "ort_reference.js"), os.path.join(OUT, name + ".onnx")],
                   check=True, env=dict(os.environ, NODE_PATH=node_path))


if __name__ == "__main__":
    main()
