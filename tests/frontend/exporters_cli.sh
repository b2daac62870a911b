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
    torch_view_batch1) echo x=N,1,8,8 ;;
    torch_unflatten_batch1) echo x=N,6 ;;
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
    && has err "node 'pin' (reshape): reshapes 'x' f32[N,4] to the fixed f32[2,2]"
# ---- opsets 18 to 21 -------------------------------------------------------
# PyTorch exports raised from opset 17 to 18, 19, 20 and 21
# (tools/make_opset_fixtures.py: Reduce axes as inputs from 18) match ONNX
# Runtime, convert and sample.
opsets=0
for model in "$FIX"/opsets/*.onnx; do
    stem=${model%.onnx}
    opsets=$((opsets + 1))
    expect 0 run "$model" --input "$stem.input.npy" --output "$TMP/opset.npy" --quiet
    checks=$((checks + 1))
    /usr/bin/python3 -c "
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
sys.exit(0 if a.shape == b.shape and np.abs(a - b).max() <= 1e-5 * np.abs(b).max() else 'differs')" \
        "$TMP/opset.npy" "$stem.output.npy" || fail "$(basename "$stem") differs from ONNX Runtime"
    expect 0 convert "$model" --layers all -o "$TMP/opset.bnn.onnx" && has out "converted:"
    expect 0 run "$TMP/opset.bnn.onnx" --input "$stem.input.npy" --samples 2 && has out "information"
done
[ "$opsets" -ge 8 ] || fail "only $opsets opset fixtures in $FIX/opsets"

# ---- Reshapes traced at batch 1 -------------------------------------------
# PyTorch code for one example (x.view(1, -1), a view to (1, 4, 3, 3))
# exported at batch 1 reshapes to constants that hold the batch: with the
# batch freed, their leading 1 copies it, so the models run, train and
# evaluate at batch 64 and match ONNX Runtime at batch 1.
for stem in torch_view_batch1 torch_unflatten_batch1; do
    expect 0 dump "$FIX/$stem.onnx" && has out "{shape=[0, -1]} : f32[N,"
    expect 0 run "$FIX/$stem.onnx" --input "$FIX/$stem.input.npy" --output "$TMP/$stem.out.npy" --quiet
    checks=$((checks + 1))
    /usr/bin/python3 -c "
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
sys.exit(0 if a.shape == b.shape and np.abs(a - b).max() <= 1e-5 * np.abs(b).max() else 'differs')" \
        "$TMP/$stem.out.npy" "$FIX/$stem.output.npy" || fail "$stem differs from ONNX Runtime"
    expect 0 run "$FIX/$stem.onnx" --input "$FIX/$stem.train_x.npy" -q
done
expect 0 dump "$FIX/torch_unflatten_batch1.onnx" && has out "{shape=[0, 4, 3, 3]} : f32[N,4,3,3]"
# The same through --input-shape: a symbol for the declared 1 is the batch.
expect 0 run "$FIX/torch_unflatten_batch1.onnx" --input-shape x=B,6 --input "$FIX/torch_unflatten_batch1.train_x.npy" -q
# Under allowzero=1 a 0 in the target is a size: the leading 1 becomes -1.
# After a Transpose that moved the batch the leading 1 is some other dim:
# that model keeps its batch of 1.
/usr/bin/python3 -c "
import sys, numpy as np
from onnx import TensorProto, helper, numpy_helper
F = TensorProto.FLOAT
def save(path, nodes, x, y, target, opset):
    g = helper.make_graph(nodes, 'g', [helper.make_tensor_value_info('x', F, x)],
                          [helper.make_tensor_value_info('y', F, y)],
                          [numpy_helper.from_array(np.array(target, np.int64), 'target')])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', opset)])
    m.ir_version = 8
    open(path, 'wb').write(m.SerializeToString())
save(sys.argv[1], [helper.make_node('Reshape', ['x', 'target'], ['y'], name='keep', allowzero=1)],
     [1, 6], [1, 3, 2], [1, 3, 2], 14)
save(sys.argv[2], [helper.make_node('Transpose', ['x'], ['t'], perm=[1, 0, 2]),
                   helper.make_node('Reshape', ['t', 'target'], ['y'], name='moved')],
     [1, 2, 3], [1, 6], [1, 6], 13)" "$TMP/allowzero.onnx" "$TMP/moved.onnx"
expect 0 dump "$TMP/allowzero.onnx" && has out "(%x: f32[N,6]) -> (%y: f32[N,3,2])" \
    && has out "{shape=[-1, 3, 2], allowzero=1}"
expect 0 dump "$TMP/moved.onnx" && has out "(%x: f32[1,2,3]) -> (%y: f32[1,6])"
# x.flatten() of the whole batch-1 tensor drops the batch (the output is
# f32[3] whatever it): the model keeps its batch of 1, and more rows are
# refused with a note that says why.
B=$FIX/bad/torch_flatten_all_batch1
expect 0 dump "$B.onnx" && has out "(%x: f32[1,4,5]) -> (%logits: f32[3])"
expect 0 run "$B.onnx" --input "$B.input.npy" --quiet && empty err
/usr/bin/python3 -c "
import sys, numpy as np
np.save(sys.argv[1], np.zeros((2, 4, 5), np.float32))
np.save(sys.argv[2], np.zeros(2, np.int64))" "$TMP/flat_x.npy" "$TMP/flat_y.npy"
expect 1 run "$B.onnx" --input "$TMP/flat_x.npy" \
    && has err "bnnc: note: $B.onnx keeps the batch of 1 it was exported with, so it takes one example at a time: output 'logits' is f32[3] whatever the batch: the model's arithmetic drops the batch it was exported with" \
    && has err "input 'x' expects f32[1,4,5], got f32[2,4,5]"
expect 1 train "$B.onnx" --train-x "$TMP/flat_x.npy" --train-y "$TMP/flat_y.npy" -o "$TMP/flat.onnx" \
    && has err "keeps the batch of 1 it was exported with"

# A size instead of a symbol re-fixes the batch.
expect 0 bench "$M" --input-shape input=3,1,12,12 --iters 2 --warmup 1 --json && has out '"batch": 3'

finish
