#!/usr/bin/python3
"""Writes small models with recurrent layers and ONNX control flow, with an
input and ONNX Runtime's output for each, into tests/fixtures/exporters/
(NAME.onnx, NAME.input.npy, NAME.output.npy, and rows to train on,
NAME.train_x.npy and NAME.train_y.npy):

  torch_lstm_batch1  PyTorch LSTM (batch_first) -> last step -> Linear,
                     exported with a fixed batch of 1 (opset 14): its zero
                     initial state is an Expand of the batch; a learnable
                     task (which of three features sums highest over time)
  torch_gru_bidir    PyTorch bidirectional GRU -> mean over time -> Linear,
                     dynamic batch (opset 13): the zero state is a
                     ConstantOfShape of the run-time batch
  torch_lstm2_dynamic  PyTorch two-layer LSTM, dynamic batch (opset 14): one
                     ConstantOfShape zero state sliced per layer
  onnx_control_flow  python3-onnx helper, opset 13, dynamic batch: an If
                     whose condition folds from Shape (an LSTM inside the
                     branch it takes), a Loop with a static trip count over
                     an outer weight, a Scan along axis 1 of the input
  onnx_nested_control_flow  opset 13, fixed shape: a Loop whose body holds
                     an If on the iteration number (folds in each copy) and
                     emits scan outputs; a Scan over two inputs along
                     different axes, one reversed, with a reversed scan
                     output; an If whose condition is data (both branches
                     run, `where` picks)

  torch_token_lstm   PyTorch text classifier, dynamic batch (opset 14):
                     int64 token ids -> Embedding (a Gather) -> LSTM ->
                     Linear; labelled by the most frequent token group;
                     NAME.sgd_output.npy (both token and transformer): the
                     output after one full-batch SGD step in PyTorch

  torch_transformer  PyTorch TransformerEncoder layer -> mean -> Linear,
                     dynamic batch (opset 14): attention reshapes by the
                     activations' own Shape; a learnable task

  torch_cls_token    ViT's class token: a parameter expanded to the batch
                     read from Shape(x) at run time (opset 17), a learned
                     positional table, attention, the token's row
                     classified; a learnable task

  torch_swin_tiny    torchvision's SwinTransformer at toy size on 3x28x28,
                     dynamic batch (opset 17): shifted-window masks from
                     Range, Slice and Pad bounds computed at run time

  multi_input/torch_text_mask  a BERT-style classifier with two inputs,
                     int64 token ids and an int64 attention mask (1 = token,
                     0 = padding), dynamic batch (opset 14): embeddings plus
                     a learned positional table, one attention layer whose
                     scores get (1 - mask) * -10000, a masked mean, Linear;
                     NAME.input.ids.npy and NAME.input.mask.npy, training
                     rows NAME.train_x.ids.npy, NAME.train_x.mask.npy and
                     NAME.train_y.npy (which token group is most frequent
                     among the unmasked tokens), and the output after one
                     SGD step in PyTorch
  multi_input/onnx_image_side  python3-onnx helper, opset 13, fixed batch 1
                     (freed at import): an f32 image [1, 2, 3, 3] and int64
                     category ids [1, 2] read through an embedding table,
                     flattened, concatenated, Gemm: inputs of two types

Run with Debian's python3 (torch, onnx):  /usr/bin/python3 tools/make_recurrent_fixtures.py [NAME]
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
rng = np.random.default_rng(20261203)
NAMES = ["torch_lstm_batch1", "torch_gru_bidir", "torch_lstm2_dynamic", "onnx_control_flow", "onnx_nested_control_flow",
         "torch_token_lstm", "torch_transformer", "torch_cls_token", "torch_swin_tiny", "multi_input/torch_text_mask",
         "multi_input/onnx_image_side"]


def arr(*shape, scale=0.4):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def torch_models():
    import torch

    torch.manual_seed(11)

    class Lstm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(6, 12, batch_first=True)
            self.fc = torch.nn.Linear(12, 3)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.fc(y[:, -1, :])

    class Gru(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.GRU(6, 8, batch_first=True, bidirectional=True)
            self.fc = torch.nn.Linear(16, 3)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.fc(y.mean(1))

    class Lstm2(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(6, 8, num_layers=2, batch_first=True)
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.fc(y[:, -1, :])

    x = torch.randn(1, 7, 6)
    torch.onnx.export(Lstm2().eval(), x, os.path.join(OUT, "torch_lstm2_dynamic.onnx"), opset_version=14,
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    np.save(os.path.join(OUT, "torch_lstm2_dynamic.input.npy"), torch.randn(4, 7, 6).numpy())
    torch.onnx.export(Lstm().eval(), x, os.path.join(OUT, "torch_lstm_batch1.onnx"), opset_version=14,
                      input_names=["x"], output_names=["logits"])
    np.save(os.path.join(OUT, "torch_lstm_batch1.input.npy"), x.numpy())
    torch.onnx.export(Gru().eval(), x, os.path.join(OUT, "torch_gru_bidir.onnx"), opset_version=13,
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    np.save(os.path.join(OUT, "torch_gru_bidir.input.npy"), torch.randn(3, 7, 6).numpy())
    # Which of features 0..2 sums highest over the sequence: learnable by the LSTM.
    tx = arr(256, 7, 6, scale=1.0)
    np.save(os.path.join(OUT, "torch_lstm_batch1.train_x.npy"), tx)
    np.save(os.path.join(OUT, "torch_lstm_batch1.train_y.npy"), tx[:, :, :3].sum(1).argmax(1).astype(np.int64))


def distinct(model):
    """Nudges every parameter so that no two tensors are equal: the exporter
    stores equal initializers once, tying what PyTorch trains apart."""
    import torch

    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def sgd_reference(model, name, x, train_x=None):
    """NAME.sgd_output.npy: the model's output on NAME.input.npy after one
    full-batch SGD step (lr 0.5, mean cross-entropy) on NAME.train_x/y.npy, in
    PyTorch: what `bnnc train --batch 1000 --epochs 1 --optimizer sgd --lr 0.5`
    must reproduce, every parameter trained as PyTorch trains it."""
    import torch

    tx = train_x or (torch.tensor(np.load(os.path.join(OUT, name + ".train_x.npy"))),)
    ty = torch.tensor(np.load(os.path.join(OUT, name + ".train_y.npy")))
    x = x if isinstance(x, tuple) else (x,)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model.train()
    loss = torch.nn.functional.cross_entropy(model(*tx), ty)
    opt.zero_grad()
    loss.backward()
    opt.step()
    model.eval()
    with torch.no_grad():
        np.save(os.path.join(OUT, name + ".sgd_output.npy"), model(*x).numpy())


def sequence_fixture(model, name, opset, rows):
    """Exports a model of [N, 5, 8] sequences to logits (dynamic batch) and
    writes its input, `rows` training rows labelled by which of features
    0..2 sums highest, and PyTorch's output after one SGD step."""
    import torch

    torch.onnx.export(model, torch.randn(2, 5, 8), os.path.join(OUT, name + ".onnx"), opset_version=opset,
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}})
    x = torch.randn(3, 5, 8)
    np.save(os.path.join(OUT, name + ".input.npy"), x.numpy())
    tx = arr(rows, 5, 8, scale=1.0)
    np.save(os.path.join(OUT, name + ".train_x.npy"), tx)
    np.save(os.path.join(OUT, name + ".train_y.npy"), tx[:, :, :3].sum(1).argmax(1).astype(np.int64))
    sgd_reference(model, name, x)


