#!/bin/sh
# Command-line tests of the moment predictive (issue 13): --predictive and
# --logits on run, eval and bench, and export --mode moments; exit statuses,
# messages and the shape of what they print.
#
# usage: moments_cli.sh PATH/TO/bnnc   (BNNC_SOURCE_ROOT: the source tree)
set -u
BNNC=$1
ROOT=${BNNC_SOURCE_ROOT:?set BNNC_SOURCE_ROOT}
TMP=$(mktemp -d /tmp/bnnc-moments-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib.sh"

LENET=$ROOT/examples/lenet5.onnx
DIGITS=$ROOT/examples/digits/batch16.npy
ACT=$ROOT/tests/fixtures/torch/activations.onnx
expect 0 convert "$LENET" --layers all -o "$TMP/lenet5.bnn.onnx" || exit 1
expect 0 convert "$ACT" --layers all -o "$TMP/act.bnn.onnx" || exit 1

# ---- run ---------------------------------------------------------------------
for rule in sigma draws probit; do
    expect 0 run "$TMP/lenet5.bnn.onnx" --input "$DIGITS" --predictive moments --logits $rule \
        --json && has out '"mean"'
done
expect 2 run "$TMP/lenet5.bnn.onnx" --input "$DIGITS" --predictive moments --logits bogus \
    && has err "--logits wants sigma, draws or probit, not 'bogus'"

# ---- eval --------------------------------------------------------------------
expect 0 eval "$TMP/lenet5.bnn.onnx" --data "$ROOT/examples/mnist" --limit 64 \
    --predictive moments --logits sigma --ood noise --json \
    && has out '"predictive": "moments"' && has out '"samples": 20'
expect 2 eval "$TMP/lenet5.bnn.onnx" --data "$ROOT/examples/mnist" --logits nope \
    && has err "--logits"

# ---- bench -------------------------------------------------------------------
expect 0 bench "$TMP/lenet5.bnn.onnx" --predictive moments --batch 2 --iters 3 --warmup 1 \
    --samples 4 --json && has out '"speedup": ' && has out '"mc_median_ms": ' \
    && has out '"points": 20'
expect 2 bench "$TMP/lenet5.bnn.onnx" --predictive mc && has err "--predictive wants moments or glm"
expect 2 bench "$TMP/lenet5.bnn.onnx" --predictive moments --train \
    && has err "--predictive times inference only"

# ---- export --mode moments ---------------------------------------------------
expect 0 export "$TMP/lenet5.bnn.onnx" --mode moments -o "$TMP/lenet5.moments.onnx" \
    && has out "outputs logits_probit_probabilities, logits, logits_var, logits_cov"
[ -s "$TMP/lenet5.moments.onnx" ] || fail "export --mode moments wrote nothing"
checks=$((checks + 1))
expect 0 export "$TMP/act.bnn.onnx" --predictive moments -o "$TMP/act.moments.onnx" \
    && has out "the moment graph of 4 Bayesian layers"
expect 2 export "$TMP/lenet5.bnn.onnx" --predictive mc && has err "only moments has an export"
expect 2 export "$TMP/lenet5.bnn.onnx" --mode bogus && has err "is not mean, standard or moments"

finish
