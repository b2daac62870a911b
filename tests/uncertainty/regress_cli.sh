#!/bin/sh
# Command-line tests of regression with a learned noise scale (issue 12 item
# 7) on tools/make_regress_fixture.py's MLP (tests/fixtures/regress: y =
# sin(3x) + x^2/2 + N(0, 0.1^2) on [-2, 2]):
# - train --loss gaussian from sigma 1 learns the noise's 0.1 (within 15%);
#   the scale travels in the model file (bnnc.noise_log_sigma), through
#   export --mode mean, and --resume continues bit for bit;
# - eval's RMSE, mixture log-likelihood, variances and coverage recomputed
#   here from `run`'s --output, --uncertainty and --draws (same seed);
# - the converted and trained model's epistemic variance is larger on x
#   outside the training range than inside;
# - bad input: wrong target shape, NaN targets, a classifier, misused options.
#
# usage: regress_cli.sh PATH/TO/bnnc   (BNNC_SOURCE_ROOT: the source tree)
set -u
BNNC=$1
ROOT=${BNNC_SOURCE_ROOT:?set BNNC_SOURCE_ROOT}
F=$ROOT/tests/fixtures/regress
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/bnnc-regress-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib.sh"

# py NAME PYTHON: runs PYTHON (numpy as np, `d` the JSON on the last line of
# stdout if any, T the scratch folder, F the fixtures); it asserts.
py() {
    checks=$((checks + 1))
    if ! T="$TMP" F="$F" "$PY" - "$TMP/out" "$2" >"$TMP/py" 2>&1 <<'PYEOF'
import json, os, sys
import numpy as np
lines = open(sys.argv[1]).read().strip().splitlines()
d = json.loads(lines[-1]) if lines and lines[-1].startswith('{') else None
T, F = os.environ['T'], os.environ['F']
exec(sys.argv[2])
PYEOF
    then
        fail "$1: $(tail -n 3 "$TMP/py")"
    fi
}

DATA="--train-x $F/train.x.npy --train-y $F/train.y.npy"
TEST="--x $F/test.x.npy --y $F/test.y.npy"

# ---- the noise scale is learned ---------------------------------------------
# The plain MLP (no Bayesian layer) fine-tuned by the Gaussian likelihood from
# sigma = 1: sigma must come down to the data's 0.1 (the fit's own residual is
# 0.097 on the training set).
expect 0 train "$F/mlp.onnx" $DATA --loss gaussian --noise-sigma 1 --epochs 200 --batch 32 \
    --threads 1 --json -o "$TMP/plain.onnx"
py "sigma learned from 1" "s = d['noise_sigma']; assert len(s) == 1 and abs(s[0] - 0.1) < 0.015, s"
expect 0 eval "$TMP/plain.onnx" $TEST --json
py "eval reads the scale back" "assert d['task'] == 'regress' and abs(d['noise_sigma'][0] - 0.1) < 0.015, d
assert abs(d['rmse'] - 0.1) < 0.01 and d['epistemic_variance'] == 0 and d['samples'] == 1, d
# a Gaussian of the right width: log-likelihood near -log(0.1 sqrt(2 pi)) - 1/2 = 0.884
assert 0.8 < d['log_likelihood'] < 0.95 and 0.85 < d['coverage_90'] < 0.97, d"
expect 0 dump "$TMP/plain.onnx" && has out "param %bnnc.noise_log_sigma: f32[1]"

# ---- converted and trained: eval against run's arrays -------------------------
expect 0 convert "$F/mlp.onnx" --layers all --delta 0.02 --prior-sigma 1 -o "$TMP/bnn.onnx"
expect 0 train "$TMP/bnn.onnx" $DATA --loss gaussian --epochs 30 --batch 32 --threads 1 \
    -o "$TMP/trained.onnx" && has out "noise scale bnnc.noise_log_sigma: sigma " \
    && has out "(from the RMS residual on the first batch)" && has out "epoch 30/30" \
    && has out "noise sigma "
expect 0 eval "$TMP/trained.onnx" $TEST --samples 24 --seed 5 --json --ood "$F/ood.x.npy"
cp "$TMP/out" "$TMP/eval.json"
expect 0 run "$TMP/trained.onnx" --input "$F/test.x.npy" --samples 24 --seed 5 \
    --output "$TMP/mean.npy" --uncertainty "$TMP/u.npy" --draws "$TMP/draws.npy"
