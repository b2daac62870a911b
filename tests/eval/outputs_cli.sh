#!/bin/sh
# Command-line tests of issue 11's layer types and output kinds on the models
# of tools/make_output_fixtures.py (tests/fixtures/outputs):
# - ct_output_shape / ct_reparam_output_shape: the ai.bnnc form imports
#   output_shape and auto_pad into the pads and output_padding ConvTranspose
#   gets;
# - upsampler (ConvTranspose 2-D and 1-D, a MatMul with a constant weight):
#   convert --layers conv_transpose / dense / all, the ai.bnnc file reads back
#   to the same IR, export --mode mean gives PyTorch's output, --mode
#   standard runs, every estimator samples and trains;
# - binary (Sigmoid [N, 1]): eval reports accuracy, NLL, ECE and AUROC equal
#   to those computed here from `run --output`'s probabilities; run gives
#   Bernoulli entropies; train --loss bce; --task classify;
# - per_step (Softmax [N, T, C]): eval's per-step accuracy/NLL and the
#   per-sequence uncertainty against `run`'s arrays;
# - tests/fixtures/exporters' GRU and LSTM with --layers recurrent: read back,
#   the mean model is ONNX Runtime's, samples spread, standard export, train;
# - detector (tools/make_detector_fixture.py; dynamic height and width): its
#   box count follows the image's size, which shape inference cannot fix;
#   converted, `run --samples` writes the mean, the draws and the
#   uncertainty at the size each input gives.
#
# usage: outputs_cli.sh PATH/TO/bnnc   (BNNC_SOURCE_ROOT: the source tree)
set -u
BNNC=$1
ROOT=${BNNC_SOURCE_ROOT:?set BNNC_SOURCE_ROOT}
F=$ROOT/tests/fixtures/outputs
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/bnnc-outputs-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib.sh"

# py NAME PYTHON: runs PYTHON (numpy as np, `d` the JSON on stdout if any,
# T the scratch folder, F the fixtures); it asserts.
py() {
    checks=$((checks + 1))
    if ! T="$TMP" F="$F" "$PY" - "$TMP/out" "$2" >"$TMP/py" 2>&1 <<'PYEOF'
import json, os, sys
import numpy as np
out = open(sys.argv[1]).read()
d = json.loads(out) if out.lstrip().startswith('{') else None
T, F = os.environ['T'], os.environ['F']
exec(sys.argv[2])
PYEOF
    then
        fail "$1: $(cat "$TMP/py")"
    fi
}

# ---- ConvTranspose and MatMul layers ----------------------------------------
U=$F/upsampler
expect 0 convert "$U.onnx" --layers conv_transpose -o "$TMP/ct.onnx" \
    && has out "conv_transpose   2  /up2d/ConvTranspose (up2d), /up1d/ConvTranspose (up1d)" \
    && has out "dense            0"
expect 0 convert "$U.onnx" --layers dense -o "$TMP/d.onnx" && has out "dense            1  /fc/MatMul"
expect 0 convert "$U.onnx" --layers all -o "$TMP/all.onnx" && has out "converted:  3 layers"
# written and read back: the same IR as --emit ir
expect 0 convert "$U.onnx" --layers all --emit ir -o "$TMP/all.ir"
expect 0 dump "$TMP/all.onnx"
cmp -s "$TMP/out" "$TMP/all.ir" || fail "ConvTransposeReparam does not read back as written"
has out "bnn.conv_transpose_reparam"
# the posterior mean is the original network (init=weights)
expect 0 export "$TMP/all.onnx" --mode mean -o "$TMP/mean.onnx"
expect 0 run "$TMP/mean.onnx" --input "$U.x.npy" --output "$TMP/mean.npy"
py "mean model = PyTorch" "a = np.load(T + '/mean.npy'); b = np.load(F + '/upsampler.output.npy')
assert a.shape == b.shape and np.abs(a - b).max() <= 1e-4 * np.abs(b).max(), np.abs(a - b).max()"
expect 0 export "$TMP/all.onnx" --mode standard -o "$TMP/std.onnx"
expect 0 dump "$TMP/std.onnx" && has out "conv_transpose(" && has out "random_normal_like("
expect 0 run "$TMP/std.onnx" --input "$U.x.npy" --output "$TMP/std.npy"
for est in reparam local flipout; do
    expect 0 convert "$U.onnx" --estimator $est -o "$TMP/$est.onnx"
    expect 0 run "$TMP/$est.onnx" --input "$U.x.npy" --samples 64 --output "$TMP/$est.npy"
    # the Monte-Carlo mean is near the mean network (sigma = 0.1 |w|)
    py "$est samples around the mean" "a = np.load(T + '/$est.npy'); b = np.load(F + '/upsampler.output.npy')