def token_model():
    """A text classifier: int64 token ids -> Embedding -> LSTM -> Linear, the
    input type of every published text model; its rows are labelled by
    which of three token groups occurs most."""
    import torch

    torch.manual_seed(12)

    class TokenLstm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(30, 8)
            self.rnn = torch.nn.LSTM(8, 12, batch_first=True)
            self.fc = torch.nn.Linear(12, 3)

        def forward(self, ids):
            y, _ = self.rnn(self.emb(ids))
            return self.fc(y[:, -1, :])

    ids = torch.randint(0, 30, (2, 9))
    model = distinct(TokenLstm())
    torch.onnx.export(model, ids, os.path.join(OUT, "torch_token_lstm.onnx"), opset_version=14,
                      input_names=["ids"], output_names=["logits"],
                      dynamic_axes={"ids": {0: "N"}, "logits": {0: "N"}})
    x = torch.randint(0, 30, (4, 9))
    np.save(os.path.join(OUT, "torch_token_lstm.input.npy"), x.numpy())
    tx = rng.integers(0, 30, (256, 9)).astype(np.int64)
    counts = np.stack([((tx >= 10 * k) & (tx < 10 * k + 10)).sum(1) for k in range(3)], 1)
    np.save(os.path.join(OUT, "torch_token_lstm.train_x.npy"), tx)
    np.save(os.path.join(OUT, "torch_token_lstm.train_y.npy"), counts.argmax(1).astype(np.int64))
    # the same ids as float64, as data pipelines often store them; one 2.5
    np.save(os.path.join(OUT, "torch_token_lstm.float_x.npy"), tx[:8].astype(np.float64))
    np.save(os.path.join(OUT, "torch_token_lstm.float_y.npy"), counts[:8].argmax(1).astype(np.int64))
    bad = tx[:8].astype(np.float64)
    bad[5, 3] = 2.5
    np.save(os.path.join(OUT, "torch_token_lstm.bad_x.npy"), bad)
    sgd_reference(model, "torch_token_lstm", x)


