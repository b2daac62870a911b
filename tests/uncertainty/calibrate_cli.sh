#!/bin/sh
# Command-line tests of temperature calibration (issue 12): `bnnc calibrate`
# errors, the fit lowering held-out NLL and travelling in the model file, and
# `bnnc train` calibrating when it holds out validation data (and only then),
# and the KL weight applied as documented.
#
# usage: calibrate_cli.sh PATH/TO/bnnc   (BNNC_SOURCE_ROOT: the source tree)
set -u
BNNC=$1
ROOT=${BNNC_SOURCE_ROOT:?set BNNC_SOURCE_ROOT}
LENET=$ROOT/examples/lenet5.onnx
MNIST=$ROOT/examples/mnist
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/bnnc-calibrate-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib.sh"

# json EXPR: the last line of stdout is a JSON object d; EXPR must hold.
json() {
    checks=$((checks + 1))
    "$PY" -c "import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[-1]); \
assert $1, d" "$TMP/out" >"$TMP/py" 2>&1 || fail "$1: $(cat "$TMP/py")"
}

# bad input: a clear message, a usage status, nothing written
expect 2 calibrate "$LENET" --data "$MNIST" -o "$TMP/c.onnx" && has err "--val-split"
expect 2 calibrate "$LENET" --x "$TMP/none.npy" -o "$TMP/c.onnx" && has err "--x and --y"
expect 2 calibrate "$LENET" --data "$MNIST" --val-split 1.5 -o "$TMP/c.onnx" && has err "--val-split"
expect 2 calibrate "$LENET" --data "$MNIST" --val-split 0.05 && has err "-o OUT.onnx"
expect 1 calibrate "$LENET" --x "$ROOT/examples/digits/batch16.npy" \
    --y "$ROOT/examples/digits/digit_0_label0.npy" -o "$TMP/c.onnx" && has err "label"
[ ! -e "$TMP/c.onnx" ] || fail "a failed calibrate wrote its output"

# A freshly converted model (sigma = 0.1 |w|) is less confident than the
# original; calibration on held-out digits lowers their NLL, and the file
# carries T: calibrating the result again finds T and changes little.
expect 0 convert "$LENET" -o "$TMP/bnn.onnx"
expect 0 calibrate "$TMP/bnn.onnx" --data "$MNIST" --val-split 0.05 --samples 8 --threads 1 \
    --json -o "$TMP/cal.onnx"
json "d['nll_after'] <= d['nll_before'] and d['previous_temperature'] == 1 and d['examples'] == 400"
t=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['temperature'])" "$TMP/out")
expect 0 dump "$TMP/cal.onnx" && has out "@bnnc.temperature"
expect 0 calibrate "$TMP/cal.onnx" --data "$MNIST" --val-split 0.05 --samples 8 --threads 1 \
    --json -o "$TMP/cal2.onnx"
json "abs(d['previous_temperature'] - $t) < 1e-4 * $t and abs(d['temperature'] - $t) < 1e-4 * $t"
expect 0 dump "$TMP/cal2.onnx"
checks=$((checks + 1))
[ "$(grep -c 'bnnc.temperature' "$TMP/out")" -eq 1 ] || fail "calibrating twice made two temperature nodes"

# train: held-out validation -> calibrated at the end; the t10k split -> not.
expect 0 train "$TMP/bnn.onnx" --data "$MNIST" --limit 600 --val-split 0.25 --epochs 1 \
    --samples 4 --threads 1 --seed 1 -o "$TMP/t.onnx" && has out "calibrated on the 150 held-out"
# the widths' change per layer (issue 12 item 3), one entry per Bayesian layer
has out "posterior width, sigma / its start (median, 10%-90%): /conv1/Conv "
checks=$((checks + 1))
[ "$(grep -o 'Gemm [0-9.]* (' "$TMP/out" | wc -l)" = 3 ] || fail "three dense layers' widths expected"
expect 0 dump "$TMP/t.onnx" && has out "@bnnc.temperature"
expect 0 train "$TMP/bnn.onnx" --data "$MNIST" --limit 600 --val-split 0.25 --epochs 1 \
    --samples 4 --threads 1 --seed 1 --no-calibrate -o "$TMP/t2.onnx"
