#!/bin/sh
# bnnc passes / convert / export from the command line.
#   cli.sh BNNC basic    option handling and errors (needs no model)
#   cli.sh BNNC lenet5   on examples/lenet5.onnx: which layers convert, nothing
#                        else changes, convert+write+read+dump round trip, and
#                        the mean model's outputs equal the original's (needs
#                        the ONNX importer/exporter and `bnnc run`); exits 77
#                        (skipped) while examples/lenet5.onnx is missing.
set -u
BNNC=$1
MODE=${2:-basic}
ROOT=${BNNC_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect STATUS CMD...: runs CMD, output to $TMP/out and $TMP/err, checks the exit status.
expect() {
    want=$1; shift
    "$@" >"$TMP/out" 2>"$TMP/err"
    got=$?
    [ "$got" = "$want" ] || { cat "$TMP/out" "$TMP/err" >&2; fail "'$*' exited $got, expected $want"; }
}
has() { grep -q -e "$2" "$TMP/$1" || { cat "$TMP/$1" >&2; fail "no '$2' in $1"; }; }

if [ "$MODE" = basic ]; then
    expect 0 "$BNNC" passes
    for text in '^canonicalize ' '^dce ' '^fold-batchnorm ' '^to-bnn ' '^bnn-to-mean ' \
                '^lower-bnn-to-onnx ' \
                'layers=all ' 'only= ' 'exclude= ' 'prior_mu=0 ' 'prior_sigma=0.1 ' \
                'init=weights ' 'delta=0.1 ' 'rho_init=-3 ' 'seed=0 ' 'estimator=reparam ' \
                'keep_dropout=false '; do
        has out "$text"
    done
    expect 0 "$BNNC" convert --help
    has out '--prior-sigma'
    has out 'flipout'
    has out '--print-ir-after-all'
    expect 2 "$BNNC" convert
    expect 2 "$BNNC" convert a.onnx --passes 'dce,foo'
    has err "--passes: pipeline column 5: unknown pass 'foo'"
    expect 2 "$BNNC" convert a.onnx --layers dense --passes dce
    has err '--layers cannot be combined with --passes'
    expect 2 "$BNNC" convert a.onnx --estimator bayes
    has err "'bayes' is not reparam, flipout or local"
    expect 2 "$BNNC" convert a.onnx --prior-sigma -1
    has err 'prior_sigma: -1 must be positive'
    expect 2 "$BNNC" convert a.onnx --layers lstmx
    has err "unknown layer type 'lstmx' (expected dense, conv, conv_transpose, lstm, gru, rnn, recurrent or all)"
    expect 2 "$BNNC" convert a.onnx --only 'a b'
    expect 2 "$BNNC" convert a.onnx --emit svg
    expect 2 "$BNNC" convert a.onnx --print-ir-after fold-batchnorm
    has err "--print-ir-after: pass 'fold-batchnorm' is not in the pipeline"
    expect 2 "$BNNC" convert a.onnx --print-ir-after nope
    has err "unknown pass 'nope'"
    expect 1 "$BNNC" convert "$TMP/missing.onnx"
    has err 'missing.onnx'
    expect 0 "$BNNC" export --help
    expect 2 "$BNNC" export a.onnx
    expect 1 "$BNNC" export "$TMP/missing.onnx" --mode standard
    has err 'missing.onnx'
    expect 0 "$BNNC" export --help
    has out 'lower-bnn-to-onnx'
    expect 2 "$BNNC" export a.onnx --mode median
    expect 2 "$BNNC" convert a.onnx --init laplace
    has err 'needs the training examples'
    expect 2 "$BNNC" convert a.onnx --limit 5
    has err '--limit is for --init laplace'
    expect 2 "$BNNC" convert a.onnx --data somewhere --x f.npy
    has err 'not both'
    echo "basic: ok"
    exit 0
fi

MODEL=$ROOT/examples/lenet5.onnx
[ -f "$MODEL" ] || { echo "$MODEL missing: skipped"; exit 77; }
cp "$MODEL" "$TMP/lenet5.onnx"
expect 0 "$BNNC" dump "$TMP/lenet5.onnx"
cp "$TMP/out" "$TMP/orig.ir"

# Lines of an IR dump for the nodes of one op (the op name right after "= ").
ops() { grep -c " = $2(" "$1"; }

# convert LAYERS-FLAGS... -> $TMP/conv.ir (dump of the written file); checks counts.
convert_check() {
    n_dense=$1; n_conv=$2; shift 2
    expect 0 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/c.onnx" "$@"
    cp "$TMP/out" "$TMP/summary"
    expect 0 "$BNNC" dump "$TMP/c.onnx"
    cp "$TMP/out" "$TMP/conv.ir"
    [ "$(ops "$TMP/conv.ir" bnn.dense_reparam)" = "$n_dense" ] || fail "$*: dense_reparam count"
    [ "$(ops "$TMP/conv.ir" bnn.conv_reparam)" = "$n_conv" ] || fail "$*: conv_reparam count"
    [ "$(ops "$TMP/conv.ir" dense)" = "$((3 - n_dense))" ] || fail "$*: dense count"
    [ "$(ops "$TMP/conv.ir" conv)" = "$((2 - n_conv))" ] || fail "$*: conv count"
    # Every line that is not a converted layer or its params is unchanged.
    grep -v -e 'bnn\.' -e '_mu:' -e '_rho:' "$TMP/conv.ir" > "$TMP/conv.rest"
    while IFS= read -r line; do
        grep -q -x -F -e "$line" "$TMP/orig.ir" || fail "$*: line not in the original: $line"
    done < "$TMP/conv.rest"
    # ... and the only original lines gone are each converted layer's node,
    # weight and bias (every LeNet-5 layer has a bias).
    gone=0
    while IFS= read -r line; do
        grep -q -x -F -e "$line" "$TMP/conv.ir" || gone=$((gone + 1))
    done < "$TMP/orig.ir"
    [ "$gone" = "$(( 3 * (n_dense + n_conv) ))" ] || fail "$*: $gone original lines changed"
}

convert_check 3 0 --layers dense
grep -q 'dense *3' "$TMP/summary" || fail "summary: $(cat "$TMP/summary")"
grep -q 'conv *0' "$TMP/summary" || fail "summary: $(cat "$TMP/summary")"
# the param count: mu and rho for each converted weight
convert_check 0 2 --layers conv
convert_check 3 2 --layers all
convert_check 3 2
convert_check 3 2 --layers dense,conv
convert_check 1 0 --only fc1
convert_check 2 2 --exclude fc3
convert_check 2 0 --layers dense --exclude fc3
convert_check 1 1 --only conv2,fc2

# Errors on names.
expect 1 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/e.onnx" --only fc9
has err "no node is named 'fc9'"
expect 1 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/e.onnx" --layers dense --only conv1
has err 'is not a layer of the selected types'
[ ! -e "$TMP/e.onnx" ] || fail "a failed convert left its output"

# Default output name, and --print-ir-after.
# --init laplace: sigmas from the curvature on 300 digits, the prior it picks
# written to every layer, the accuracy guard's note
if [ -d "$ROOT/examples/mnist" ]; then
    expect 0 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/lap.onnx" --init laplace \
        --data "$ROOT/examples/mnist" --limit 300
    has err 'laplace: *300 examples, 61706 weights: prior N(0, '
    has err "16-draw predictive's accuracy on the last 1000 examples"
    expect 0 "$BNNC" dump "$TMP/lap.onnx"
    [ "$(grep -c 'prior_sigma=0\.3[^0-9]' "$TMP/out")" = 0 ] || fail "the fitted prior was not written"
    expect 1 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/lap2.onnx" --init laplace \
        --x "$TMP/missing.npy"
    has err 'missing.npy'
    [ ! -e "$TMP/lap2.onnx" ] || fail "a failed fit wrote its output"
fi
# --prior-mu weights: each layer's trained weight and bias stay as its prior
# inputs (5 and 6); training moves the mus, never the priors; the file reads
# back, samples, runs the moment graph, and exports to the mean and standard
# forms without them.
expect 0 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/pw.onnx" --prior-mu weights
expect 0 "$BNNC" dump "$TMP/pw.onnx"
has out 'bnn.conv_reparam(%input, %conv1.weight_mu, %conv1.weight_rho, %conv1.bias_mu, %conv1.bias_rho, %conv1.weight, %conv1.bias)'
[ "$(grep -c '^  param %fc3.bias: ' "$TMP/out")" = 1 ] || fail "the prior fc3.bias is not kept"
grep '^  param %fc3.bias\(_mu\)\?: ' "$TMP/out" | sed 's/_mu:/:/' >"$TMP/pw_before"
if [ -d "$ROOT/examples/mnist" ]; then
    expect 0 "$BNNC" train "$TMP/pw.onnx" --data "$ROOT/examples/mnist" --limit 256 --epochs 1 \
        --threads 1 -o "$TMP/pwt.onnx"
    expect 0 "$BNNC" dump "$TMP/pwt.onnx"
    grep '^  param %fc3.bias\(_mu\)\?: ' "$TMP/out" | sed 's/_mu:/:/' >"$TMP/pw_after"
    # line 1 the prior (unchanged), line 2 the mu (trained away from it)
    [ "$(sed -n 1p "$TMP/pw_before")" = "$(sed -n 1p "$TMP/pw_after")" ] || fail "training moved the prior"
    [ "$(sed -n 2p "$TMP/pw_before")" != "$(sed -n 2p "$TMP/pw_after")" ] || fail "training did not move the mu"
    expect 0 "$BNNC" run "$TMP/pwt.onnx" --input "$ROOT/examples/digits/batch16.npy" --samples 4 --threads 1
    expect 0 "$BNNC" run "$TMP/pwt.onnx" --input "$ROOT/examples/digits/batch16.npy" --predictive moments --threads 1
fi
for mode in mean standard; do
    expect 0 "$BNNC" export "$TMP/pw.onnx" --mode $mode -o "$TMP/pw_$mode.onnx"
    expect 0 "$BNNC" dump "$TMP/pw_$mode.onnx"
    grep -q 'bnn\.' "$TMP/out" && fail "--mode $mode kept a Bayesian op"
done
# --prior-pi: the scale-mixture prior (reparam only), written to every layer,
# read back, trained (its KL sampled at each draw).
expect 0 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/mx.onnx" --prior-pi 0.5 --prior-sigma 1 \
    --prior-sigma2 0.0025
expect 0 "$BNNC" dump "$TMP/mx.onnx"
[ "$(grep -c 'prior_sigma=1.0, prior_pi=0.5, prior_sigma2=0.0025' "$TMP/out")" = 5 ] ||
    fail "the mixture prior is not on the 5 layers"
if [ -d "$ROOT/examples/mnist" ]; then
    # the sampled KL is not the Gaussian prior's closed form on the same draws
    expect 0 "$BNNC" train "$TMP/mx.onnx" --data "$ROOT/examples/mnist" --limit 256 --epochs 1 \
        --threads 1 -o "$TMP/mxt.onnx"
    kl_mix=$(sed -n 's/.*KL \([0-9.]*\),.*/\1/p' "$TMP/out")
    expect 0 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/g1.onnx" --prior-sigma 1
    expect 0 "$BNNC" train "$TMP/g1.onnx" --data "$ROOT/examples/mnist" --limit 256 --epochs 1 \
        --threads 1 -o "$TMP/g1t.onnx"
    kl_gauss=$(sed -n 's/.*KL \([0-9.]*\),.*/\1/p' "$TMP/out")
    [ -n "$kl_mix" ] && [ -n "$kl_gauss" ] && [ "$kl_mix" != "$kl_gauss" ] ||
        fail "mixture KL '$kl_mix' against the Gaussian's '$kl_gauss'"
    expect 0 "$BNNC" dump "$TMP/mxt.onnx"
    has out 'prior_pi=0.5'
fi
expect 2 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/mx2.onnx" --prior-pi 0.5 --estimator local
has err 'needs estimator=reparam'
expect 2 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/mx2.onnx" --prior-pi 1
has err 'prior_pi: 1 must be in'
[ ! -e "$TMP/mx2.onnx" ] || fail "a refused convert wrote its output"
expect 2 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/pw2.onnx" --prior-mu wat
has err "prior_mu: 'wat' is not a finite number"
# A deep network converted without examples: a note that the widths went
# unchecked (20 layers or more), none for LeNet-5's 5.
if /usr/bin/python3 -c 'import onnx' 2>/dev/null; then
    /usr/bin/python3 - "$TMP/deep.onnx" <<'PY'
import sys
import numpy as np
from onnx import helper, numpy_helper, TensorProto, save
nodes, inits, x = [], [], "x"
for i in range(21):
    inits.append(numpy_helper.from_array(np.eye(4, dtype=np.float32), "w%d" % i))
    nodes.append(helper.make_node("Gemm", [x, "w%d" % i], ["h%d" % i], name="fc%d" % i))
    x = "h%d" % i
g = helper.make_graph(nodes, "deep", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                      [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", 4])], inits)
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1])
PY
    expect 0 "$BNNC" convert "$TMP/deep.onnx" -o "$TMP/deep.bnn.onnx"
    has err 'note:       21 Bayesian layers and no --data or --x'
    expect 0 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/l5.onnx"
    grep -q 'note:' "$TMP/err" && fail "a note for LeNet-5's 5 layers"
fi
# --data with init=weights: MOPED's widths checked against the data and
# halved, with a note, when they would cost more than half a point of
# accuracy (delta 1 does on LeNet-5; the default does not).
if [ -d "$ROOT/examples/mnist" ]; then
    expect 0 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/chk.onnx" --delta 1 --data "$ROOT/examples/mnist"
    has err 'check:      sigma halved'
    expect 0 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/chk.onnx" --data "$ROOT/examples/mnist"
    has err "check:      the 16-draw predictive's accuracy on the last 1000 examples"
    grep -q 'halved' "$TMP/err" && fail "the default delta was halved"
    expect 0 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/chk.onnx" --delta 2 \
        --x "$ROOT/examples/digits/batch16.npy"
    has err "agreement on the last 16 examples"
fi
expect 0 "$BNNC" convert "$TMP/lenet5.onnx" --layers dense --print-ir-after to-bnn
[ -f "$TMP/lenet5.bnn.onnx" ] || fail "no default output lenet5.bnn.onnx"
has err '^// ----- IR dump after to-bnn -----$'
expect 0 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/x.onnx" --print-ir-after-all
[ "$(grep -c '^// ----- IR dump after' "$TMP/err")" = 3 ] || fail "three dumps expected"

# convert, write, read back, dump: identical IR.
expect 0 "$BNNC" convert "$TMP/lenet5.onnx" --layers dense --emit ir -o "$TMP/emitted.ir"
expect 0 "$BNNC" convert "$TMP/lenet5.onnx" --layers dense -o "$TMP/d.onnx"
expect 0 "$BNNC" dump "$TMP/d.onnx"
cmp -s "$TMP/emitted.ir" "$TMP/out" || { diff "$TMP/emitted.ir" "$TMP/out" >&2; fail "round trip"; }
expect 0 "$BNNC" convert "$TMP/lenet5.onnx" --layers dense --emit ir
cmp -s "$TMP/emitted.ir" "$TMP/out" || fail "--emit ir to stdout differs from -o"
has err 'converted:'

# export --mode mean of an init=weights conversion: the original model back.
expect 0 "$BNNC" convert "$TMP/lenet5.onnx" -o "$TMP/all.onnx"
expect 0 "$BNNC" export "$TMP/all.onnx" --mode mean -o "$TMP/mean.onnx"
expect 0 "$BNNC" dump "$TMP/mean.onnx"
[ "$(ops "$TMP/out" dense)" = 3 ] && [ "$(ops "$TMP/out" conv)" = 2 ] || fail "mean model ops"
grep -q 'bnn\.' "$TMP/out" && fail "mean model still has Bayesian ops"
DIGITS=$ROOT/examples/digits/batch16.npy
expect 0 "$BNNC" run "$TMP/lenet5.onnx" --input "$DIGITS" --output "$TMP/y0.npy" --threads 1
expect 0 "$BNNC" run "$TMP/mean.onnx" --input "$DIGITS" --output "$TMP/y1.npy" --threads 1
cmp -s "$TMP/y0.npy" "$TMP/y1.npy" || fail "the mean model's outputs differ from the original's"
# export --mode standard: sampling as standard ONNX ops, no Bayesian op left;
# a seed is reproducible, other seeds give other (finite) outputs.
expect 0 "$BNNC" export "$TMP/all.onnx" --mode standard -o "$TMP/std.onnx"
has out '5 Bayesian layers sampling with standard ONNX ops'
expect 0 "$BNNC" dump "$TMP/std.onnx"
grep -q 'bnn\.' "$TMP/out" && fail "standard model still has Bayesian ops"
[ "$(ops "$TMP/out" random_normal_like)" = 10 ] || fail "standard model: 10 random_normal_like expected"
[ "$(ops "$TMP/out" softplus)" = 10 ] || fail "standard model: 10 softplus expected"
[ "$(ops "$TMP/out" conv)" = 2 ] || fail "standard model: 2 conv expected"
expect 0 "$BNNC" run "$TMP/std.onnx" --input "$DIGITS" --output "$TMP/s1.npy" --seed 1 --threads 1
expect 0 "$BNNC" run "$TMP/std.onnx" --input "$DIGITS" --output "$TMP/s1b.npy" --seed 1 --threads 1
expect 0 "$BNNC" run "$TMP/std.onnx" --input "$DIGITS" --output "$TMP/s2.npy" --seed 2 --threads 1
cmp -s "$TMP/s1.npy" "$TMP/s1b.npy" || fail "standard model: seed 1 gave different outputs"
cmp -s "$TMP/s1.npy" "$TMP/s2.npy" && fail "standard model: seeds 1 and 2 gave the same outputs"
expect 0 "$BNNC" run "$TMP/std.onnx" --input "$DIGITS" --seed 3
grep -qi 'nan\|inf' "$TMP/out" && fail "standard model: non-finite outputs"
# default output name
cp "$TMP/all.onnx" "$TMP/model.onnx"
expect 0 "$BNNC" export "$TMP/model.onnx" --mode standard
[ -f "$TMP/model.standard.onnx" ] || fail "no default output model.standard.onnx"
echo "lenet5: ok"