def transformer_model():
    """A PyTorch TransformerEncoder (2 heads, batch_first) -> mean over time ->
    Linear: its attention reshapes activations by their own Shape at run
    time; labelled like the LSTM's rows (which of features 0..2 sums highest)."""
    import torch

    torch.manual_seed(13)

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            layer = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
            self.enc = torch.nn.TransformerEncoder(layer, 1)
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, x):
            return self.fc(self.enc(x).mean(1))

    sequence_fixture(distinct(Encoder()), "torch_transformer", 14, 128)


def cls_token_model():
    """ViT's idiom: a learned class token expanded to the run-time batch
    (Expand of a shape computed from Shape(x)), prepended to the sequence, a
    learned [1, T, d] positional table added, attention, and the class
    token's row classified."""
    import torch

    torch.manual_seed(14)

    class ClsToken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cls = torch.nn.Parameter(torch.randn(1, 1, 8))
            self.pos = torch.nn.Parameter(torch.randn(1, 6, 8) * 0.1)
            self.att = torch.nn.MultiheadAttention(8, 2, batch_first=True)
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, x):
            t = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
            return self.fc(self.att(t, t, t, need_weights=False)[0][:, 0])

    sequence_fixture(distinct(ClsToken()), "torch_cls_token", 17, 64)


