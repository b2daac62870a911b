#!/bin/sh
# Command-line tests of `bnnc eval` and `bnnc run --samples` (issue 6): exit
# statuses and messages on bad input, the JSON both print (keys present,
# values in range and consistent with each other), dataset shift, OOD AUROC,
# and the SVG written by --plot (atomically, well-formed XML).
#
# usage: eval_cli.sh PATH/TO/bnnc eval|run   (BNNC_SOURCE_ROOT: the source tree)
# Uses examples/lenet5.onnx, the MNIST sample and tests/eval/fixtures; JSON and
# XML are checked with /usr/bin/python3 (standard library only).
set -u
BNNC=$1
MODE=${2:-eval}
ROOT=${BNNC_SOURCE_ROOT:?set BNNC_SOURCE_ROOT}
FIX=$ROOT/tests/eval/fixtures
LENET=$ROOT/examples/lenet5.onnx
MNIST=$ROOT/examples/mnist
DIGITS=$ROOT/examples/digits
PY=/usr/bin/python3
TMP=$(mktemp -d /tmp/bnnc-eval-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$ROOT/tests/lib.sh"

# check NAME PYTHON: runs PYTHON with `d` the JSON object on stdout (one
# line), `out` its raw text, `np_load` a .npy reader and `svg` a well-formed
# check; PYTHON asserts.
check() {
    checks=$((checks + 1))
    if ! "$PY" - "$TMP/out" "$2" >"$TMP/py" 2>&1 <<'EOF'
import json, math, struct, sys
import xml.dom.minidom

out = open(sys.argv[1]).read()
d = json.loads(out) if out.lstrip().startswith('{') else None

def np_load(path):
    """A float32/int64 .npy (version 1) as (shape, flat list)."""
    raw = open(path, 'rb').read()
    assert raw[:6] == b'\x93NUMPY', path
    n = struct.unpack('<H', raw[8:10])[0]
    header = eval(raw[10:10 + n].decode())
    count = 1
    for s in header['shape']:
        count *= s
    code = {'<f4': 'f', '<i8': 'q'}[header['descr']]
    return header['shape'], list(struct.unpack('<%d%s' % (count, code), raw[10 + n:]))

def svg(path):
    doc = xml.dom.minidom.parse(path)
    assert doc.documentElement.tagName == 'svg'
    return doc

exec(sys.argv[2])
EOF
    then
        fail "$1: $(tail -n 3 "$TMP/py")"
    fi
}

[ -f "$LENET" ] && [ -d "$MNIST" ] || { echo "examples/ missing"; exit 77; }

# A Bayesian LeNet-5 (MOPED init from the trained weights: accurate without training).
"$BNNC" convert "$LENET" --layers all -o "$TMP/bnn.onnx" >/dev/null 2>&1 \
    || { echo "FAIL: bnnc convert"; exit 1; }

if [ "$MODE" = eval ]; then
# ---- usage and input errors --------------------------------------------------
expect 0 eval --help && has out "usage: bnnc eval MODEL.onnx" && has out "--ood" && empty err
expect 2 eval && has err "expected one model file"
expect 2 eval "$LENET" && has err "give either --data DIR or both --x and --y"
expect 2 eval "$LENET" --x "$DIGITS/batch16.npy" && has err "give either --data"
expect 2 eval "$LENET" --data "$MNIST" --samples 0 && has err "bad value '0'"
expect 2 eval "$LENET" --data "$MNIST" --shift blur:3x && has err "bad value 'blur:3x'"
expect 2 eval "$LENET" --data "$MNIST" --shift rotate:abc && has err "bad value 'rotate:abc'"
expect 2 eval "$LENET" --data "$MNIST" --bogus && has err "unknown option"
expect 1 eval "$TMP/missing.onnx" --data "$MNIST" && has err "bnnc: $TMP/missing.onnx: cannot open"
expect 1 eval "$LENET" --data "$TMP/nowhere" && has err "no t10k-images-idx3-ubyte"
expect 1 eval "$LENET" --x "$TMP/missing.npy" --y "$DIGITS/batch16_labels.npy" \
    && has err "bnnc: $TMP/missing.npy: cannot open"

# Arrays for the error cases, written with the standard library only.
"$PY" - "$TMP" "$DIGITS/batch16.npy" <<'EOF'
import struct, sys
tmp, digits = sys.argv[1], sys.argv[2]
def save(name, descr, shape, values):
    code = {'<f4': 'f', '<i8': 'q'}[descr]
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, repr(tuple(shape)))
    header += ' ' * (63 - (10 + len(header)) % 64) + '\n'
    with open(tmp + '/' + name, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(header)) + header.encode())
        f.write(struct.pack('<%d%s' % (len(values), code), *values))
