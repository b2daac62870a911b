#!/bin/sh
# Recurrent layers, text and attention models and control flow end to end
# through the command line (fixtures of tools/make_recurrent_fixtures.py):
# a PyTorch LSTM exported at
# batch 1 converts, fine-tunes and trains as a Bayesian model at batch 32
# with its loss falling, and samples; the control-flow model (If, Loop,
# Scan) converts and samples; control flow bnnc cannot unroll is refused
# naming the node and why.
#
# usage: recurrent_cli.sh PATH/TO/bnnc   (BNNC_SOURCE_ROOT: the source tree)
set -u
BNNC=$1
ROOT=${BNNC_SOURCE_ROOT:?set BNNC_SOURCE_ROOT}
FIX=$ROOT/tests/fixtures/exporters
TMP=$(mktemp -d /tmp/bnnc-recurrent-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib.sh"

# loss_falls: the data loss of the last epoch line in out is below the first's.
loss_falls() {
    checks=$((checks + 1))
    first=$(grep -o 'data loss [0-9.]*' "$TMP/out" | head -n 1 | cut -d' ' -f3)
    last=$(grep -o 'data loss [0-9.]*' "$TMP/out" | tail -n 1 | cut -d' ' -f3)
    if [ -z "$first" ] || [ -z "$last" ] || ! awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.9 * a) }'; then
        fail "$1: the data loss went from '$first' to '$last', not down by a tenth"
    fi
}

L=$FIX/torch_lstm_batch1
X="--train-x $L.train_x.npy --train-y $L.train_y.npy"
expect 0 convert "$L.onnx" --layers all -o "$TMP/lstm.bnn.onnx" && has out "converted:  1 layer"
# Plain fine-tuning trains the LSTM's own weights ...
expect 0 train "$L.onnx" $X --batch 32 --epochs 6 --lr 0.01 -o "$TMP/lstm.tuned.onnx" && has out "epoch 6/6"
loss_falls "fine-tuning the LSTM"
# ... and Bayes by Backprop trains the converted model.
expect 0 train "$TMP/lstm.bnn.onnx" $X --batch 32 --epochs 6 --lr 0.01 -o "$TMP/lstm.trained.onnx" \
    && has out "epoch 6/6"
loss_falls "training the converted LSTM"
expect 0 run "$TMP/lstm.trained.onnx" --input "$L.train_x.npy" --samples 4 && has out "information"
expect 0 eval "$TMP/lstm.trained.onnx" --x "$L.train_x.npy" --y "$L.train_y.npy" --samples 4 \
    && has out "accuracy"

# A text classifier takes int64 token ids: they stay integers through
# train, eval, calibrate, run --samples and bench (floats only when whole).
T=$FIX/torch_token_lstm
TX="--train-x $T.train_x.npy --train-y $T.train_y.npy"
expect 0 convert "$T.onnx" --layers all -o "$TMP/tok.bnn.onnx" && has out "converted:  1 layer"
expect 0 train "$TMP/tok.bnn.onnx" $TX --batch 32 --epochs 8 --lr 0.02 --val-split 0.25 \
    -o "$TMP/tok.trained.onnx" && has out "epoch 8/8"
loss_falls "training the converted token LSTM"
expect 0 run "$TMP/tok.trained.onnx" --input "$T.input.npy" --samples 4 && has out "information"
expect 0 eval "$TMP/tok.trained.onnx" --x "$T.train_x.npy" --y "$T.train_y.npy" --samples 4 \
    --ood "$T.input.npy" && has out "AUROC"
expect 0 calibrate "$TMP/tok.trained.onnx" --x "$T.train_x.npy" --y "$T.train_y.npy" \
    -o "$TMP/tok.cal.onnx" && has out "temperature"
expect 0 bench "$TMP/tok.bnn.onnx" --train --batch 8 --iters 3 --warmup 1 && has out "roofline"
# float64 copies of the first 8 rows: whole numbers train, a 2.5 is refused
# naming the example
expect 0 train "$TMP/tok.bnn.onnx" --train-x "$T.float_x.npy" --train-y "$T.float_y.npy" \
    --epochs 1 -o "$TMP/tok.float.onnx" && has out "epoch 1/1"
expect 1 train "$TMP/tok.bnn.onnx" --train-x "$T.bad_x.npy" --train-y "$T.float_y.npy" \
    --epochs 1 -o "$TMP/tok.bad.onnx" \
    && has err "torch_token_lstm.bad_x.npy: example 5 holds 2.5 (value 3 of 9), but the model's input 'ids' takes i64: whole numbers"
[ ! -e "$TMP/tok.bad.onnx" ] || fail "a refused training run wrote its output"
expect 1 eval "$TMP/tok.trained.onnx" --x "$T.bad_x.npy" --y "$T.float_y.npy" \
    && has err "example 5 holds 2.5"
expect 1 eval "$TMP/tok.trained.onnx" --x "$T.train_x.npy" --y "$T.train_y.npy" --ood noise \
    && has err "--ood noise draws float32 images, but the model's input takes i64"
expect 2 eval "$TMP/tok.trained.onnx" --x "$T.train_x.npy" --y "$T.train_y.npy" --shift rotate:30 \
    && has err "--shift rotates float32 images"