def swin_model():
    """torchvision's Swin Transformer at toy size (embed 8, two stages, window
    4) on 3x28x28 images, dynamic batch (opset 17): its shifted windows pad
    7x7 maps to 8x8 and build their attention mask from Range, Slice and
    Pad bounds computed from run-time sizes."""
    import torch
    from torchvision.models.swin_transformer import SwinTransformer

    torch.manual_seed(15)
    model = distinct(SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[2, 2], num_heads=[1, 2],
                                     window_size=[4, 4], num_classes=3))
    torch.onnx.export(model, torch.randn(2, 3, 28, 28), os.path.join(OUT, "torch_swin_tiny.onnx"),
                      opset_version=17, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    x = torch.randn(2, 3, 28, 28)
    np.save(os.path.join(OUT, "torch_swin_tiny.input.npy"), x.numpy())
    np.save(os.path.join(OUT, "torch_swin_tiny.train_x.npy"), x.numpy())
    np.save(os.path.join(OUT, "torch_swin_tiny.train_y.npy"), np.array([0, 2], np.int64))


def control_flow():
    T, Fe, H = 5, 4, 4
    x = helper.make_tensor_value_info("x", F, ["N", T, Fe])
    inits = [
        numpy_helper.from_array(arr(Fe, Fe), "loop_w"),
        numpy_helper.from_array(arr(Fe), "loop_b"),
        numpy_helper.from_array(arr(Fe), "scan_w"),
        numpy_helper.from_array(arr(1, 4 * H, Fe), "lstm_W"),
        numpy_helper.from_array(arr(1, 4 * H, H), "lstm_R"),
        numpy_helper.from_array(arr(1, 8 * H), "lstm_B"),
        numpy_helper.from_array(arr(3, Fe + H + Fe), "fc_w"),
        numpy_helper.from_array(arr(3), "fc_b"),
        numpy_helper.from_array(np.array(3, np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "yes"),
        numpy_helper.from_array(np.array([2], np.int64), "idx2"),
        numpy_helper.from_array(np.array(3, np.int64), "three"),
        numpy_helper.from_array(np.array([1], np.int64), "axes1"),
    ]
    # Loop: h <- tanh(h W + b), three times, from the mean over time.
    loop_body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("MatMul", ["h_in", "loop_w"], ["hw"]),
         helper.make_node("Add", ["hw", "loop_b"], ["hwb"]),
         helper.make_node("Tanh", ["hwb"], ["h_out"])],
        "loop_body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_in", F, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_out", F, None)])
    # Scan along axis 1: s <- s + x_t * w; emits tanh(s) per step.
    scan_body = helper.make_graph(
        [helper.make_node("Mul", ["xt", "scan_w"], ["xw"]),
         helper.make_node("Add", ["s_in", "xw"], ["s_out"]),
         helper.make_node("Tanh", ["s_out"], ["emit"])],
        "scan_body",
        [helper.make_tensor_value_info("s_in", F, None), helper.make_tensor_value_info("xt", F, None)],
        [helper.make_tensor_value_info("s_out", F, None), helper.make_tensor_value_info("emit", F, None)])
    # If the feature count is above 3 (it is: the condition folds from Shape),
    # an LSTM over time gives the branch's [N, H]; else the max over time.
    then_g = helper.make_graph(
        [helper.make_node("Transpose", ["x"], ["xt_tnf"], perm=[1, 0, 2]),
         helper.make_node("LSTM", ["xt_tnf", "lstm_W", "lstm_R", "lstm_B"], ["", "lstm_h"], hidden_size=H),
         helper.make_node("Squeeze", ["lstm_h", "axes0"], ["then_out"])],
        "then_branch", [], [helper.make_tensor_value_info("then_out", F, None)],
        [numpy_helper.from_array(np.array([0], np.int64), "axes0")])
    else_g = helper.make_graph(
        [helper.make_node("ReduceMax", ["x"], ["else_out"], axes=[1], keepdims=0)],
        "else_branch", [], [helper.make_tensor_value_info("else_out", F, None)])
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["h0"], axes=[1], keepdims=0, name="mean_time"),
        helper.make_node("Loop", ["trips", "yes", "h0"], ["h_final"], body=loop_body, name="loop"),
        helper.make_node("ReduceSum", ["x", "axes1"], ["zero_ish"], keepdims=0, name="sum_time"),
        helper.make_node("Sub", ["zero_ish", "zero_ish"], ["s0"], name="zeros"),
        helper.make_node("Scan", ["s0", "x"], ["s_final", "emits"], body=scan_body, num_scan_inputs=1,
                         scan_input_axes=[1], scan_output_axes=[1], name="scan"),
        helper.make_node("ReduceMean", ["emits"], ["emit_mean"], axes=[1], keepdims=0, name="mean_emits"),
        helper.make_node("Shape", ["x"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "idx2"], ["feat"], axis=0, name="feat"),
        helper.make_node("Greater", ["feat", "three"], ["wide"], name="wide"),
        helper.make_node("Squeeze", ["wide"], ["wide_s"], name="wide_s"),
        helper.make_node("If", ["wide_s"], ["branch"], then_branch=then_g, else_branch=else_g, name="if"),
        helper.make_node("Concat", ["h_final", "branch", "emit_mean"], ["feats"], axis=1, name="concat"),
        helper.make_node("Gemm", ["feats", "fc_w", "fc_b"], ["logits"], transB=1, name="fc"),
    ]
    g = helper.make_graph(nodes, "control_flow", [x], [helper.make_tensor_value_info("logits", F, ["N", 3])],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)],
                          producer_name="make_recurrent_fixtures.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    with open(os.path.join(OUT, "onnx_control_flow.onnx"), "wb") as f:
        f.write(m.SerializeToString())
    np.save(os.path.join(OUT, "onnx_control_flow.input.npy"), arr(2, T, Fe, scale=1.0))