raw = open(digits, 'rb').read()
n = struct.unpack('<H', raw[8:10])[0]
pixels = list(struct.unpack('<%df' % (16 * 784), raw[10 + n:]))
save('flat.npy', '<f4', (16, 784), pixels)
save('y10.npy', '<i8', (16,), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3, 4, 5])
save('yneg.npy', '<i8', (16,), [-1] * 16)
save('yhalf.npy', '<f4', (16,), [1.5] * 16)
save('yfloat.npy', '<f4', (16,), [0, 2, 2, 6, 9, 1, 2, 1, 4, 3, 9, 3, 7, 8, 1, 8])
save('y5.npy', '<i8', (5,), [0, 1, 2, 3, 4])
save('ood_bad.npy', '<f4', (4, 3, 3), [0.5] * 36)
save('ood7.npy', '<f4', (7, 1, 28, 28), [((i * 7919) % 1000) / 1000 for i in range(7 * 784)])
EOF
X16=$DIGITS/batch16.npy
Y16=$DIGITS/batch16_labels.npy
expect 1 eval "$LENET" --x "$X16" --y "$TMP/y10.npy" \
    && has err "label 10 of example 10 is not a class of this 10-class model (0..9)"
expect 1 eval "$LENET" --x "$X16" --y "$TMP/yneg.npy" && has err "label -1 of example 0"
expect 1 eval "$LENET" --x "$X16" --y "$TMP/yhalf.npy" && has err "is not a whole number"
expect 1 eval "$LENET" --x "$X16" --y "$TMP/y5.npy" && has err "labels must be [n] for the n rows"
expect 1 eval "$LENET" --x "$TMP/flat.npy" --y "$Y16" \
    && has err "rows are f32[784], the model's input 'input' takes rows f32[1,28,28]"
expect 1 eval "$LENET" --x "$TMP/flat.npy" --y "$Y16" --shift rotate:30 \
    && has err "--shift rotate needs images [n, channels, height, width], not f32[16,784]"
expect 1 eval "$LENET" --x "$X16" --y "$Y16" --ood "$TMP/ood_bad.npy" \
    && has err "bnnc: $TMP/ood_bad.npy: rows are f32[3,3]"
expect 1 eval "$LENET" --x "$X16" --y "$Y16" --ood "$TMP/nowhere" && has err "no t10k-images"
expect 1 eval "$FIX/tiny_scalar_regressor.onnx" --x "$FIX/tiny_regressor_x.npy" --y "$TMP/y5.npy" \
    && has err "but not made by a Sigmoid: a regressor?"
expect 1 eval "$LENET" --x "$X16" --y "$Y16" --plot "$TMP/nowhere/p.svg" \
    && has err "bnnc: $TMP/nowhere/p.svg: cannot create a temporary file"
# whole-number float labels are fine
expect 0 eval "$LENET" --x "$X16" --y "$TMP/yfloat.npy" --json \
    && check "float labels" 'assert d["examples"] == 16 and d["accuracy"] == 15 / 16, d'

# ---- the deterministic LeNet-5 -----------------------------------------------
# 0.978 on the 2,000 test digits (examples/lenet5.expected.json); one sample.
expect 0 eval "$LENET" --data "$MNIST" --json && empty err
check "deterministic keys and ranges" '
assert out.count("\n") == 1 and "\r" not in out, "one line, no progress when not a terminal"
for k in ("accuracy", "nll", "brier", "ece", "entropy_correct", "entropy_wrong", "samples"):
    assert k in d, k
assert d["examples"] == 2000 and d["samples"] == 1 and d["classes"] == 10
assert abs(d["accuracy"] - 0.978) < 1e-9, d["accuracy"]
assert 0 < d["nll"] < 0.5 and 0 < d["brier"] < 0.1 and 0 <= d["ece"] < 0.05, d
assert 0 <= d["entropy_correct"] < d["entropy_wrong"] <= math.log(10), d
assert "posterior_mean" not in d and "ood" not in d'
cp "$TMP/out" "$TMP/plain.json"
expect 0 eval "$LENET" --data "$MNIST" --shift rotate:30 --json
check "rotation hurts the deterministic model" '
plain = json.load(open(sys.argv[1].rsplit("/", 1)[0] + "/plain.json"))
assert d["shift"] == "rotate:30"
assert d["accuracy"] < plain["accuracy"] - 0.05, (d["accuracy"], plain["accuracy"])
assert d["nll"] > plain["nll"] and d["ece"] > plain["ece"], (d, plain)'
# the other shifts: each hurts, noise is the same for the same --seed
for sh in translate:3,-2 noise:0.4 contrast:0.25; do
    expect 0 eval "$LENET" --data "$MNIST" --shift $sh --json --seed 3
    check "$sh hurts the deterministic model" "
