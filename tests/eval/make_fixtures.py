#!/usr/bin/python3
"""Regenerates tests/eval/fixtures: tiny regressors (Flatten + Gemm, [N,1,4,4]
-> [N,2] and [N,1], no softmax) for `bnnc run --samples` and `bnnc eval`'s refusal of
regressors.  Deterministic (fixed weights from a seeded generator).

    /usr/bin/python3 tests/eval/make_fixtures.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures')
rng = np.random.default_rng(6)
w = rng.normal(0, 0.5, (2, 16)).astype(np.float32)
b = np.array([0.5, -1.0], np.float32)
graph = helper.make_graph(
    [helper.make_node('Flatten', ['input'], ['flat'], axis=1, name='flatten'),
     helper.make_node('Gemm', ['flat', 'fc.weight', 'fc.bias'], ['y'], transB=1, name='fc')],
    'tiny_regressor',
    [helper.make_tensor_value_info('input', TensorProto.FLOAT, ['N', 1, 4, 4])],
    [helper.make_tensor_value_info('y', TensorProto.FLOAT, ['N', 2])],
    [numpy_helper.from_array(w, 'fc.weight'), numpy_helper.from_array(b, 'fc.bias')])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, os.path.join(here, 'tiny_regressor.onnx'))
# The same with one output column: [N, 1] is detected as a regressor.
graph.initializer[0].CopyFrom(numpy_helper.from_array(w[:1], 'fc.weight'))
graph.initializer[1].CopyFrom(numpy_helper.from_array(b[:1], 'fc.bias'))
graph.output[0].CopyFrom(helper.make_tensor_value_info('y', TensorProto.FLOAT, ['N', 1]))
graph.name = 'tiny_scalar_regressor'
model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 13)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, os.path.join(here, 'tiny_scalar_regressor.onnx'))
x = rng.uniform(0, 1, (5, 1, 4, 4)).astype(np.float32)
np.save(os.path.join(here, 'tiny_regressor_x.npy'), x)
np.save(os.path.join(here, 'tiny_regressor_y.npy'), x.reshape(5, 16) @ w.T + b)
