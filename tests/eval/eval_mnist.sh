#!/usr/bin/env bash
# Issue 6's acceptance run on the MNIST sample (8,000 train / 2,000 test digits):
# the bundled trained LeNet-5 converted with --layers all (init=weights, MOPED
# delta 0.1, prior N(0, 0.1)), trained 3 more epochs (Adam, batch 64,
# bnn_factor 1/N, seed 1; lr 1.5e-3 stepped to 1.5e-4 for the last epoch),
# evaluated with 32 weight samples against the deterministic original:
#   1. in-distribution accuracy within 1 point of the original's;
#   2. on the test set rotated 30 degrees, NLL and ECE both lower;
#   3. mutual information tells uniform-noise images from test digits with
#      AUROC >= 0.9.
# The issue leaves the learning rate open.  At a constant 1e-3 this fixture
# (0.978, itself trained with a final low-lr phase) loses 1.3-1.7 points, in
# PyTorch as in bnnc; ending on a low-lr epoch, as the fixture's own training
# did, keeps it within 1 point.  Runs and seeds: docs/uncertainty.md.
# Prints every number and each step's wall time; ~10 s on 2 idle cores.
#
# usage: eval_mnist.sh BNNC   (BNNC_SOURCE_ROOT points at the source tree)
set -u
bnnc=$(realpath "${1:?usage: eval_mnist.sh BNNC}")
root=${BNNC_SOURCE_ROOT:?BNNC_SOURCE_ROOT is not set}
mnist=$root/examples/mnist
lenet=$root/examples/lenet5.onnx
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

failed=0
ok() { echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
# field FILE PATH: a value of the JSON object in FILE, PATH like ood.auroc_mi.
field() {
    /usr/bin/python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d[k]
print(d)' "$1" "$2"
}
# holds EXPR NAME: EXPR (python, on numbers) is true.
holds() {
    if /usr/bin/python3 -c "import sys; sys.exit(0 if ($1) else 1)"; then ok "$2: $1"; else fail "$2: $1"; fi
}
timed() {
    local name=$1
    shift
    local start end
    start=$(date +%s.%N)
    "$@" >"$name.out" 2>"$name.err"
    local rc=$?
    end=$(date +%s.%N)
    printf '%-28s %6.1f s\n' "$name" "$(echo "$end - $start" | bc)"
    if [ $rc -ne 0 ]; then
        fail "$name exited $rc"
        cat "$name.err"
        exit 1
    fi
}

timed convert "$bnnc" convert "$lenet" --layers all --init weights --prior-sigma 0.1 -o bnn.onnx
timed train "$bnnc" train bnn.onnx --data "$mnist" --epochs 3 --batch 64 --lr 1.5e-3 \
    --lr-milestones 2 --optimizer adam --seed 1 --threads 2 -o trained.onnx
cat train.out
eval_args=(--data "$mnist" --json --threads 2)
timed det "$bnnc" eval "$lenet" "${eval_args[@]}" --ood noise
timed det_rot30 "$bnnc" eval "$lenet" "${eval_args[@]}" --shift rotate:30
timed bnn "$bnnc" eval trained.onnx "${eval_args[@]}" --samples 32 --ood noise
timed bnn_rot30 "$bnnc" eval trained.onnx "${eval_args[@]}" --samples 32 --shift rotate:30
for f in det det_rot30 bnn bnn_rot30; do mv "$f.out" "$f.json"; done

acc_d=$(field det.json accuracy)
acc_b=$(field bnn.json accuracy)
nll_d=$(field det_rot30.json nll)
nll_b=$(field bnn_rot30.json nll)
ece_d=$(field det_rot30.json ece)
ece_b=$(field bnn_rot30.json ece)
mi=$(field bnn.json ood.auroc_mi)
ent=$(field bnn.json ood.auroc_entropy)
echo
echo "                      deterministic   Bayesian (32 samples)   PyTorch (issue 6)"
printf 'accuracy              %-15s %-23s 0.973 vs 0.968\n' "$acc_d" "$acc_b"
printf 'rotated 30: NLL       %-15s %-23s 0.73 vs 0.59\n' "$nll_d" "$nll_b"
printf 'rotated 30: ECE       %-15s %-23s 0.10 vs 0.02\n' "$ece_d" "$ece_b"
printf 'noise AUROC, MI       %-15s %-23s 0.92\n' "-" "$mi"
printf 'noise AUROC, entropy  %-15s %-23s\n' "$(field det.json ood.auroc_entropy)" "$ent"
echo
holds "$acc_b >= $acc_d - 0.01" "accuracy within 1 point of the original"
holds "$nll_b < $nll_d" "rotated-30 NLL lower than the original's"
holds "$ece_b < $ece_d" "rotated-30 ECE lower than the original's"
holds "$mi >= 0.9" "noise vs digits AUROC of mutual information"
[ "$failed" -eq 0 ] && echo "all passed" || echo "$failed failed"
[ "$failed" -eq 0 ]
