#!/bin/sh
# 3-D convolutions (video and volume models; fixtures of
# tools/make_volume_fixtures.py) end to end through the command line: a
# Conv3d becomes a 2-D convolution over depth windows unrolled into
# channels; one full-batch SGD step gives PyTorch's outputs; the converted
# model trains with its loss falling, samples, evaluates, and exports a mean
# model that runs; a depth bnnc cannot size when reading the model is
# refused naming the node.
#
# usage: volume_cli.sh PATH/TO/bnnc   (BNNC_SOURCE_ROOT: the source tree)
set -u
BNNC=$1
ROOT=${BNNC_SOURCE_ROOT:?set BNNC_SOURCE_ROOT}
FIX=$ROOT/tests/fixtures/exporters
TMP=$(mktemp -d /tmp/bnnc-volume-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib.sh"

# close NAME A.npy B.npy: A matches B within 1e-5 of B's largest magnitude.
close() {
    checks=$((checks + 1))
    if ! /usr/bin/python3 -c "
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
err = np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)
sys.exit(0 if a.shape == b.shape and err <= 1e-5 else 'max relative difference %g' % err)" "$2" "$3" 2>"$TMP/py"; then
        fail "$1: $(cat "$TMP/py")"
    fi
}

V=$FIX/torch_conv3d
XY="--train-x $V.train_x.npy --train-y $V.train_y.npy"
# The lowering: depth pad, strided depth slices side by side, the 2-D conv
# with the weight's depth folded into its channels, and back.
expect 0 dump "$V.onnx" && has out '= pad(%clip) {pads=[0, 0, 1, 0, 0, 0, 0, 1, 0, 0], mode="constant", value=0.0}' \
    && has out '{starts=[2], ends=[9], axes=[2], steps=[2]}' \
    && has out '= conv(%"/c1/Conv.as_2d", %c1.weight, %c1.bias)' && has out 'group=2}'
expect 0 run "$V.onnx" --input "$V.input.npy" --output "$TMP/fwd.npy" --quiet
close "torch_conv3d = ONNX Runtime" "$TMP/fwd.npy" "$V.output.npy"
expect 0 run "$FIX/onnx_conv3d_same.onnx" --input "$FIX/onnx_conv3d_same.input.npy" \
    --output "$TMP/same.npy" --quiet
close "auto_pad SAME_UPPER Conv3d = ONNX Runtime" "$TMP/same.npy" "$FIX/onnx_conv3d_same.output.npy"
# Fine-tuning trains the 3-D weights as PyTorch does.
expect 0 train "$V.onnx" $XY --batch 1000 --epochs 1 --optimizer sgd --lr 0.5 -o "$TMP/sgd.onnx"
expect 0 run "$TMP/sgd.onnx" --input "$V.input.npy" --output "$TMP/sgd.npy" --quiet
close "torch_conv3d after one SGD step = PyTorch" "$TMP/sgd.npy" "$V.sgd_output.npy"
# Converted, every 3-D conv is Bayesian; it trains, samples, evaluates and
# exports a mean model.
expect 0 convert "$V.onnx" --layers conv -o "$TMP/bnn.onnx" && has out "converted:  3 layers"
expect 0 train "$TMP/bnn.onnx" $XY --batch 16 --epochs 6 --lr 0.01 -o "$TMP/trained.onnx" \
    && has out "epoch 6/6"
checks=$((checks + 1))
first=$(grep -o 'data loss [0-9.]*' "$TMP/out" | head -n 1 | cut -d' ' -f3)
last=$(grep -o 'data loss [0-9.]*' "$TMP/out" | tail -n 1 | cut -d' ' -f3)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.9 * a) }' \
    || fail "training the converted 3-D net: data loss $first -> $last, not down by a tenth"
expect 0 run "$TMP/trained.onnx" --input "$V.input.npy" --samples 4 && has out "information"
expect 0 eval "$TMP/trained.onnx" --x "$V.train_x.npy" --y "$V.train_y.npy" --samples 4 \
    && has out "accuracy"
expect 0 export "$TMP/trained.onnx" --mode mean -o "$TMP/mean.onnx"
expect 0 run "$TMP/mean.onnx" --input "$V.input.npy" --output "$TMP/mean.npy" --quiet

expect 1 dump "$FIX/bad/conv3d_symbolic_depth.onnx" \
    && has err "a 3-D convolution needs its input's channels, depth, height and width known when the model is read (input 'x' is f32[N,1,D,8,8])"
finish
