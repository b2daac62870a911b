#!/bin/sh
# The exporter fixtures (tests/fixtures/exporters, tools/make_exporter_fixtures.py
# and tools/make_recurrent_fixtures.py) end to end through the command line:
# each converts with --layers all and samples; each fixed-batch one trains at
# batch 64 as it is and after --input-shape; each other one with training rows
# trains as converted.  Also
# the --input-shape option's errors.
#
# usage: exporters_cli.sh PATH/TO/bnnc   (BNNC_SOURCE_ROOT: the source tree)
set -u
BNNC=$1
ROOT=${BNNC_SOURCE_ROOT:?set BNNC_SOURCE_ROOT}
FIX=$ROOT/tests/fixtures/exporters
TMP=$(mktemp -d /tmp/bnnc-exporters-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib.sh"

# The fixed-batch fixtures and the shape that frees their batch.
freed() {
    case $1 in
    tf2onnx_nhwc) echo input_1=N,8,8,3 ;;
    torch_cnn_op11|torch_cnn_op17) echo input=N,1,12,12 ;;
    onnx18_ops) echo x=N,4,5 ;;
    torch_lstm_batch1) echo x=N,7,6 ;;
    esac
}

models=0
for model in "$FIX"/*.onnx; do
    stem=$(basename "$model" .onnx)
    models=$((models + 1))
    shape=$(freed "$stem")
    set --
    [ -n "$shape" ] && set -- --input-shape "$shape"
    expect 0 convert "$model" --layers all "$@" -o "$TMP/$stem.bnn.onnx" && has out "converted:"
    expect 0 run "$TMP/$stem.bnn.onnx" --input "$FIX/$stem.input.npy" --samples 4 && has out "information"
    if [ -n "$shape" ]; then
        # The fixed batch of 1 is freed by default: the model trains at
        # batch 64 as it is, and evaluates on 64 rows ...
        expect 0 train "$model" --train-x "$FIX/$stem.train_x.npy" --train-y "$FIX/$stem.train_y.npy" \
            --batch 64 --epochs 1 -o "$TMP/$stem.auto.onnx" && has out "epoch 1/1"
        expect 0 eval "$model" --x "$FIX/$stem.train_x.npy" --y "$FIX/$stem.train_y.npy" --samples 2 \
            && has out "accuracy"
        # ... a size in --input-shape keeps it at 1, which refuses 64 rows ...
        expect 1 train "$model" --input-shape "$(echo "$shape" | sed 's/=N,/=1,/')" \
            --train-x "$FIX/$stem.train_x.npy" --train-y "$FIX/$stem.train_y.npy" \
            --batch 64 --epochs 1 -o "$TMP/$stem.fail.onnx" && has err "expects f32[1,"
        # ... and with a symbol, the plain model and the converted one train at batch 64.
        expect 0 train "$model" --input-shape "$shape" --train-x "$FIX/$stem.train_x.npy" \
            --train-y "$FIX/$stem.train_y.npy" --batch 64 --epochs 2 -o "$TMP/$stem.trained.onnx" \
            && has out "epoch 2/2"
        expect 0 train "$TMP/$stem.bnn.onnx" --train-x "$FIX/$stem.train_x.npy" \
            --train-y "$FIX/$stem.train_y.npy" --batch 64 --epochs 2 -o "$TMP/$stem.bnn.trained.onnx" \
            && has out "epoch 2/2"
        expect 0 run "$TMP/$stem.bnn.trained.onnx" --input "$FIX/$stem.train_x.npy" --samples 2 -q
    elif [ -f "$FIX/$stem.train_x.npy" ]; then
        # A model with a batch of its own trains as converted (the nested
        # control-flow fixture's batch is a fixed 2).
        batch=64
        [ "$stem" = onnx_nested_control_flow ] && batch=2
        expect 0 train "$TMP/$stem.bnn.onnx" --train-x "$FIX/$stem.train_x.npy" \
            --train-y "$FIX/$stem.train_y.npy" --batch $batch --epochs 2 -o "$TMP/$stem.bnn.trained.onnx" \
            && has out "epoch 2/2"
    fi
done
[ "$models" -ge 10 ] || fail "only $models fixtures in $FIX"

# ---- --input-shape errors -----------------------------------------------------
M=$FIX/torch_cnn_op11.onnx
expect 2 convert "$M" --input-shape input && has err "expected NAME=DIMS"
expect 2 run "$M" --input "$FIX/torch_cnn_op11.input.npy" --input-shape input=1,1,x.y \
    && has err "dim 2 ('x.y') is neither a size nor a symbol name"
expect 1 convert "$M" --input-shape image=N,1,12,12 -o "$TMP/x.onnx" \
    && has err "--input-shape names 'image', which is no graph input (the inputs are 'input')"
expect 1 bench "$M" --input-shape input=N,1,12 && has err "gives input 'input' 3 dims, but the model's input has rank 4"
expect 1 eval "$M" --x "$FIX/torch_cnn_op11.train_x.npy" --y "$FIX/torch_cnn_op11.train_y.npy" \
    --input-shape input=N,1,12,12,1 && has err "gives input 'input' 5 dims"
expect 0 eval "$M" --x "$FIX/torch_cnn_op11.train_x.npy" --y "$FIX/torch_cnn_op11.train_y.npy" \
    --input-shape input=N,1,12,12 --samples 2 && has out "accuracy"
expect 1 convert "$FIX/bad/pinned_batch.onnx" --input-shape x=N,4 -o "$TMP/x.onnx" \
    && has err "node 'pin' (reshape): reshapes 'x' f32[N,4] to the fixed f32[1,2,2]"
# A size instead of a symbol re-fixes the batch.
expect 0 bench "$M" --input-shape input=3,1,12,12 --iters 2 --warmup 1 --json && has out '"batch": 3'

finish