def nested_control_flow():
    x = helper.make_tensor_value_info("x", F, [2, 3, 4])
    inits = [
        numpy_helper.from_array(np.array(4, np.int64), "trips"),
        numpy_helper.from_array(np.array(2, np.int64), "two"),
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
        numpy_helper.from_array(arr(4, 4), "w"),
        numpy_helper.from_array(arr(4), "v"),
        numpy_helper.from_array(np.array(0.0, np.float32), "fzero"),
    ]
    even = helper.make_graph([helper.make_node("MatMul", ["h", "w"], ["e_out"])], "even", [],
                             [helper.make_tensor_value_info("e_out", F, None)])
    odd = helper.make_graph([helper.make_node("Mul", ["h", "v"], ["o_out"])], "odd", [],
                            [helper.make_tensor_value_info("o_out", F, None)])
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]),
         helper.make_node("Mod", ["i", "two"], ["m"]),
         helper.make_node("Equal", ["m", "zero"], ["is_even"]),
         helper.make_node("If", ["is_even"], ["step"], then_branch=even, else_branch=odd),
         helper.make_node("Tanh", ["step"], ["h_out"]),
         helper.make_node("ReduceSum", ["h_out"], ["emit"], keepdims=0)],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("h", F, None)],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), helper.make_tensor_value_info("h_out", F, None),
         helper.make_tensor_value_info("emit", F, None)])
    sbody = helper.make_graph(
        [helper.make_node("Add", ["s", "a"], ["s1"]), helper.make_node("Mul", ["s1", "b"], ["s_out"]),
         helper.make_node("Sigmoid", ["s_out"], ["y"])], "sbody",
        [helper.make_tensor_value_info("s", F, None), helper.make_tensor_value_info("a", F, None),
         helper.make_tensor_value_info("b", F, None)],
        [helper.make_tensor_value_info("s_out", F, None), helper.make_tensor_value_info("y", F, None)])
    pos = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["p_out"])], "pos", [],
                            [helper.make_tensor_value_info("p_out", F, None)])
    neg = helper.make_graph([helper.make_node("Tanh", ["x"], ["n_out"])], "neg", [],
                            [helper.make_tensor_value_info("n_out", F, None)])
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["h0"], axes=[0], keepdims=0, name="h0"),  # [3, 4]
        helper.make_node("Loop", ["trips", "", "h0"], ["h_last", "emits"], body=body, name="loop"),  # [3,4], [4]
        # Scan: a is x[0] along axis 0 (3 steps of [4]), b is x[1] transposed along axis 1, reversed
        helper.make_node("Gather", ["x", "zero"], ["x0"], axis=0, name="x0"),  # [3, 4]
        helper.make_node("Gather", ["x", "one"], ["x1"], axis=0, name="x1"),
        helper.make_node("Transpose", ["x1"], ["x1t"], perm=[1, 0], name="x1t"),  # [4, 3]
        helper.make_node("ReduceMax", ["x0"], ["s0"], axes=[0], keepdims=0, name="s0"),  # [4]
        helper.make_node("Scan", ["s0", "x0", "x1t"], ["s_last", "ys"], body=sbody, num_scan_inputs=2,
                         scan_input_axes=[0, 1], scan_input_directions=[0, 1], scan_output_directions=[1],
                         name="scan"),  # ys [3, 4]
        helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0, name="total"),
        helper.make_node("Greater", ["total", "fzero"], ["positive"], name="positive"),
        helper.make_node("If", ["positive"], ["picked"], then_branch=pos, else_branch=neg, name="data_if"),
        helper.make_node("ReduceMean", ["picked"], ["picked_m"], axes=[0], keepdims=0, name="picked_m"),  # [3,4]
        helper.make_node("Add", ["h_last", "ys"], ["hy"], name="hy"),
        helper.make_node("Add", ["hy", "picked_m"], ["hyp"], name="hyp"),
        helper.make_node("Add", ["hyp", "s_last"], ["hyps"], name="hyps"),
        helper.make_node("Add", ["hyps", "emits"], ["mix"], name="mix"),
        helper.make_node("Add", ["x", "mix"], ["rows"], name="rows"),  # [2, 3, 4]: one row per example
        helper.make_node("ReduceMean", ["rows"], ["out"], axes=[1], keepdims=0, name="out"),
    ]
    inits.append(numpy_helper.from_array(np.array(1, np.int64), "one"))
    g = helper.make_graph(nodes, "nested", [x], [helper.make_tensor_value_info("out", F, [2, 4])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)],
                          producer_name="make_recurrent_fixtures.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    with open(os.path.join(OUT, "onnx_nested_control_flow.onnx"), "wb") as f:
        f.write(m.SerializeToString())
    np.save(os.path.join(OUT, "onnx_nested_control_flow.input.npy"), arr(2, 3, 4, scale=1.0))


