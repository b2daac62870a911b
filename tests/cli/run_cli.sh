#!/bin/sh
# Command-line tests of `bnnc run` and `bnnc bench`: exit statuses, messages,
# and results on a tiny classifier and on LeNet-5 with the MNIST sample digits.
#
# usage: run_cli.sh PATH/TO/bnnc   (BNNC_SOURCE_ROOT: the source tree)
set -u
BNNC=$1
ROOT=${BNNC_SOURCE_ROOT:?set BNNC_SOURCE_ROOT}
FIX=$ROOT/tests/cli/fixtures
TMP=$(mktemp -d /tmp/bnnc-cli-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib.sh"

# ---- bnnc run: usage ------------------------------------------------------
expect 0 run --help && has out "usage: bnnc run MODEL.onnx --input" && empty err
expect 2 run && has err "bnnc run: no model given" && has err "Try 'bnnc run --help'"
expect 2 run "$FIX/tiny_classifier.onnx" && has err "no --input given"
expect 2 run "$FIX/tiny_classifier.onnx" --input "$FIX/tiny_x.npy" --bogus \
    && has err "unknown option '--bogus'"
expect 2 run "$FIX/tiny_classifier.onnx" --input && has err "needs a value"
expect 2 run "$FIX/tiny_classifier.onnx" --input "$FIX/tiny_x.npy" --threads many \
    && has err "--threads wants a number"
expect 2 run a.onnx b.onnx --input x.npy && has err "unexpected argument 'b.onnx'"

# ---- bnnc run: missing and wrong files -------------------------------------
expect 1 run "$TMP/missing.onnx" --input "$FIX/tiny_x.npy" && has err "bnnc: $TMP/missing.onnx: "
expect 1 run "$FIX/tiny_classifier.onnx" --input "$TMP/missing.npy" \
    && has err "bnnc: $TMP/missing.npy: cannot open"
expect 1 run "$FIX/tiny_classifier.onnx" --input "$FIX/tiny_x_rank3.npy" \
    && has err "bnnc: $FIX/tiny_x_rank3.npy: input 'input' expects f32[N,1,4,4], got f32[2,4,4]"
expect 1 run "$FIX/tiny_classifier.onnx" --input "$FIX/tiny_x_f64.npy" \
    && has err "input 'input' expects f32[N,1,4,4], got f64[2,1,4,4]"
expect 2 run "$FIX/tiny_classifier.onnx" --input "$FIX/tiny_x.npy" --input "$FIX/tiny_x.npy" \
    && has err "is one too many"
expect 2 run "$FIX/tiny_classifier.onnx" --input "x=$FIX/tiny_x.npy" \
    && has err "the model has no input 'x'; its inputs are: 'input'"
printf 'not a npy file' >"$TMP/junk.npy"
expect 1 run "$FIX/tiny_classifier.onnx" --input "$TMP/junk.npy" && has err "not a .npy file"

# ---- bnnc run: results -----------------------------------------------------
expect 0 run "$FIX/tiny_classifier.onnx" --input "$FIX/tiny_x.npy" \
    && has out "output 'logits': f32[2,3]" && has out "0: class 2" && has out "1: class 2" \
    && has out "softmax"
expect 0 run "$FIX/tiny_classifier.onnx" --input "$FIX/tiny_x.npy" \
    && has out "0: class 2  p=0.6020" && has out "1: class 2  p=0.9867"
# A model that ends in softmax: its rows are shown as they are.
expect 0 run "$FIX/tiny_softmax.onnx" --input "$FIX/tiny_x.npy" \
    && has out "output 'probs': f32[2,3]" && has out "(probability)" \
    && has out "0: class 2  p=0.6020"
expect 0 run "$FIX/tiny_classifier.onnx" --input "input=$FIX/tiny_x.npy" --quiet && empty out
expect 0 run "$FIX/tiny_classifier.onnx" --input "$FIX/tiny_x.npy" --output "$TMP/y.npy" \
    && empty out
checks=$((checks + 1))
if [ "$(wc -c <"$TMP/y.npy" 2>/dev/null)" != 152 ]; then
    fail "--output did not write a 152-byte f32[2,3] .npy"
fi

# LeNet-5 on the MNIST sample digits: digit_K_labelL.npy must come out as L.
LENET=$ROOT/examples/lenet5.onnx
checks=$((checks + 1))
if [ ! -f "$LENET" ]; then
    : >"$TMP/out"
    : >"$TMP/err"
    fail "$LENET is missing (tools/make_lenet5.py makes it)"
else
    for digit in "$ROOT"/examples/digits/digit_*_label*.npy; do
        label=${digit##*_label}
        label=${label%.npy}
        expect 0 run "$LENET" --input "$digit" && has out "0: class $label "
    done
fi

# ---- batch norms folded for inference ---------------------------------------
# run, eval and bench (not --train) fold a batch norm after a conv into its
# weights: the profile has no batch_norm node left, dump (the model as it is)
# still shows both, and run matches PyTorch's eval-mode output
# (tools/make_fold_fixture.py) to float rounding.
expect 0 dump "$FIX/conv_bn.onnx" && has out "batch_norm(%c1" && has out "batch_norm(%c2"
expect 0 bench "$FIX/conv_bn.onnx" --iters 2 --warmup 0 --profile \
    && has out "node 'conv1' (conv)" && has out "node 'conv2' (conv)"
checks=$((checks + 1))
grep -q "(batch_norm)" "$TMP/out" && fail "bench --profile still runs a batch_norm"
expect 0 run "$FIX/conv_bn.onnx" --input "$FIX/conv_bn_x.npy" --output "$TMP/bn_y.npy" --quiet
checks=$((checks + 1))
# max |bnnc - PyTorch| relative to max |PyTorch|, from the two .npy files (f32, C order)
/usr/bin/python3 - "$TMP/bn_y.npy" "$FIX/conv_bn_y.npy" >"$TMP/diff" 2>&1 <<'PY' ||
import struct, sys
def load(path):
    data = open(path, "rb").read()
    n = struct.unpack("<H", data[8:10])[0]
    body = data[10 + n:]
    return struct.unpack("<%df" % (len(body) // 4), body)
a, b = load(sys.argv[1]), load(sys.argv[2])
assert len(a) == len(b) == 96, (len(a), len(b))
print(max(abs(x - y) for x, y in zip(a, b)) / max(abs(y) for y in b))
PY
    fail "could not compare the folded output: $(cat "$TMP/diff")"
awk '{ exit !($1 < 1e-6) }' "$TMP/diff" || fail "folded output off by $(cat "$TMP/diff") (relative)"

# ---- bnnc bench -------------------------------------------------------------
expect 0 bench --help && has out "usage: bnnc bench MODEL.onnx"
expect 2 bench && has err "no model given"
expect 2 bench "$FIX/tiny_classifier.onnx" --batch 0 && has err "--batch wants"
expect 0 bench "$FIX/tiny_classifier.onnx" --batch 4 --iters 5 --warmup 1 --threads 1 --json \
    && has out '"median_ms": ' && has out '"p10_ms": ' && has out '"p90_ms": ' \
    && has out '"samples_per_s": ' && has out '"peak_rss_mib": ' && has out '"batch": 4' \
    && has out '"threads": 1'
# --train measures the step's roofline: fc's forward and weight-gradient
# products (its input depends on no trainable param, so no input gradient)
expect 0 bench "$FIX/tiny_classifier.onnx" --train --batch 4 --iters 2 --warmup 0 --threads 1 \
    --json && has out '"mode": "train"' && has out '"gemm_products": 2' \
    && has out '"roofline_ms": ' && has out '"roofline_ratio": ' && has out '"bandwidth_gbs": '
expect 0 bench "$FIX/tiny_classifier.onnx" --train --batch 4 --iters 2 --warmup 0 \
    && has out "roofline    " && has out "step/roofline"
expect 0 bench "$FIX/tiny_classifier.onnx" --iters 3 && has out "latency     median"
expect 0 bench "$FIX/tiny_classifier.onnx" --iters 2 --warmup 0 --profile \
    && has out "time per node" && has out "node 'fc' (dense)"

finish