expect 0 run "$TMP/trained.onnx" --input "$F/ood.x.npy" --samples 24 --seed 5 \
    --uncertainty "$TMP/u_ood.npy"
cp "$TMP/eval.json" "$TMP/out"
py "eval = run's arrays" "
y = np.load(F + '/test.y.npy').astype(np.float64)
m = np.load(T + '/mean.npy').astype(np.float64)
u = np.load(T + '/u.npy').astype(np.float64)
f = np.load(T + '/draws.npy').astype(np.float64)
assert m.shape == (256, 1) and u.shape == (256, 1, 3) and f.shape == (24, 256, 1), (m.shape, u.shape, f.shape)
assert np.allclose(f.mean(0), m, atol=1e-5) and np.allclose(f.var(0), u[..., 2], atol=1e-6)
s2 = d['noise_sigma'][0] ** 2
assert np.allclose(u[..., 1], s2, rtol=1e-5) and np.allclose(u[..., 0], u[..., 1] + u[..., 2], rtol=1e-5)
rmse = np.sqrt(np.mean((y - m) ** 2))
assert abs(rmse - d['rmse']) < 1e-5 * max(1, rmse), (rmse, d['rmse'])
# the S-sample mixture of N(f_s, sigma^2), per example, by log-sum-exp
logs = -0.5 * ((y[None] - f) ** 2 / s2 + np.log(2 * np.pi * s2))[..., 0]
top = logs.max(0)
ll = np.mean(top + np.log(np.exp(logs - top).mean(0)))
assert abs(ll - d['log_likelihood']) < 1e-4 * max(1, abs(ll)), (ll, d['log_likelihood'])
assert abs(u[..., 2].mean() - d['epistemic_variance']) < 1e-6 + 1e-4 * d['epistemic_variance']
assert abs(s2 - d['aleatoric_variance']) < 1e-5 * s2
sd = np.sqrt(u[..., 0])
for z, key in ((1.6448536269514722, 'coverage_90'), (1.959963984540054, 'coverage_95')):
    c = np.mean(np.abs(y - m) <= z * sd)
    assert abs(c - d[key]) < 1.5 / 256, (key, c, d[key])
# the posterior-mean model beside it, and its log-likelihood is finite
pm = d['posterior_mean']
assert pm['samples'] == 1 and pm['epistemic_variance'] == 0 and pm['log_likelihood'] is not None
"
py "epistemic variance is larger out of range" "
u = np.load(T + '/u.npy'); o = np.load(T + '/u_ood.npy')
inside, outside = u[..., 2].mean(), o[..., 2].mean()
assert outside > 3 * inside, (inside, outside)
assert d['ood']['examples'] == 128 and d['ood']['auroc_epistemic'] > 0.9, d['ood']
assert abs(d['ood']['epistemic_variance'] - outside) < 1e-4 * outside + 1e-7, (d['ood'], outside)"
expect 0 run "$TMP/trained.onnx" --input "$F/test.x.npy" --samples 4 \
    && has out "then its aleatoric (noise scale) and epistemic (over samples) parts" \
    && has out " +- "
expect 0 eval "$TMP/trained.onnx" $TEST --samples 8 \
    && has out "regressor, 1 output" && has out "S-sample mixture of N(f_s, sigma^2)" \
    && has out "posterior-mean model" && has out "coverage 90%"
# the scale survives export of the posterior mean
expect 0 export "$TMP/trained.onnx" --mode mean -o "$TMP/mean.onnx"
expect 0 eval "$TMP/mean.onnx" $TEST --json
py "mean model keeps the scale" "assert d['noise_sigma'] is not None and d['samples'] == 1, d"
# no noise scale: --task regress, epistemic only, said so
expect 0 eval "$F/mlp.onnx" $TEST --task regress && has out "no noise scale"
expect 0 eval "$TMP/bnn.onnx" $TEST --task regress --json
py "no scale: Gaussian of the samples" "assert d['noise_sigma'] is None and d['aleatoric_variance'] == 0
assert d['log_likelihood_of'] == 'gaussian' and d['log_likelihood'] is not None, d"

# ---- checkpoints: the scale and its Adam moments resume exactly -----------------
expect 0 train "$TMP/bnn.onnx" $DATA --loss gaussian --epochs 4 --batch 64 --threads 1 \
    -o "$TMP/straight.onnx"