assert np.abs(a - b).max() <= 0.1 * np.abs(b).max() and np.abs(a - b).max() > 0, np.abs(a - b).max()"
    "$PY" -c "import numpy as np; np.save('$TMP/ty.npy', np.load('$F/upsampler.output.npy'))"
    expect 0 train "$TMP/$est.onnx" --train-x "$U.x.npy" --train-y "$TMP/ty.npy" --loss mse \
        --epochs 2 --batch 3 -o "$TMP/$est.trained.onnx" && has out "epoch 2/2"
done
expect 1 export "$TMP/flipout.onnx" --mode standard -o "$TMP/x.onnx" \
    && has err "estimator 'flipout' cannot be lowered"
# ConvTransposeReparam reads output_shape and auto_pad as ConvTranspose does
expect 0 dump "$F/ct_output_shape.onnx"
sed -n 's/.*conv_transpose(\([^,]*\).*\({strides=[^}]*\)}.*/\1 \2/p' "$TMP/out" > "$TMP/plain.attrs"
expect 0 dump "$F/ct_reparam_output_shape.onnx"
sed -n 's/.*bnn.conv_transpose_reparam(\([^,]*\).*\({strides=[^}]*\), prior_mu=.*/\1 \2/p' \
    "$TMP/out" > "$TMP/bayes.attrs"
[ "$(wc -l < "$TMP/plain.attrs")" = 2 ] && cmp -s "$TMP/plain.attrs" "$TMP/bayes.attrs" \
    || fail "ConvTransposeReparam attributes: $(cat "$TMP/bayes.attrs") vs $(cat "$TMP/plain.attrs")"
checks=$((checks + 1))
expect 1 convert "$U.onnx" --layers recurrent -o "$TMP/x.onnx" && has err "no layer matched"

# ---- recurrent layers: W, R, B through bnn.weight_reparam ---------------------
E=$ROOT/tests/fixtures/exporters
for m in torch_gru_bidir torch_lstm2_dynamic; do
    expect 0 convert "$E/$m.onnx" --layers recurrent -o "$TMP/$m.onnx" && has out "  recurrent  "
    expect 0 convert "$E/$m.onnx" --layers recurrent --emit ir -o "$TMP/$m.ir"
    expect 0 dump "$TMP/$m.onnx"
    cmp -s "$TMP/out" "$TMP/$m.ir" || fail "$m: WeightReparam does not read back as written"
    has out "bnn.weight_reparam("
    expect 0 export "$TMP/$m.onnx" --mode mean -o "$TMP/$m.mean.onnx"
    expect 0 run "$TMP/$m.mean.onnx" --input "$E/$m.input.npy" --output "$TMP/$m.mean.npy"
    py "$m mean = ONNX Runtime" "a = np.load(T + '/$m.mean.npy'); b = np.load('$E/$m.output.npy')
assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max(), np.abs(a - b).max()"
    expect 0 run "$TMP/$m.onnx" --input "$E/$m.input.npy" --samples 16 --task regress \
        --output "$TMP/$m.mc.npy"
    py "$m samples" "a = np.load(T + '/$m.mc.npy'); b = np.load('$E/$m.output.npy')
d = np.abs(a - b).max(); assert 0 < d <= 0.25 * np.abs(b).max() + 0.05, d"
    expect 0 export "$TMP/$m.onnx" --mode standard -o "$TMP/$m.std.onnx"
    expect 0 dump "$TMP/$m.std.onnx" && has out "random_normal_like("
    expect 0 run "$TMP/$m.std.onnx" --input "$E/$m.input.npy" --output "$TMP/$m.std.npy"
    expect 0 train "$TMP/$m.onnx" --train-x "$E/$m.train_x.npy" --train-y "$E/$m.train_y.npy" \
        --epochs 2 --batch 16 -o "$TMP/$m.trained.onnx" && has out "epoch 2/2"
done
expect 0 convert "$E/torch_lstm2_dynamic.onnx" --layers all,recurrent -o "$TMP/both.onnx" \
    && has out "converted:  3 layers" && has out "dense            1"

# ---- a binary classifier: Sigmoid [N, 1] -------------------------------------
B=$F/binary
expect 0 convert "$B.onnx" -o "$TMP/b.onnx"
expect 0 eval "$TMP/b.onnx" --x "$B.x.npy" --y "$B.y.npy" --samples 16 --json
cp "$TMP/out" "$TMP/eval.json"
expect 0 run "$TMP/b.onnx" --input "$B.x.npy" --samples 16 --output "$TMP/bp.npy" \
    --uncertainty "$TMP/bu.npy"
