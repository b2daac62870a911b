#!/bin/sh
# Models with several inputs through the command line (fixtures in
# tests/fixtures/exporters/multi_input, tools/make_recurrent_fixtures.py):
# a BERT-style classifier on int64 token ids and an attention mask, and a
# model on an f32 image and int64 category ids.  Each array is named after
# its input (--train-x ids=IDS.npy --train-x mask=MASK.npy, and the same for
# --val-x, eval's --x and --ood, calibrate's --x); the models match ONNX
# Runtime, train (one SGD step gives PyTorch's outputs), convert, evaluate,
# calibrate and sample, and the files they write keep their own inputs.
# Wrong names, missing inputs, unequal example counts and values the
# input's type cannot hold are refused, naming what is wrong.
#
# usage: multi_input_cli.sh PATH/TO/bnnc   (BNNC_SOURCE_ROOT: the source tree)
set -u
BNNC=$1
ROOT=${BNNC_SOURCE_ROOT:?set BNNC_SOURCE_ROOT}
FIX=$ROOT/tests/fixtures/exporters/multi_input
TMP=$(mktemp -d /tmp/bnnc-multi-input-XXXXXX)
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

# ---- token ids and an attention mask (int64 both) ----------------------------
M=$FIX/torch_text_mask
IN="--input ids=$M.input.ids.npy --input mask=$M.input.mask.npy"
TX="--train-x ids=$M.train_x.ids.npy --train-x mask=$M.train_x.mask.npy --train-y $M.train_y.npy"
EX="--x ids=$M.train_x.ids.npy --x mask=$M.train_x.mask.npy --y $M.train_y.npy"
expect 0 run "$M.onnx" $IN --output "$TMP/text.npy" --quiet
npy_close "the text model against ONNX Runtime" "$TMP/text.npy" "$M.output.npy"
# the same through run --samples, which packs the inputs (one sample of a
# deterministic model: its output)
expect 0 run "$M.onnx" $IN --samples 1 --task regress --output "$TMP/text.packed.npy" --quiet
npy_close "run --samples with two inputs" "$TMP/text.packed.npy" "$M.output.npy"
# one full-batch SGD step gives PyTorch's model (the embedding, the
# positional table, attention, layer norm, head)
expect 0 train "$M.onnx" $TX --batch 1000 --epochs 1 --optimizer sgd --lr 0.5 -o "$TMP/text.sgd.onnx"
expect 0 run "$TMP/text.sgd.onnx" $IN --output "$TMP/text.sgd.npy" --quiet
npy_close "the text model after one SGD step = PyTorch" "$TMP/text.sgd.npy" "$M.sgd_output.npy"
# the trained file keeps the model's inputs
expect 0 dump "$TMP/text.sgd.onnx" && has out "(%ids: i64[N,9], %mask: i64[N,9])"
# converted, it trains (the loss falls), with a held-out split and with
# named validation arrays, and is evaluated, calibrated and sampled
expect 1 convert "$M.onnx" --x "$M.input.ids.npy" -o "$TMP/text.checked.onnx" \
    && has err "--x checks the posterior on one array of examples, and the model has 2 inputs"
[ ! -e "$TMP/text.checked.onnx" ] || fail "a refused convert wrote its output"
expect 0 convert "$M.onnx" --layers all -o "$TMP/text.bnn.onnx" && has out "converted:"
expect 0 train "$TMP/text.bnn.onnx" $TX --batch 32 --epochs 8 --lr 0.02 --val-split 0.25 \
    -o "$TMP/text.trained.onnx" && has out "epoch 8/8" && has out "calibrated on the 64 held-out examples"
loss_falls "training the converted text model"
expect 0 train "$TMP/text.bnn.onnx" $TX --epochs 1 --val-x "mask=$M.train_x.mask.npy" \
    --val-x "ids=$M.train_x.ids.npy" --val-y "$M.train_y.npy" --no-calibrate -o "$TMP/text.v.onnx" \
    && has out "val acc 0."