plain = json.load(open(sys.argv[1].rsplit('/', 1)[0] + '/plain.json'))
assert d['shift'] == '$sh'
assert d['accuracy'] < plain['accuracy'] - 0.02, (d['accuracy'], plain['accuracy'])
assert d['nll'] > plain['nll'], (d, plain)"
done
cp "$TMP/out" "$TMP/contrast.json"
expect 0 eval "$LENET" --data "$MNIST" --shift noise:0.4 --json --seed 3 && cp "$TMP/out" "$TMP/n1.json"
expect 0 eval "$LENET" --data "$MNIST" --shift noise:0.4 --json --seed 3
check "noise:0.4 is the same noise for the same seed" '
n1 = json.load(open(sys.argv[1].rsplit("/", 1)[0] + "/n1.json"))
assert d["accuracy"] == n1["accuracy"] and d["nll"] == n1["nll"], (d, n1)'
expect 0 eval "$LENET" --data "$MNIST" --shift blur:0 --json
check "blur:0 changes nothing" '
plain = json.load(open(sys.argv[1].rsplit("/", 1)[0] + "/plain.json"))
assert abs(d["accuracy"] - plain["accuracy"]) < 1e-9 and abs(d["nll"] - plain["nll"]) < 1e-5'
expect 2 eval "$LENET" --data "$MNIST" --shift spin:30 \
    && has err "bad value 'spin:30' (--shift wants rotate:DEG, translate:DX[,DY], noise:STD, blur:SIGMA or contrast:F)"
expect 2 eval "$LENET" --data "$MNIST" --shift blur:-1 && has err "bad value 'blur:-1'"
expect 0 eval "$LENET" --data "$MNIST" --shift rotate:0 --json
check "rotate:0 changes nothing" '
plain = json.load(open(sys.argv[1].rsplit("/", 1)[0] + "/plain.json"))
assert abs(d["accuracy"] - plain["accuracy"]) < 1e-9 and abs(d["nll"] - plain["nll"]) < 1e-5'
expect 0 eval "$LENET" --data "$MNIST" --ood noise --json
check "deterministic OOD" '
o = d["ood"]
assert o["source"] == "noise" and o["examples"] == 2000
assert 0 <= o["auroc_entropy"] <= 1 and o["auroc_mi"] == 0.5, o  # no spread: MI is 0 everywhere'
expect 0 eval "$LENET" --x "$X16" --y "$Y16" --ood "$TMP/ood7.npy" --json
check "OOD from an array" 'assert d["ood"]["examples"] == 7 and 0 <= d["ood"]["auroc_entropy"] <= 1'
expect 0 eval "$LENET" --data "$MNIST" --limit 200 --ood "$MNIST" --json
check "the test set against itself" '
assert d["examples"] == 200 and d["ood"]["examples"] == 2000
assert 0.4 < d["ood"]["auroc_entropy"] < 0.6, d["ood"]'
expect 0 eval "$LENET" --data "$MNIST" --limit 100 && empty err \
    && has out "on 100 examples" && has out "accuracy" && has out "ECE"

# ---- the Bayesian LeNet-5 ----------------------------------------------------
expect 0 eval "$TMP/bnn.onnx" --data "$MNIST" --limit 300 --samples 4 --ood noise --json
check "Bayesian keys and ranges" '
for k in ("accuracy", "nll", "brier", "ece"):
    assert 0 <= d[k] <= (2 if k == "brier" else 1 if k != "nll" else 50), (k, d[k])
assert d["samples"] == 4 and d["examples"] == 300 and d["accuracy"] > 0.9
m = d["posterior_mean"]
assert m["samples"] == 1 and all(k in m for k in ("accuracy", "nll", "brier", "ece"))
o = d["ood"]
assert 0 <= o["auroc_entropy"] <= 1 and 0 <= o["auroc_mi"] <= 1 and o["auroc_mi"] != 0.5, o'
cp "$TMP/out" "$TMP/bayes.json"
expect 0 eval "$TMP/bnn.onnx" --data "$MNIST" --limit 300 --samples 4 --ood noise --json
check "same seed, same numbers" 'assert d == json.load(open(sys.argv[1].rsplit("/", 1)[0] + "/bayes.json"))'
expect 0 eval "$TMP/bnn.onnx" --data "$MNIST" --limit 300 --samples 4 --seed 7 --json
check "another seed, other samples" '
b = json.load(open(sys.argv[1].rsplit("/", 1)[0] + "/bayes.json"))
assert d["nll"] != b["nll"] and d["posterior_mean"] == b["posterior_mean"]'