checks=$((checks + 1))
! grep -q "calibrated" "$TMP/out" || fail "--no-calibrate calibrated"
expect 0 train "$TMP/cal.onnx" --data "$MNIST" --limit 300 --epochs 1 --samples 2 --threads 1 \
    -o "$TMP/t3.onnx" && has out "reset to 1"

# The KL weight as documented: loss = dnn_factor * data_loss + bnn_factor * KL,
# KL summed over every weight, bnn_factor 1/N by default (one step of 64).
expect 0 train "$TMP/bnn.onnx" --data "$MNIST" --limit 64 --batch 64 --epochs 1 --samples 1 \
    --threads 1 --json -o "$TMP/k.onnx"
json "d['kl'] > 1e4 and abs(d['loss'] - (d['data_loss'] + d['kl'] / 64)) < 1e-5 * d['loss']"
expect 0 train "$TMP/bnn.onnx" --data "$MNIST" --limit 64 --batch 64 --epochs 1 --samples 1 \
    --threads 1 --json --bnn-factor 0.001 --dnn-factor 2 -o "$TMP/k.onnx"
json "abs(d['loss'] - (2 * d['data_loss'] + 0.001 * d['kl'])) < 1e-5 * d['loss']"
# --kl-scale F is bnn_factor F/N; --prior-sigma sets every layer's prior scale
# (the KL of the same step changes with it).
expect 0 train "$TMP/bnn.onnx" --data "$MNIST" --limit 64 --batch 64 --epochs 1 --samples 1 \
    --threads 1 --json --kl-scale 0.25 -o "$TMP/k.onnx"
json "abs(d['loss'] - (d['data_loss'] + 0.25 * d['kl'] / 64)) < 1e-5 * d['loss']"
kl_default=$("$PY" -c "import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])['kl'])" "$TMP/out")
expect 0 train "$TMP/bnn.onnx" --data "$MNIST" --limit 64 --batch 64 --epochs 1 --samples 1 \
    --threads 1 --json --prior-sigma 1 -o "$TMP/k.onnx"
json "abs(d['kl'] - $kl_default) > 0.1 * $kl_default"
expect 0 dump "$TMP/k.onnx" && has out "prior_sigma=1.0,"
expect 2 train "$TMP/bnn.onnx" --data "$MNIST" --kl-scale 1 --bnn-factor 0.1 -o "$TMP/k2.onnx" &&
    has err "give one"
expect 2 train "$TMP/bnn.onnx" --data "$MNIST" --prior-sigma 0 -o "$TMP/k2.onnx" &&
    has err "prior-sigma"

# --select: nine runs, the one with the lowest calibrated held-out NLL kept,
# no temporary file left; refused without held-out data or with its knobs set.
expect 2 train "$TMP/bnn.onnx" --data "$MNIST" --select -o "$TMP/s.onnx" && has err "held-out"
expect 2 train "$TMP/bnn.onnx" --data "$MNIST" --val-split 0.25 --select --kl-scale 1 \
    -o "$TMP/s.onnx" && has err "chooses"
expect 2 train "$TMP/bnn.onnx" --data "$MNIST" --val-split 0.25 --select --no-calibrate \
    -o "$TMP/s.onnx" && has err "calibrated"
[ ! -e "$TMP/s.onnx" ] || fail "a refused --select wrote its output"
expect 0 train "$TMP/bnn.onnx" --data "$MNIST" --limit 400 --val-split 0.25 --epochs 1 \
    --samples 4 --threads 1 --seed 1 --select --json -o "$TMP/s.onnx"
json "len(d['select']) == 9 and d['chosen']['val_nll'] == min(r['val_nll'] for r in d['select'])"
json "len(set(round(r['val_nll'], 6) for r in d['select'])) > 1"
checks=$((checks + 1))
[ -z "$(ls "$TMP" | grep select)" ] || fail "--select left temporary files: $(ls "$TMP")"
chosen=$("$PY" -c "import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])['chosen']['prior_sigma'])" "$TMP/out")
expect 0 dump "$TMP/s.onnx" && has out "prior_sigma=$chosen"
finish