expect 0 dump "$TMP/text.trained.onnx" && has out "(%ids: i64[N,9], %mask: i64[N,9])"
expect 0 eval "$TMP/text.trained.onnx" $EX --samples 4 --ood "ids=$M.input.ids.npy" \
    --ood "mask=$M.input.mask.npy" && has out "accuracy" && has out "AUROC"
expect 0 calibrate "$TMP/text.trained.onnx" $EX -o "$TMP/text.cal.onnx" && has out "temperature"
expect 0 dump "$TMP/text.cal.onnx" && has out "(%ids: i64[N,9], %mask: i64[N,9])"
expect 0 run "$TMP/text.cal.onnx" $IN --samples 4 && has out "information"
# a checkpoint holds the model with its own inputs, and resumes
expect 0 train "$TMP/text.bnn.onnx" $TX --epochs 1 --checkpoint "$TMP/ck" -o "$TMP/text.ck.onnx"
expect 0 dump "$TMP/ck/model.onnx" && has out "(%ids: i64[N,9], %mask: i64[N,9])"
expect 0 train "$TMP/text.bnn.onnx" $TX --epochs 2 --resume "$TMP/ck" -o "$TMP/text.resumed.onnx" \
    && has out "epoch 2/2"

# ---- data parallel: two ranks read their rows of every array -----------------
if command -v mpirun >/dev/null 2>&1; then
    mpi2() {
        checks=$((checks + 1))
        LSAN_OPTIONS="suppressions=$ROOT/tests/dist/lsan.supp:print_suppressions=0" \
            ASAN_OPTIONS="${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0" \
            OMPI_MCA_mca_base_component_disable_dlclose=1 \
            mpirun --allow-run-as-root --oversubscribe --quiet -np 2 "$BNNC" "$@" >"$TMP/out" 2>"$TMP/err" \
            || fail "mpirun -np 2 bnnc $* failed"
    }
    expect 0 train "$M.onnx" $TX --epochs 1 --val-split 0.25 --no-calibrate --threads 1 -o "$TMP/one.onnx"
    one=$(grep -o 'data loss [0-9.]*.*val acc [0-9.]*' "$TMP/out")
    mpi2 train "$M.onnx" $TX --epochs 1 --val-split 0.25 --no-calibrate --threads 1 -o "$TMP/two.onnx"
    two=$(grep -o 'data loss [0-9.]*.*val acc [0-9.]*' "$TMP/out")
    checks=$((checks + 1))
    [ -n "$one" ] && [ "$one" = "$two" ] || fail "two ranks trained '$two', one process '$one'"
    expect 0 eval "$TMP/one.onnx" $EX --threads 1 && one=$(grep accuracy "$TMP/out")
    mpi2 eval "$TMP/one.onnx" $EX --threads 1
    two=$(grep accuracy "$TMP/out")
    checks=$((checks + 1))
    [ -n "$one" ] && [ "$one" = "$two" ] || fail "two ranks evaluated '$two', one process '$one'"
fi

# ---- refused ---------------------------------------------------------------
Y="--train-y $M.train_y.npy --epochs 1 -o $TMP/bad.onnx"
expect 2 train "$M.onnx" --train-x "$M.train_x.ids.npy" $Y \
    && has err "the model has 2 inputs ('ids', 'mask'): give --train-x NAME=FILE for each"
expect 2 train "$M.onnx" --train-x "ids=$M.train_x.ids.npy" --train-x "$M.train_x.mask.npy" $Y \
    && has err "with several arrays, name the model input each one is for: --train-x NAME=FILE"
expect 2 train "$M.onnx" --train-x "ids=$M.train_x.ids.npy" --train-x "ids=$M.train_x.mask.npy" $Y \
    && has err "--train-x names input 'ids' twice"
expect 2 train "$M.onnx" --train-x "ids=$M.train_x.ids.npy" --train-x "msk=$M.train_x.mask.npy" $Y \
    && has err "--train-x msk=...: the model has no input 'msk'; its inputs are 'ids', 'mask'"
expect 2 train "$M.onnx" --train-x "ids=$M.train_x.ids.npy" $Y \
    && has err "no --train-x for the model's input 'mask' (its inputs are 'ids', 'mask')"
