#!/bin/sh
# Recurrent layers and control flow end to end through the command line
# (fixtures of tools/make_recurrent_fixtures.py): a PyTorch LSTM exported at
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