# --plot: an awkward model path ends up escaped in a well-formed SVG; written
# through a temporary file that does not stay behind.
mkdir -p "$TMP/plots"
cp "$TMP/bnn.onnx" "$TMP/a&b<c>.onnx"
expect 0 eval "$TMP/a&b<c>.onnx" --data "$MNIST" --limit 200 --samples 3 --ood noise \
    --shift rotate:20 --plot "$TMP/plots/r.svg" && has out "wrote $TMP/plots/r.svg"
check "the SVG" '
import os
plots = sys.argv[1].rsplit("/", 1)[0] + "/plots"
assert os.listdir(plots) == ["r.svg"], os.listdir(plots)
doc = svg(plots + "/r.svg")
text = open(plots + "/r.svg").read()
assert "a&amp;b&lt;c&gt;.onnx" in text
for s in ("Reliability diagram", "Predictive entropy", "posterior-mean model", "out of distribution (200)", "shift rotate:20"):
    assert s in text, s
rects = [r for r in doc.getElementsByTagName("rect") if r.getAttribute("height") and "%" not in r.getAttribute("height")]
assert len(rects) > 30
for r in rects:
    assert float(r.getAttribute("height")) >= 0 and float(r.getAttribute("y")) >= -1, r.toxml()'
# JSON strings are escaped too
expect 0 eval "$TMP/a&b<c>.onnx" --x "$X16" --y "$Y16" --samples 2 --json
check "JSON escapes" 'assert d["model"].endswith("a&b<c>.onnx")'
# a plain (no OOD) plot of the deterministic model overwrites the old file
expect 0 eval "$LENET" --data "$MNIST" --limit 100 --plot "$TMP/plots/r.svg"
check "replaced SVG" '
plots = sys.argv[1].rsplit("/", 1)[0] + "/plots"
import os
assert os.listdir(plots) == ["r.svg"]
text = open(plots + "/r.svg").read()
svg(plots + "/r.svg")
assert "out of distribution" not in text and "lenet5.onnx" in text'
fi

if [ "$MODE" = run ]; then
# ---- bnnc run --samples --------------------------------------------------------
X16=$DIGITS/batch16.npy
expect 0 run --help && has out "--samples S" && has out "--uncertainty" && has out "--task"
expect 2 run "$LENET" --input "$X16" --samples 0 && has err "--samples wants a number"
expect 2 run "$LENET" --input "$X16" --task guess && has err "--task wants classify or regress"
# A Bayesian model defaults to 32 samples and prints the measures.
expect 0 run "$TMP/bnn.onnx" --input "$X16" && has out "16 examples, 32 weight samples" \
    && has out "mutual" && empty err
expect 0 run "$TMP/bnn.onnx" --input "$X16" --samples 8 --json \
    --output "$TMP/mean.npy" --uncertainty "$TMP/u.npy"
check "classifier JSON" '
assert d["task"] == "classify" and d["samples"] == 8 and d["classes"] == 10
ex = d["examples"]
assert len(ex) == 16
labels = [0, 2, 2, 6, 9, 1, 2, 1, 4, 3, 9, 3, 7, 8, 1, 8]
assert sum(e["class"] == l for e, l in zip(ex, labels)) >= 14
shape, mean = np_load(sys.argv[1].rsplit("/", 1)[0] + "/mean.npy")
ushape, u = np_load(sys.argv[1].rsplit("/", 1)[0] + "/u.npy")
assert shape == (16, 10) and ushape == (16, 3), (shape, ushape)
for i, e in enumerate(ex):
    p = e["mean"]
    assert abs(sum(p) - 1) < 1e-4 and max(p) == e["probability"] == p[e["class"]]
    assert all(abs(a - b) < 1e-5 for a, b in zip(p, mean[10 * i:10 * i + 10]))
    h = -sum(q * math.log(q) for q in p if q > 0)
    assert abs(h - e["entropy"]) < 1e-4, (h, e)
    assert 0 <= e["expected_entropy"] <= e["entropy"] + 1e-6 <= math.log(10) + 1e-6
    assert abs(e["entropy"] - e["expected_entropy"] - e["mutual_information"]) < 1e-4
    assert abs(u[3 * i] - e["entropy"]) < 1e-5 and abs(u[3 * i + 2] - e["mutual_information"]) < 1e-5