expect 0 run "$TMP/b.onnx" --input "$B.x.npy" --samples 16 --json
py "binary run" "assert d['task'] == 'binary' and d['classes'] == 2, d['task']
u = np.load(T + '/bu.npy'); p = np.load(T + '/bp.npy')
assert p.shape == (64, 2) and np.allclose(p.sum(1), 1, atol=1e-6)
q = p[:, 1].astype(np.float64)
h = -(q * np.log(np.maximum(q, 1e-300)) + (1 - q) * np.log(np.maximum(1 - q, 1e-300)))
assert np.allclose(u[:, 0], h, atol=1e-5), 'predictive entropy is the Bernoulli entropy of the mean'
assert (u[:, 2] >= 0).all() and (u[:, 2] <= u[:, 0] + 1e-6).all()
assert max(e['mutual_information'] for e in d['examples']) > 0"
py "binary eval = metrics of the predictive" "e = json.load(open(T + '/eval.json'))
p = np.load(T + '/bp.npy')[:, 1].astype(np.float64); y = np.load(F + '/binary.y.npy')
assert e['task'] == 'binary' and e['classes'] == 2
acc = ((p > 0.5) == (y == 1)).mean()
assert abs(e['accuracy'] - acc) < 1e-6, (e['accuracy'], acc)
nll = -np.mean(np.log(np.maximum(np.where(y == 1, p, 1 - p), 1e-12)))
assert abs(e['nll'] - nll) < 1e-4 * (1 + nll), (e['nll'], nll)
pos, neg = p[y == 1], p[y == 0]
auroc = np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg])
assert abs(e['auroc'] - auroc) < 1e-6, (e['auroc'], auroc)
conf = np.maximum(p, 1 - p); right = (p > 0.5) == (y == 1)
ece = 0
for b in range(15):
    m = (conf > b / 15) & (conf <= (b + 1) / 15) if b else (conf <= 1 / 15)
    if m.any(): ece += m.mean() * abs(right[m].mean() - conf[m].mean())
assert abs(e['ece'] - ece) < 1e-4, (e['ece'], ece)"
expect 0 run "$B.onnx" --input "$B.x.npy" --task classify --json
py "task classify" "assert d['task'] == 'binary' and len(d['examples']) == 64"
expect 0 train "$TMP/b.onnx" --train-x "$B.x.npy" --train-y "$B.y.npy" --loss bce --epochs 2 \
    --batch 16 -o "$TMP/bt.onnx" && has out "train acc"
expect 0 train "$TMP/b.onnx" --train-x "$B.x.npy" --train-y "$B.y.npy" --loss bce --epochs 1 \
    --batch 16 --val-split 0.25 -o "$TMP/bv.onnx"
checks=$((checks + 1))
grep -q "epoch 1/1: .*train acc [01]\.[0-9]*, val acc [01]\.[0-9]*," "$TMP/out" \
    || fail "bce with --val-split reports no validation accuracy"
expect 0 eval "$TMP/bt.onnx" --x "$B.x.npy" --y "$B.y.npy" --json
py "trained binary" "assert d['accuracy'] >= 0.9, d"
expect 1 train "$F/per_step.onnx" --train-x "$F/per_step.x.npy" --train-y "$F/per_step.y.npy" \
    --loss bce -o "$TMP/x.onnx" && has err "--loss bce needs one probability per example"
"$PY" -c "import numpy as np; np.save('$TMP/y3.npy', np.arange(64) % 3)"
expect 1 train "$B.onnx" --train-x "$B.x.npy" --train-y "$TMP/y3.npy" --loss bce -o "$TMP/x.onnx" \
    && has err "target 2 of example 2 is not in [0, 1]"
expect 2 train "$B.onnx" --train-x "$B.x.npy" --train-y "$B.y.npy" --loss hinge -o "$TMP/x.onnx" \
    && has err "--loss (ce, mse, bce or gaussian)"

# ---- a per-step classifier: Softmax [N, T, C] --------------------------------
P=$F/per_step
expect 0 convert "$P.onnx" -o "$TMP/p.onnx"
expect 0 eval "$TMP/p.onnx" --x "$P.x.npy" --y "$P.y.npy" --samples 8 --json
cp "$TMP/out" "$TMP/peval.json"
expect 0 run "$TMP/p.onnx" --input "$P.x.npy" --samples 8 --output "$TMP/pp.npy" \
    --uncertainty "$TMP/pu.npy" --json
