#!/bin/sh
# An audio classifier with ONNX's spectral ops in its front end (STFT with a
# HannWindow, MelWeightMatrix, DFT; tools/make_audio_fixture.py) end to end
# through the command line: it runs as ONNX Runtime does, its transforms
# stay fixed (convert makes only its dense layer Bayesian), the converted
# model samples, trains, evaluates and predicts by moments; lengths and
# windows bnnc cannot fix when reading the model are refused naming the node.
#
# usage: audio_cli.sh PATH/TO/bnnc   (BNNC_SOURCE_ROOT: the source tree)
set -u
BNNC=$1
ROOT=${BNNC_SOURCE_ROOT:?set BNNC_SOURCE_ROOT}
A=$ROOT/tests/fixtures/audio/audio
TMP=$(mktemp -d /tmp/bnnc-audio-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib.sh"

# The lowering: frames gathered by constant indices, the windowed DFT and the
# plain one as MatMuls whose first operand is the constant matrix.
expect 0 dump "$A.onnx" && has out '= gather(%sig, %stft.frame_index) {axis=1} : f32[N,22,64,1]' \
    && has out '= matmul(%stft.stft_matrix, %stft.column) : f32[N,22,66,1]' \
    && has out '= matmul(%dft.dft_matrix, %dft.column) : f32[N,66,1]' \
    && has out 'param %mel: f32[33,8]'
expect 0 run "$A.onnx" --input "$A.input.npy" --output "$TMP/y.npy" --quiet
npy_close "STFT, MelWeightMatrix and DFT = ONNX Runtime" "$TMP/y.npy" "$A.output.npy"

# Only the classifier is a layer: the transforms are not converted.
expect 0 convert "$A.onnx" --layers all -o "$TMP/a.bnn.onnx" && has out "converted:  1 layer" \
    && has out "dense            1  fc"
expect 0 run "$TMP/a.bnn.onnx" --input "$A.input.npy" --samples 4 && has out "information"
expect 0 train "$TMP/a.bnn.onnx" --train-x "$A.train_x.npy" --train-y "$A.train_y.npy" \
    --val-split 0.25 --epochs 6 --batch 16 -o "$TMP/a.trained.onnx" && has out "epoch 6/6"
expect 0 eval "$TMP/a.trained.onnx" --x "$A.train_x.npy" --y "$A.train_y.npy" --samples 8 --json
checks=$((checks + 1))
/usr/bin/python3 -c "
import json, sys
acc = json.load(open(sys.argv[1]))['accuracy']
sys.exit(0 if acc >= 0.6 else 'accuracy %g after 6 epochs (4 bands, chance 0.25)' % acc)" "$TMP/out" \
    2>"$TMP/py" || fail "trained on tones: $(cat "$TMP/py")"
expect 0 run "$TMP/a.trained.onnx" --input "$A.input.npy" --predictive moments && has out "information"

# Hostile variants: a window computed from the data, a dft_length fed as an
# input, a frame longer than the signal, a filter bank above Nyquist.
/usr/bin/python3 - "$TMP" <<'PY'
import sys
import numpy as np
from onnx import TensorProto, helper, numpy_helper
out = sys.argv[1]
F, I = TensorProto.FLOAT, TensorProto.INT64
def save(name, nodes, inputs, inits, outputs):
    g = helper.make_graph(nodes, name, inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    open(f"{out}/{name}.onnx", "wb").write(m.SerializeToString())
sig = helper.make_tensor_value_info("s", F, ["N", 100, 1])
spec = helper.make_tensor_value_info("y", F, None)
hop = numpy_helper.from_array(np.array(4, np.int64), "hop")
save("window_input", [helper.make_node("STFT", ["s", "hop", "w"], ["y"], name="stft")],
     [sig, helper.make_tensor_value_info("w", F, [16])], [hop], [spec])
save("long_frame", [helper.make_node("STFT", ["s", "hop", "", "flen"], ["y"], name="stft")],
     [sig], [hop, numpy_helper.from_array(np.array(128, np.int64), "flen")], [spec])
save("length_input", [helper.make_node("DFT", ["s", "n"], ["y"], name="dft")],
     [sig, helper.make_tensor_value_info("n", I, [])], [], [spec])
scalars = [numpy_helper.from_array(np.array(v, d), k) for k, v, d in
           (("bins", 8, np.int64), ("len", 64, np.int64), ("rate", 8000, np.int64),
            ("lo", 0.0, np.float32), ("hi", 6000.0, np.float32))]
save("mel_nyquist", [helper.make_node("MelWeightMatrix", ["bins", "len", "rate", "lo", "hi"], ["y"],
                                      name="mel")], [], scalars, [spec])
PY
expect 1 dump "$TMP/window_input.onnx" && has err "node 'stft' (STFT): the window must be a constant"
expect 1 dump "$TMP/long_frame.onnx" && has err "node 'stft' (STFT): frame_length 128 does not fit a signal of 100"
expect 1 dump "$TMP/length_input.onnx" && has err "node 'dft' (DFT): input 'dft_length' must be a constant integer scalar"
expect 1 dump "$TMP/mel_nyquist.onnx" && has err "node 'mel' (MelWeightMatrix): mel bin 7 spans spectrogram bins 21 to 37, outside 0 to 32"

finish