# Fine-tuning trains what PyTorch trains: one full-batch SGD step on the
# token LSTM (its embedding table, read by Gather), on a transformer encoder
# (layer norm's scale and shift, the biases added after MatMul) and on the
# class-token model (the token Expand broadcasts) gives PyTorch's outputs
# after the same step.
for m in torch_token_lstm torch_transformer torch_cls_token; do
    expect 0 train "$FIX/$m.onnx" --train-x "$FIX/$m.train_x.npy" --train-y "$FIX/$m.train_y.npy" \
        --batch 1000 --epochs 1 --optimizer sgd --lr 0.5 -o "$TMP/$m.sgd.onnx"
    expect 0 run "$TMP/$m.sgd.onnx" --input "$FIX/$m.input.npy" --output "$TMP/$m.sgd.npy" --quiet
    npy_close "$m after one SGD step = PyTorch" "$TMP/$m.sgd.npy" "$FIX/$m.sgd_output.npy"
done
# ViT's class token is expanded to a batch read from Shape(x): the shape is
# input 1 of expand until a session binds the batch; the converted model
# trains, samples and exports its mean model with the computed Expand.
V=$FIX/torch_cls_token
expect 0 dump "$V.onnx" && has out '= expand(%cls, %'
expect 0 convert "$V.onnx" -o "$TMP/cls.bnn.onnx" && has out "converted:"
expect 0 train "$TMP/cls.bnn.onnx" --train-x "$V.train_x.npy" --train-y "$V.train_y.npy" --epochs 2 \
    -o "$TMP/cls.trained.onnx" && has out "epoch 2/2"
expect 0 run "$TMP/cls.trained.onnx" --input "$V.input.npy" --samples 4 && has out "information"
expect 0 export "$TMP/cls.trained.onnx" --mode mean -o "$TMP/cls.mean.onnx"
expect 0 run "$TMP/cls.mean.onnx" --input "$V.input.npy" --output "$TMP/cls.mean.npy" --quiet

# Swin's shifted windows: Range, Slice and Pad bounds computed from run-time
# sizes become range nodes and slices with inputs; converted, the model
# trains, samples, and its exported mean model runs.
S=$FIX/torch_swin_tiny
expect 0 dump "$S.onnx" && has out '= range(%' && has out '= slice(%'
expect 0 convert "$S.onnx" -o "$TMP/swin.bnn.onnx" && has out "converted:"
expect 0 train "$TMP/swin.bnn.onnx" --train-x "$S.train_x.npy" --train-y "$S.train_y.npy" \
    --epochs 1 -o "$TMP/swin.trained.onnx" && has out "epoch 1/1"
expect 0 run "$TMP/swin.trained.onnx" --input "$S.input.npy" --samples 2 && has out "information"
expect 0 export "$TMP/swin.trained.onnx" --mode mean -o "$TMP/swin.mean.onnx"
expect 0 run "$TMP/swin.mean.onnx" --input "$S.input.npy" --output "$TMP/swin.mean.npy" --quiet

# The transformer's attention reshapes by its activations' Shape (integers,
# no gradient): converted, it trains and samples.
E=$FIX/torch_transformer
expect 0 convert "$E.onnx" --layers all -o "$TMP/enc.bnn.onnx" && has out "converted:"
expect 0 train "$TMP/enc.bnn.onnx" --train-x "$E.train_x.npy" --train-y "$E.train_y.npy" --batch 32 \
    --epochs 10 --lr 0.01 -o "$TMP/enc.trained.onnx" && has out "epoch 10/10"
loss_falls "training the converted transformer"
expect 0 run "$TMP/enc.trained.onnx" --input "$E.input.npy" --samples 4 && has out "information"

C=$FIX/onnx_control_flow
expect 0 convert "$C.onnx" --layers all -o "$TMP/cf.bnn.onnx" && has out "converted:"
expect 0 run "$TMP/cf.bnn.onnx" --input "$C.input.npy" --samples 4 && has out "information"

expect 1 dump "$FIX/bad/loop_data_trip.onnx" \
    && has err "node 'data_loop' (Loop): the trip count is computed from the input data"
expect 1 dump "$FIX/bad/loop_too_long.onnx" \
    && has err "node 'long_loop' (Loop): runs 1000000000 iterations of 2 nodes: unrolling it would copy more than 10000 body nodes"
expect 1 dump "$FIX/bad/loop_while_too_long.onnx" \
    && has err "node 'long_while' (Loop): iteration 3333: expanding control flow would copy more than 10000 body nodes"
expect 1 dump "$FIX/bad/if_data_shapes.onnx" \
    && has err "node 'data_if' (If): the condition is computed from the input data (by 'positive') and output 0 differs between the branches (f32[N,4], f32[1,1])"
expect 1 dump "$FIX/bad/scan_symbolic_length.onnx" \
    && has err "node 'time_scan' (Scan): scan input 'x' has no fixed length along axis 0"
# A length given with --input-shape unrolls it.
expect 0 convert "$FIX/bad/scan_symbolic_length.onnx" --input-shape x=6,4 --emit ir -o "$TMP/scan.ir" \
    --passes dce

finish