def refused():
    """Control flow bnnc cannot unroll, for the error messages: a Loop whose
    trip count is a graph input, one of 10^9 iterations (with and without a
    condition), an If on data whose
    branches differ in shape, a Scan over a symbolic length."""
    os.makedirs(os.path.join(OUT, "bad"), exist_ok=True)
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Neg", ["v"], ["v_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("v", F, None)],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), helper.make_tensor_value_info("v_out", F, None)])
    g = helper.make_graph(
        [helper.make_node("Loop", ["n", "", "x"], ["y"], body=body, name="data_loop")], "loop_trip",
        [helper.make_tensor_value_info("x", F, ["N", 4]), helper.make_tensor_value_info("n", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", F, ["N", 4])])
    with open(os.path.join(OUT, "bad", "loop_data_trip.onnx"), "wb") as f:
        f.write(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    g = helper.make_graph(
        [helper.make_node("Loop", ["m", "", "x"], ["y"], body=body, name="long_loop")], "loop_long",
        [helper.make_tensor_value_info("x", F, ["N", 4])], [helper.make_tensor_value_info("y", F, ["N", 4])],
        [numpy_helper.from_array(np.array(10 ** 9, np.int64), "m")])
    with open(os.path.join(OUT, "bad", "loop_too_long.onnx"), "wb") as f:
        f.write(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    # The same with a condition that stays true: the count alone does not
    # say how far it runs, so unrolling stops at the budget.
    g = helper.make_graph(
        [helper.make_node("Loop", ["m", "keep", "x"], ["y"], body=body, name="long_while")], "loop_while",
        [helper.make_tensor_value_info("x", F, ["N", 4])], [helper.make_tensor_value_info("y", F, ["N", 4])],
        [numpy_helper.from_array(np.array(10 ** 9, np.int64), "m"), numpy_helper.from_array(np.array(True), "keep")])
    with open(os.path.join(OUT, "bad", "loop_while_too_long.onnx"), "wb") as f:
        f.write(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    wide = helper.make_graph([helper.make_node("Identity", ["x"], ["w_out"])], "wide", [],
                             [helper.make_tensor_value_info("w_out", F, None)])
    narrow = helper.make_graph([helper.make_node("ReduceSum", ["x"], ["n_out"], keepdims=1)], "narrow", [],
                               [helper.make_tensor_value_info("n_out", F, None)])
    g = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0, name="total"),
         helper.make_node("Greater", ["total", "fzero"], ["positive"], name="positive"),
         helper.make_node("If", ["positive"], ["y"], then_branch=wide, else_branch=narrow, name="data_if")],
        "if_shapes", [helper.make_tensor_value_info("x", F, ["N", 4])], [helper.make_tensor_value_info("y", F, None)],
        [numpy_helper.from_array(np.array(0.0, np.float32), "fzero")])
    with open(os.path.join(OUT, "bad", "if_data_shapes.onnx"), "wb") as f:
        f.write(helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)]).SerializeToString())
    sbody = helper.make_graph(
        [helper.make_node("Add", ["s", "xt"], ["s_out"])], "sbody",
        [helper.make_tensor_value_info("s", F, None), helper.make_tensor_value_info("xt", F, None)],
        [helper.make_tensor_value_info("s_out", F, None)])
    g = helper.make_graph(
        [helper.make_node("Scan", ["s0", "x"], ["y"], body=sbody, num_scan_inputs=1, name="time_scan")],
        "scan_dyn", [helper.make_tensor_value_info("x", F, ["T", 4])], [helper.make_tensor_value_info("y", F, [4])],
        [numpy_helper.from_array(np.zeros(4, np.float32), "s0")])
    with open(os.path.join(OUT, "bad", "scan_symbolic_length.onnx"), "wb") as f:
        f.write(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())