py "per-step eval and run" "e = json.load(open(T + '/peval.json'))
p = np.load(T + '/pp.npy').astype(np.float64); u = np.load(T + '/pu.npy'); y = np.load(F + '/per_step.y.npy')
assert e['task'] == 'per_step' and e['steps'] == 5 and e['classes'] == 3, e
assert p.shape == (32, 5, 3) and u.shape == (32, 5, 3)
acc = (p.argmax(2) == y).mean()
assert abs(e['accuracy'] - acc) < 1e-6, (e['accuracy'], acc)
nll = -np.mean(np.log(np.maximum(np.take_along_axis(p, y[:, :, None], 2), 1e-12)))
assert abs(e['nll'] - nll) < 1e-4 * (1 + nll), (e['nll'], nll)
assert abs(e['sequence_entropy'] - u[:, :, 0].mean()) < 1e-5
assert abs(e['sequence_mutual_information'] - u[:, :, 2].mean()) < 1e-5
ex = d['examples'][3]
assert abs(ex['entropy'] - u[3, :, 0].mean()) < 1e-5 and ex['step_classes'] == list(p[3].argmax(1))"
expect 1 eval "$TMP/p.onnx" --x "$P.x.npy" --y "$B.y.npy" \
    && has err "labels must be [n] for the n rows"
"$PY" -c "import numpy as np; np.save('$TMP/y1.npy', np.zeros(32, dtype=np.int64))"
expect 1 eval "$TMP/p.onnx" --x "$P.x.npy" --y "$TMP/y1.npy" \
    && has err "labels must be [n, steps], one class per step"
expect 1 eval "$TMP/p.onnx" --x "$P.x.npy" --y "$P.y.npy" --predictive moments \
    && has err "per-step classifier (use mc)"
# A detector's box count follows the image: 2560 boxes at 64x64, 3840 at
# 96x64; sampled, the arrays take the size the input gives.
expect 0 run "$F/detector.onnx" --input "$F/detector.wide.npy" --output "$TMP/det.npy" --quiet
expect 0 convert "$F/detector.onnx" -o "$TMP/det.bnn.onnx" && has out "converted:"
expect 0 run "$TMP/det.bnn.onnx" --input "$F/detector.wide.npy" --samples 3 --output "$TMP/det.mean.npy" \
    --uncertainty "$TMP/det.unc.npy" --draws "$TMP/det.draws.npy" --quiet
py "detector samples at the input's size" "a = np.load(T + '/det.mean.npy'); u = np.load(T + '/det.unc.npy')
w = np.load(T + '/det.draws.npy'); d = np.load(T + '/det.npy')
assert d.shape == (2, 3840, 8) and a.shape == d.shape, (d.shape, a.shape)
assert u.shape == (2, 3840, 8, 3) and w.shape == (3, 2, 3840, 8), (u.shape, w.shape)
assert np.allclose(w.mean(0), a, atol=1e-4) and (u[..., 2] > 0).any() and np.isfinite(u).all()"
# The moment predictive plans the detector at the input's size too; its pow
# (box sizes), linear decoding and nearest upsampling have rules, SiLU's
# x * sigmoid(x) is taken as a product of independent operands.  Against
# 400 Monte-Carlo draws: the means within 1% of the outputs' scale and
# the variances in step.
expect 0 run "$TMP/det.bnn.onnx" --input "$F/detector.wide.npy" --predictive moments \
    --output "$TMP/det.mom.npy" --uncertainty "$TMP/det.momu.npy" --quiet
expect 0 run "$TMP/det.bnn.onnx" --input "$F/detector.wide.npy" --samples 400 \
    --output "$TMP/det.mc.npy" --uncertainty "$TMP/det.mcu.npy" --quiet
py "detector moments at the input's size, against 400 draws" "a = np.load(T + '/det.mom.npy'); b = np.load(T + '/det.mc.npy')
u = np.load(T + '/det.momu.npy')[..., 0]; v = np.load(T + '/det.mcu.npy')[..., 0]
assert a.shape == b.shape == (2, 3840, 8), (a.shape, b.shape)
err = np.abs(a - b).mean() / np.abs(b).mean()
r = np.corrcoef(u.ravel(), v.ravel())[0, 1]
assert err < 0.01 and r > 0.98, (err, r)"
expect 0 run "$TMP/det.bnn.onnx" --input "$F/detector.input.npy" --samples 2 --output "$TMP/det1.npy" --quiet
py "detector samples at 64x64" "assert np.load(T + '/det1.npy').shape == (1, 2560, 8)"

finish
