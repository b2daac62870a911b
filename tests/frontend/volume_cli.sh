#!/bin/sh
# 3-D convolutions and transposed convolutions (video and volume models; fixtures of
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

V=$FIX/torch_conv3d
# The lowering: depth and height pads, strided depth slices side by side,
# the planes stacked into one tall image for the 2-D conv (the weight's depth
# folded into its channels), each plane's rows cut back; the batch stays N.
expect 0 dump "$V.onnx" && has out '-> (%logits: f32[N,3])' \
    && has out '= pad(%clip) {pads=[0, 0, 1, 1, 0, 0, 0, 1, 1, 0], mode="constant", value=0.0}' \
    && has out '{starts=[2], ends=[9], axes=[2], steps=[2]}' \
    && has out '= reshape(%"/c1/Conv.depth_windows") {shape=[0, 9, 44, 9]} : f32[N,9,44,9]' \
    && has out '= conv(%"/c1/Conv.tall", %c1.weight, %c1.bias)' && has out 'group=2}'
expect 0 run "$FIX/onnx_conv3d_same.onnx" --input "$FIX/onnx_conv3d_same.input.npy" \
    --output "$TMP/same.npy" --quiet
npy_close "auto_pad SAME_UPPER Conv3d = ONNX Runtime" "$TMP/same.npy" "$FIX/onnx_conv3d_same.output.npy"
# Fine-tuning trains the 3-D weights (and the 3-D ConvTranspose's bias, added
# after the lowering) as PyTorch does, and its loss falls; converted, every 3-D
# conv is Bayesian, and the model trains, samples, evaluates and exports a mean
# model.
for m in torch_conv3d torch_convt3d; do
    M=$FIX/$m
    XY="--train-x $M.train_x.npy --train-y $M.train_y.npy"
    expect 0 run "$M.onnx" --input "$M.input.npy" --output "$TMP/$m.fwd.npy" --quiet
    npy_close "$m = ONNX Runtime" "$TMP/$m.fwd.npy" "$M.output.npy"
    expect 0 train "$M.onnx" $XY --batch 1000 --epochs 1 --optimizer sgd --lr 0.5 -o "$TMP/$m.sgd.onnx"
    expect 0 run "$TMP/$m.sgd.onnx" --input "$M.input.npy" --output "$TMP/$m.sgd.npy" --quiet
    npy_close "$m after one SGD step = PyTorch" "$TMP/$m.sgd.npy" "$M.sgd_output.npy"
    expect 0 train "$M.onnx" $XY --batch 16 --epochs 6 --lr 0.01 -o "$TMP/$m.tuned.onnx" \
        && has out "epoch 6/6"
    checks=$((checks + 1))
    first=$(grep -o 'data loss [0-9.]*' "$TMP/out" | head -n 1 | cut -d' ' -f3)
    last=$(grep -o 'data loss [0-9.]*' "$TMP/out" | tail -n 1 | cut -d' ' -f3)
    awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.9 * a) }' \
        || fail "fine-tuning $m: data loss $first -> $last, not down by a tenth"
    expect 0 convert "$M.onnx" --layers conv,conv_transpose -o "$TMP/$m.bnn.onnx" && has out "converted:  3 layers"
    expect 0 train "$TMP/$m.bnn.onnx" $XY --batch 16 --epochs 2 --lr 0.01 -o "$TMP/$m.trained.onnx" \
        && has out "epoch 2/2"
    expect 0 run "$TMP/$m.trained.onnx" --input "$M.input.npy" --samples 4 && has out "information"
    expect 0 eval "$TMP/$m.trained.onnx" --x "$M.train_x.npy" --y "$M.train_y.npy" --samples 4 \
        && has out "accuracy"
    expect 0 export "$TMP/$m.trained.onnx" --mode mean -o "$TMP/$m.mean.onnx"
    expect 0 run "$TMP/$m.mean.onnx" --input "$M.input.npy" --output "$TMP/$m.mean.npy" --quiet
done
# The 3-D ConvTranspose: one 2-D ConvTranspose over the planes stacked with
# gaps, each plane's rows cut, each depth tap spread over the stride,
# shifted, summed; the pads cut.
expect 0 dump "$FIX/torch_convt3d.onnx" && has out '-> (%logits: f32[N,3])' \
    && has out '= conv_transpose(%"/up/ConvTranspose.tall", %up.weight)' \
    && has out 'depth_sum' && has out 'depth_crop'

expect 1 dump "$FIX/bad/conv3d_symbolic_depth.onnx" \
    && has err "a 3-D convolution needs its input's channels, depth, height and width known when the model is read (input 'x' is f32[N,1,D,8,8])"
expect 1 dump "$FIX/bad/conv3d_huge_dilation.onnx" \
    && has err "node 'Conv_0' (Conv): a stride, dilation or pad above 2^31"
finish