def training_rows():
    """Labelled rows for the fixtures that train end to end (the LSTM's own
    set is written with it): the class is the feature that sums highest."""
    for name, dims, classes in (("torch_gru_bidir", (7, 6), 3), ("torch_lstm2_dynamic", (7, 6), 3),
                                ("onnx_control_flow", (5, 4), 3), ("onnx_nested_control_flow", (3, 4), 4)):
        x = arr(64, *dims, scale=1.0)
        np.save(os.path.join(OUT, name + ".train_x.npy"), x)
        np.save(os.path.join(OUT, name + ".train_y.npy"), x[:, :, :classes].sum(1).argmax(1).astype(np.int64))


def text_mask_model():
    """BERT's inputs: token ids and an attention mask, both int64 [N, T] with
    a dynamic batch.  The mask enters as HuggingFace's BERT takes it: the
    attention scores get (1 - mask) * -10000, and the pooled mean counts the
    unmasked tokens only.  Rows hold 3 to 9 tokens, padded with id 0."""
    import torch

    torch.manual_seed(15)

    class TextMask(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(30, 8)
            self.pos = torch.nn.Parameter(torch.randn(1, 9, 8) * 0.1)
            self.q = torch.nn.Linear(8, 8)
            self.k = torch.nn.Linear(8, 8)
            self.v = torch.nn.Linear(8, 8)
            self.o = torch.nn.Linear(8, 8)
            self.ln = torch.nn.LayerNorm(8)
            self.fc = torch.nn.Linear(8, 3)

        def forward(self, ids, mask):
            n, t = ids.shape
            h = self.emb(ids) + self.pos
            q = self.q(h).view(n, t, 2, 4).transpose(1, 2)
            k = self.k(h).view(n, t, 2, 4).transpose(1, 2)
            v = self.v(h).view(n, t, 2, 4).transpose(1, 2)
            m = mask.to(h.dtype)
            s = q @ k.transpose(-1, -2) / 2.0 + (1.0 - m[:, None, None, :]) * -10000.0
            a = (s.softmax(-1) @ v).transpose(1, 2).reshape(n, t, 8)
            h = self.ln(h + self.o(a))
            w = m.unsqueeze(-1)
            return self.fc((h * w).sum(1) / w.sum(1))

    r = np.random.default_rng(15)  # its own: the rows do not depend on what ran before

    def rows(count):
        ids = r.integers(1, 30, (count, 9)).astype(np.int64)
        lengths = r.integers(3, 10, count)
        mask = (np.arange(9)[None, :] < lengths[:, None]).astype(np.int64)
        return ids * mask, mask

    name = "multi_input/torch_text_mask"
    os.makedirs(os.path.join(OUT, "multi_input"), exist_ok=True)
    model = distinct(TextMask())
    ids, mask = rows(2)
    torch.onnx.export(model, (torch.tensor(ids), torch.tensor(mask)), os.path.join(OUT, name + ".onnx"),
                      opset_version=14, input_names=["ids", "mask"], output_names=["logits"],
                      dynamic_axes={"ids": {0: "N"}, "mask": {0: "N"}, "logits": {0: "N"}})
    ids, mask = rows(5)
    np.save(os.path.join(OUT, name + ".input.ids.npy"), ids)
    np.save(os.path.join(OUT, name + ".input.mask.npy"), mask)
    tids, tmask = rows(256)
    counts = np.stack([(((tids >= 10 * k) & (tids < 10 * k + 10)) * tmask).sum(1) for k in range(3)], 1)
    np.save(os.path.join(OUT, name + ".train_x.ids.npy"), tids)
    np.save(os.path.join(OUT, name + ".train_x.mask.npy"), tmask)
    np.save(os.path.join(OUT, name + ".train_y.npy"), counts.argmax(1).astype(np.int64))
    sgd_reference(model, name, (torch.tensor(ids), torch.tensor(mask)),
                  (torch.tensor(tids), torch.tensor(tmask)))


def image_side_model():
    """Two inputs of different types: an image and a side vector of category
    ids (an embedding lookup), as recommenders and multimodal heads take
    them; exported at batch 1.  Labelled by the image's channel with the
    larger sum, shifted by the first category's parity."""
    r = np.random.default_rng(16)
    name = "multi_input/onnx_image_side"
    os.makedirs(os.path.join(OUT, "multi_input"), exist_ok=True)
    f32 = lambda *shape: (r.standard_normal(shape) * 0.3).astype(np.float32)
    inits = [numpy_helper.from_array(f32(5, 4), "emb"), numpy_helper.from_array(f32(26, 3), "w"),
             numpy_helper.from_array(f32(3), "b")]
    nodes = [helper.make_node("Flatten", ["img"], ["flat"], name="flat_img"),
             helper.make_node("Gather", ["emb", "side"], ["cats"], name="embed"),
             helper.make_node("Flatten", ["cats"], ["flat_cats"], name="flat_cats"),
             helper.make_node("Concat", ["flat", "flat_cats"], ["both"], axis=1, name="join"),
             helper.make_node("Gemm", ["both", "w", "b"], ["logits"], name="head")]
    g = helper.make_graph(nodes, "image_side",
                          [helper.make_tensor_value_info("img", F, [1, 2, 3, 3]),
                           helper.make_tensor_value_info("side", TensorProto.INT64, [1, 2])],
                          [helper.make_tensor_value_info("logits", F, [1, 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(OUT, name + ".onnx"))
    np.save(os.path.join(OUT, name + ".input.img.npy"), f32(1, 2, 3, 3) / 0.3)
    np.save(os.path.join(OUT, name + ".input.side.npy"), r.integers(0, 5, (1, 2)).astype(np.int64))
    img = (r.standard_normal((128, 2, 3, 3))).astype(np.float32)
    side = r.integers(0, 5, (128, 2)).astype(np.int64)
    y = (img[:, 0].sum((1, 2)) > img[:, 1].sum((1, 2))).astype(np.int64) + (side[:, 0] % 2)
    np.save(os.path.join(OUT, name + ".train_x.img.npy"), img)
    np.save(os.path.join(OUT, name + ".train_x.side.npy"), side)
    np.save(os.path.join(OUT, name + ".train_y.npy"), y)


def main():
    """With names as arguments (torch_token_lstm, torch_transformer,
    torch_cls_token, torch_swin_tiny, multi_input/torch_text_mask,
    multi_input/onnx_image_side), writes
    only those; without, everything."""
    os.makedirs(OUT, exist_ok=True)
    only = sys.argv[1:]
    if not only:
        refused()
        torch_models()
        control_flow()
        nested_control_flow()
        training_rows()
    if not only or "torch_token_lstm" in only:
        token_model()
    if not only or "torch_transformer" in only:
        transformer_model()
    if not only or "torch_cls_token" in only:
        cls_token_model()
    if not only or "torch_swin_tiny" in only:
        swin_model()
    if not only or "multi_input/torch_text_mask" in only:
        text_mask_model()
    if not only or "multi_input/onnx_image_side" in only:
        image_side_model()
    node_path = os.environ.get("ORT_NODE_PATH", os.path.expanduser("~/.cache/bnnc-bench/node_modules"))
    models = [os.path.join(OUT, n + ".onnx") for n in (only or NAMES)]
    env = dict(os.environ, NODE_PATH=node_path)
    subprocess.run(["node", os.path.join(HERE, "ort_reference.js")] + models, check=True, env=env)


if __name__ == "__main__":
    sys.exit(main())