expect 1 train "$M.onnx" --train-x "ids=$M.train_x.ids.npy" --train-x "mask=$M.input.mask.npy" $Y \
    && has err "torch_text_mask.train_x.ids.npy holds 256 examples but" \
    && has err "torch_text_mask.input.mask.npy holds 5: --train-x mask=... arrays need one row per example each"
expect 1 train "$M.onnx" $TX --epochs 1 --val-x "ids=$M.train_x.ids.npy" --val-y "$M.train_y.npy" \
    -o "$TMP/bad.onnx" && has err "--val-x gives other inputs or other example shapes than --train-x"
expect 1 eval "$M.onnx" --x "ids=$M.train_x.ids.npy" --x "mask=$M.input.ids.npy" --y "$M.train_y.npy" \
    && has err "holds 256 examples but"
# a float64 mask with a 2.5 in it, and one with a row too short
/usr/bin/python3 -c "
import sys, numpy as np
m = np.load(sys.argv[1]).astype(np.float64)
m[7, 4] = 2.5
np.save(sys.argv[2], m)
np.save(sys.argv[3], m[:, :8])" "$M.train_x.mask.npy" "$TMP/mask_half.npy" "$TMP/mask_short.npy"
expect 1 train "$M.onnx" --train-x "ids=$M.train_x.ids.npy" --train-x "mask=$TMP/mask_half.npy" $Y \
    && has err "mask_half.npy: example 7 holds 2.5 (value 4 of 9), but the model's input 'mask' takes i64: whole numbers"
expect 1 eval "$M.onnx" --x "ids=$M.train_x.ids.npy" --x "mask=$TMP/mask_short.npy" --y "$M.train_y.npy" \
    && has err "mask_short.npy: examples are f64[8] each, but the model's input 'mask' takes i64[9] per example"
[ ! -e "$TMP/bad.onnx" ] || fail "a refused training run wrote its output"

# ---- an f32 image and int64 category ids: inputs of two types --------------
S=$FIX/onnx_image_side
SX="--train-x img=$S.train_x.img.npy --train-x side=$S.train_x.side.npy --train-y $S.train_y.npy"
expect 0 run "$S.onnx" --input "img=$S.input.img.npy" --input "side=$S.input.side.npy" \
    --output "$TMP/side.npy" --quiet
npy_close "the image and side model against ONNX Runtime" "$TMP/side.npy" "$S.output.npy"
# exported at batch 1, it trains at batch 32 (the batch is freed on both)
expect 0 train "$S.onnx" $SX --batch 32 --epochs 10 --lr 0.02 -o "$TMP/side.tuned.onnx" \
    && has out "epoch 10/10"
loss_falls "fine-tuning the image and side model"
expect 0 convert "$S.onnx" --layers all -o "$TMP/side.bnn.onnx" && has out "converted:"
expect 0 train "$TMP/side.bnn.onnx" $SX --batch 32 --epochs 10 --lr 0.02 -o "$TMP/side.trained.onnx" \
    && has out "epoch 10/10"
loss_falls "training the converted image and side model"
expect 0 dump "$TMP/side.trained.onnx" && has out "(%img: f32[N,2,3,3], %side: i64[N,2])"
expect 0 eval "$TMP/side.trained.onnx" --x "img=$S.train_x.img.npy" --x "side=$S.train_x.side.npy" \
    --y "$S.train_y.npy" --samples 4 && has out "accuracy"
expect 0 run "$TMP/side.trained.onnx" --input "img=$S.train_x.img.npy" --input "side=$S.train_x.side.npy" \
    --samples 4 && has out "information"
/usr/bin/python3 -c "
import sys, numpy as np
s = np.load(sys.argv[1]).astype(np.float32)
s[3, 1] = 7.5
np.save(sys.argv[2], s)" "$S.train_x.side.npy" "$TMP/side_bad.npy"
expect 1 train "$S.onnx" --train-x "img=$S.train_x.img.npy" --train-x "side=$TMP/side_bad.npy" \
    --train-y "$S.train_y.npy" --epochs 1 -o "$TMP/bad.onnx" \
    && has err "side_bad.npy: example 3 holds 7.5 (value 1 of 2), but the model's input 'side' takes i64: whole numbers"

finish