assert max(e["mutual_information"] for e in ex) > 1e-4'
cp "$TMP/out" "$TMP/s8.json"
expect 0 run "$TMP/bnn.onnx" --input "$X16" --samples 8 --json
check "same seed, same samples" 'assert d == json.load(open(sys.argv[1].rsplit("/", 1)[0] + "/s8.json"))'
expect 0 run "$TMP/bnn.onnx" --input "$X16" --samples 8 --seed 3 --json
check "another seed" 'assert d != json.load(open(sys.argv[1].rsplit("/", 1)[0] + "/s8.json"))'
expect 0 run "$TMP/bnn.onnx" --input "$X16" --samples 1 --json
check "one sample has no epistemic part" '
assert d["samples"] == 1 and all(e["mutual_information"] == 0 for e in d["examples"])'
# A deterministic model: one sample whatever is asked, and its mean is the
# softmax of what a plain run outputs.
expect 0 run "$LENET" --input "$X16" --output "$TMP/logits.npy"
expect 0 run "$LENET" --input "$X16" --samples 8 --json --output "$TMP/p.npy" \
    && has err "no Bayesian layer"
check "deterministic mean is the softmax" '
tmp = sys.argv[1].rsplit("/", 1)[0]
assert d["samples"] == 1
_, z = np_load(tmp + "/logits.npy")
_, p = np_load(tmp + "/p.npy")
for i in range(16):
    row = z[10 * i:10 * i + 10]
    m = max(row)
    e = [math.exp(v - m) for v in row]
    for j in range(10):
        assert abs(e[j] / sum(e) - p[10 * i + j]) < 1e-5
assert all(e["mutual_information"] == 0 for e in d["examples"])'
expect 0 run "$LENET" --input "$X16" && has out "top class per row"   # unchanged without --samples
# Regressors: [N,1] is detected; [N,2] needs --task regress.
"$BNNC" convert "$FIX/tiny_scalar_regressor.onnx" --layers dense -o "$TMP/sreg.onnx" >/dev/null 2>&1
"$BNNC" convert "$FIX/tiny_regressor.onnx" --layers dense -o "$TMP/reg.onnx" >/dev/null 2>&1
expect 0 run "$TMP/sreg.onnx" --input "$FIX/tiny_regressor_x.npy" \
    && has out "5 examples, 32 weight samples (regressor" && has out " +- "
expect 0 run "$TMP/reg.onnx" --input "$FIX/tiny_regressor_x.npy" --task regress --samples 400 \
    --json --output "$TMP/rm.npy" --uncertainty "$TMP/rv.npy"
check "Bayesian regressor" '
tmp = sys.argv[1].rsplit("/", 1)[0]
assert d["task"] == "regress" and d["samples"] == 400 and d["outputs"] == 2
shape, m = np_load(tmp + "/rm.npy")
vshape, v = np_load(tmp + "/rv.npy")
_, want = np_load("'"$FIX"'/tiny_regressor_y.npy")
# --uncertainty: the output shape and (total, aleatoric, epistemic); no noise
# scale, so aleatoric 0 and total = epistemic
assert shape == (5, 2) and vshape == (5, 2, 3) and d["noise_sigma"] is None
v = [v[3 * e + 2] for e in range(10)] if all(v[3 * e + 1] == 0 and v[3 * e] == v[3 * e + 2] for e in range(10)) else None
assert v is not None
for i, e in enumerate(d["examples"]):
    for j in range(2):
        assert abs(e["mean"][j] - m[2 * i + j]) < 1e-5 and abs(e["variance"][j] - v[2 * i + j]) < 1e-6
        assert e["epistemic_variance"][j] == e["variance"][j] and e["aleatoric_variance"][j] == 0
        # MOPED: sigma = 0.1 |w|, so the spread is small and centred on the plain output
        assert 0 < v[2 * i + j] < 0.2, v
        assert abs(m[2 * i + j] - want[2 * i + j]) < 4 * math.sqrt(v[2 * i + j] / 400) + 0.05'
expect 0 run "$FIX/tiny_regressor.onnx" --input "$FIX/tiny_regressor_x.npy" --task regress --json
check "deterministic regressor" '
_, want = np_load("'"$FIX"'/tiny_regressor_y.npy")
assert d["samples"] == 1
for i, e in enumerate(d["examples"]):
    assert e["variance"] == [0, 0]
    assert all(abs(a - b) < 1e-5 for a, b in zip(e["mean"], want[2 * i:2 * i + 2]))'
fi

finish