expect 0 train "$TMP/bnn.onnx" $DATA --loss gaussian --epochs 2 --batch 64 --threads 1 \
    --checkpoint "$TMP/ck" -o "$TMP/half.onnx"
expect 0 train "$TMP/bnn.onnx" $DATA --loss gaussian --epochs 4 --batch 64 --threads 1 \
    --resume "$TMP/ck" -o "$TMP/resumed.onnx"
checks=$((checks + 1))
cmp -s "$TMP/straight.onnx" "$TMP/resumed.onnx" || fail "--resume is not the uninterrupted run"
# a checkpoint without the noise scale's moments does not resume a gaussian run
expect 0 train "$TMP/bnn.onnx" $DATA --loss mse --epochs 1 --batch 64 --threads 1 \
    --checkpoint "$TMP/ck_mse" -o "$TMP/mse.onnx"
expect 1 train "$TMP/bnn.onnx" $DATA --loss gaussian --epochs 2 --batch 64 --threads 1 \
    --resume "$TMP/ck_mse" -o "$TMP/x.onnx" && has err "optimizer state for"

# ---- bad input ---------------------------------------------------------------------
"$PY" -c "
import numpy as np
y = np.load('$F/train.y.npy'); t = np.load('$F/test.y.npy')
np.save('$TMP/y2.npy', np.concatenate([y, y], 1))
np.save('$TMP/t2.npy', np.concatenate([t, t], 1))
n = y.copy(); n[7, 0] = np.nan; np.save('$TMP/ynan.npy', n)
n = t.copy(); n[3, 0] = np.nan; np.save('$TMP/tnan.npy', n)
np.save('$TMP/tshort.npy', t[:10])
np.save('$TMP/bx.npy', np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32))
np.save('$TMP/by.npy', (np.arange(16) % 2).astype(np.float32).reshape(16, 1))"
expect 1 train "$F/mlp.onnx" --train-x "$F/train.x.npy" --train-y "$TMP/y2.npy" --loss gaussian \
    -o "$TMP/x.onnx" && has err "targets have 2 values per example" && has err "has 1"
expect 1 train "$F/mlp.onnx" --train-x "$F/train.x.npy" --train-y "$TMP/ynan.npy" --loss gaussian \
    -o "$TMP/x.onnx" && has err "example 7 holds NaN"
expect 1 train "$ROOT/tests/fixtures/outputs/binary.onnx" --train-x "$TMP/bx.npy" \
    --train-y "$TMP/by.npy" --loss gaussian -o "$TMP/x.onnx" \
    && has err "comes out of a Sigmoid" && has err "--loss gaussian is for regressors"
expect 2 train "$F/mlp.onnx" $DATA --noise-sigma 0.1 -o "$TMP/x.onnx" \
    && has err "--noise-sigma goes with --loss gaussian"
expect 2 train "$F/mlp.onnx" $DATA --loss gaussian --noise-sigma -1 -o "$TMP/x.onnx" \
    && has err "--noise-sigma"
expect 2 train "$F/mlp.onnx" $DATA --loss gaussian --noise-sigma 0.2 --resume "$TMP/ck" \
    -o "$TMP/x.onnx" && has err "--noise-sigma cannot change a resumed run"
expect 1 eval "$TMP/plain.onnx" --x "$F/test.x.npy" --y "$TMP/t2.npy" \
    && has err "2 values per example" && has err "has 1 per example"
expect 1 eval "$TMP/plain.onnx" --x "$F/test.x.npy" --y "$TMP/tnan.npy" \
    && has err "target 0 of example 3 is NaN"
expect 1 eval "$TMP/plain.onnx" --x "$F/test.x.npy" --y "$TMP/tshort.npy" \
    && has err "10 rows of targets for the 256 examples"
expect 1 eval "$TMP/plain.onnx" --x "$TMP/bx.npy" --y "$TMP/by.npy" \
    && has err "the model's input 'input' takes rows"
expect 2 eval "$TMP/plain.onnx" --data "$ROOT/examples/mnist" --task regress \
    && has err "--task regress takes --x and --y"
expect 2 eval "$TMP/plain.onnx" $TEST --plot "$TMP/p.svg" && has err "is a regressor: --plot"
expect 2 eval "$TMP/plain.onnx" $TEST --task guess && has err "--task wants classify or regress"

finish
