#!/usr/bin/env bash
# `mpirun -np K bnnc train|eval` (issue 15): K ranks train the same
# parameters as one process (to 1e-6 relative), including an uneven last
# batch and a run resumed with a different K; eval over K ranks prints
# exactly what one process prints; ranks given different models refuse
# together; a rank that fails or is killed ends the whole job with a message
# and a non-zero status, within seconds, leaving no output file; a SIGINT or
# SIGTERM on any rank stops every rank after the same step with a checkpoint
# that resumes, with any K, sharded or not, to the uninterrupted run.
#
# usage: dist.sh BNNC PARAM_DIFF   (meson passes both; BNNC_SOURCE_ROOT points
# at the source tree).  MPI is started here, as root in CI, so every mpirun
# gets --allow-run-as-root --oversubscribe.  Small data keeps it under a minute.
set -u
bnnc=$(realpath "${1:?usage: dist.sh BNNC PARAM_DIFF}")
param_diff=$(realpath "${2:?usage: dist.sh BNNC PARAM_DIFF}")
root=${BNNC_SOURCE_ROOT:?BNNC_SOURCE_ROOT is not set}
mnist=$root/examples/mnist
digits=$root/examples/digits
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
# OpenMPI's own allocations at start-up are not ours to free (tests/dist/
# lsan.supp).  The suppressions match library names, which LeakSanitizer
# finds only with the slow unwinder (OpenMPI is built without frame
# pointers) and only while the MCA components stay loaded.
export LSAN_OPTIONS="suppressions=$root/tests/dist/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:fast_unwind_on_malloc=0"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export OMPI_MCA_rmaps_base_oversubscribe=1
mpi() { mpirun --allow-run-as-root --oversubscribe --quiet "$@"; }

. "$root/tests/named.sh"

# close NAME A.onnx B.onnx: params agree to 1e-6 relative.
close() {
    if "$param_diff" "$2" "$3" 1e-6 >"$1.diff" 2>&1; then ok "$1 ($(cat "$1.diff"))"; else
        bad "$1: $(cat "$1.diff")"
    fi
}
# epochs FILE: the epoch lines without their timings.
epochs() { grep '^epoch' "$1" | sed 's/, [0-9.]* s (.*//'; }

"$bnnc" convert "$root/tests/fixtures/train/mlp_init.onnx" --prior-sigma 0.1 -o mlp.onnx >/dev/null ||
    { echo "cannot convert the MLP fixture"; exit 1; }

# ---- training: K ranks give one process's parameters ----------------------
# 290 examples in batches of 64: the last batch has 34 rows, uneven over 3.
train=(mlp.onnx --data "$mnist" --limit 290 --batch 64 --epochs 2 --threads 1 --samples 2)
run train_1 0 train "${train[@]}" -o one.onnx
for k in 1 2 3; do
    if run_cmd "train_np$k" 0 mpi -np $k "$bnnc" train "${train[@]}" --no-shard-update \
        -o "np$k.onnx"; then
        close "np $k trains the parameters of one process" one.onnx "np$k.onnx"
        epochs train_1.out >a.txt
        epochs "train_np$k.out" >b.txt
        same "np $k prints one process's losses and accuracies" a.txt b.txt
    fi
done
# --json says where a data-parallel epoch went: the phases of the steps, the
# all-reduce and, within it, the wait for the slowest rank; the parts fit in
# the epoch's seconds.
if run_cmd json_np2 0 mpi -np 2 "$bnnc" train "${train[@]}" --no-shard-update --json \
    -o json2.onnx; then
    if python3 - json_np2.out >json_np2.check 2>&1 <<'EOF'
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{"epoch"')]
assert len(objs) == 2, f"{len(objs)} epoch objects"
for o in objs:
    p = o["phase_seconds"]
    assert set(p) == {"forward", "backward", "finish", "update"}, p
    assert all(v >= 0 for v in p.values()), p
    assert o["ranks"] == 2
    assert 0 <= o["allreduce_wait_seconds"] <= o["allreduce_seconds"], o
    parts = sum(p.values()) + o["allreduce_seconds"]
    assert parts <= o["seconds"] + 0.002, f"phases and all-reduce {parts} s > {o['seconds']} s"
EOF
    then ok "np 2 --json: phase_seconds and the all-reduce's wait fit in the epoch"; else
        bad "np 2 --json timings: $(tail -1 json_np2.check)"; fi
fi
# Per-example draws follow the row's place in the global batch: the local and
# flipout estimators, whose noise differs per example, train one process's
# model too (with an uneven last batch: 290 = 4 x 64 + 34).  SGD, as below:
# with Adam, flipout's sign-flipped gradients leave elements near 0 whose
# reduction rounding Adam's division magnifies to ~1e-5.
for est in local flipout; do
    "$bnnc" convert "$root/tests/fixtures/train/mlp_init.onnx" --prior-sigma 0.1 \
        --estimator "$est" -o "mlp_$est.onnx" >/dev/null || bad "convert --estimator $est"
    e=("mlp_$est.onnx" "${train[@]:1}" --epochs 1 --optimizer sgd --lr 0.01)
    run "${est}_1" 0 train "${e[@]}" -o "${est}1.onnx" &&
        run_cmd "${est}_np3" 0 mpi -np 3 "$bnnc" train "${e[@]}" --no-shard-update \
            -o "${est}3.onnx" &&
        close "np 3 with estimator $est trains the parameters of one process" "${est}1.onnx" \
            "${est}3.onnx"
done
! grep -q 'statistically equal' local_np3.out flipout_np3.out &&
    ok "no note that local and flipout differ from one process" ||
    bad "train still says local or flipout differ over ranks"

# 129 examples: the last batch has 1 row, so 2 of 3 ranks have none in it.
# SGD: its step is linear in the gradient, so the reduction's rounding stays
# at rounding size; Adam divides by sqrt(v) and can blow up the rounding of a
# gradient that nearly cancels (see docs/distributed.md).
tiny=(mlp.onnx --data "$mnist" --limit 129 --batch 64 --epochs 1 --threads 1 --samples 2
      --optimizer sgd --lr 0.01)
run tiny_1 0 train "${tiny[@]}" -o tiny1.onnx &&
    run_cmd tiny_np3 0 mpi -np 3 "$bnnc" train "${tiny[@]}" --no-shard-update -o tiny3.onnx &&
    close "ranks with no rows in a batch still take the step" tiny1.onnx tiny3.onnx
has "the job says it is data parallel" train_np2.out "data parallel over 2 ranks"
if [ "$(grep -c '^epoch' train_np3.out)" = 2 ]; then ok "rank 0 alone prints"; else
    bad "rank 0 alone prints: $(grep -c '^epoch' train_np3.out) epoch lines"; fi

# LeNet-5 with only its dense layers Bayesian (the conv layers' gradients are
# reduced whole, the dense rho gradients derived): over 2 ranks with SGD one
# process's params to 1e-6.  With Adam one element of fc1.weight_mu differs
# by 2.9e-6 (7.6e-6 relative): at the first step its data-loss gradient
# (-2.4654e-3) and its KL gradient cancel to 1.8e-8, twice Adam's eps, where
# the step lr * g / (|g| + eps) moves 0.13 lr per 1e-8 of g, and the 2-rank
# sum rounds the data-loss gradient one ulp (2.3e-10) apart.  No reduction
# order removes that (one process's is no nearer the exact sum), so Adam is
# held to 1e-6 apart from at most 4 such elements, each within a tenth of lr;
# with --eps 1e-6 the same run keeps to 1e-6 everywhere.
"$bnnc" convert "$root/examples/lenet5.onnx" --layers dense -o lenet_dense.onnx >/dev/null ||
    bad "convert lenet5 --layers dense"
ld=(lenet_dense.onnx --data "$mnist" --limit 300 --batch 64 --epochs 1 --threads 1)
for opt in "sgd --lr 0.01" adam "adam --eps 1e-6"; do
    tag=$(echo "$opt" | tr -c 'a-z0-9\n' _)
    # shellcheck disable=SC2086
    run "ld1_$tag" 0 train "${ld[@]}" --optimizer $opt -o "ld1_$tag.onnx" || continue
    for how in --no-shard-update --shard-update; do
        # shellcheck disable=SC2086
        run_cmd "ld2_$tag$how" 0 mpi -np 2 "$bnnc" train "${ld[@]}" --optimizer $opt $how \
            -o "ld2_$tag$how.onnx" || continue
        what="dense-only LeNet, np 2 $how, $opt"
        if [ "$opt" = adam ]; then
            if "$param_diff" "ld1_$tag.onnx" "ld2_$tag$how.onnx" 1e-6 --adam-outliers 4 1e-4 \
                >ld_adam.diff 2>&1; then
                ok "$what: one process's params but for Adam's near-eps gradients ($(cat ld_adam.diff))"
            else
                bad "$what: $(cat ld_adam.diff)"
            fi
        else
            close "$what: one process's params" "ld1_$tag.onnx" "ld2_$tag$how.onnx"
        fi
    done
done

# .npy arrays, read by row lists, with the last quarter held out (and
# validated in batches of 5 over 3 ranks); then a separate validation array.
# One process would end by fitting a temperature on the held-out rows, which
# K ranks leave to a later bnnc calibrate: compare the trained weights alone.
npy=(mlp.onnx --train-x "$digits/batch16.npy" --train-y "$digits/batch16_labels.npy" --batch 5
     --epochs 2 --threads 1 --samples 2 --no-calibrate)
for v in "--val-split 0.25" "--val-x $digits/batch16.npy --val-y $digits/batch16_labels.npy"; do
    tag=${v%% *}
    # shellcheck disable=SC2086
    run "npy$tag" 0 train "${npy[@]}" $v -o "npy1$tag.onnx" &&
        run_cmd "npy_np3$tag" 0 mpi -np 3 "$bnnc" train "${npy[@]}" $v -o "npy3$tag.onnx" &&
        close ".npy rows and $tag over 3 ranks train one process's params" "npy1$tag.onnx" \
            "npy3$tag.onnx"
    epochs "npy$tag.out" >a.txt
    epochs "npy_np3$tag.out" >b.txt
    same ".npy rows and $tag over 3 ranks print one process's accuracies" a.txt b.txt
done

# shellcheck disable=SC2086
run_cmd npy_np2_cal 0 mpi -np 2 "$bnnc" train "${npy[@]::${#npy[@]}-1}" --val-split 0.25 -o npy_cal.onnx &&
    has "K ranks say they leave calibration to bnnc calibrate" npy_np2_cal.out "run bnnc calibrate"

# Stop after one epoch with 2 ranks, resume with 3: the uninterrupted result.
run_cmd ckpt_np2 0 mpi -np 2 "$bnnc" train "${train[@]}" --no-shard-update --epochs 1 \
    --checkpoint ck -o ck1.onnx &&
    run_cmd resume_np3 0 mpi -np 3 "$bnnc" train "${train[@]}" --no-shard-update --resume ck \
        -o resumed.onnx &&
    close "resumed with 3 ranks from a 2-rank checkpoint" one.onnx resumed.onnx

# ---- --shard-update: the KL pass and the optimizer split among the ranks ----
# ZeRO-1 style: the summed gradients are reduce-scattered, each rank finishes
# and updates its slice (uneven over 3 ranks: the MLP's 50,890 summed floats
# are cut in multiples of 16), the params are all-gathered.  One process's
# parameters, to the same 1e-6, with Adam and an uneven last batch.  The
# default under mpirun (measured faster, docs/distributed.md).
for k in 2 3; do
    if run_cmd "shard_np$k" 0 mpi -np $k "$bnnc" train "${train[@]}" -o "shard$k.onnx"; then
        close "np $k --shard-update trains the parameters of one process" one.onnx "shard$k.onnx"
        epochs train_1.out >a.txt
        epochs "shard_np$k.out" >b.txt
        same "np $k --shard-update prints one process's losses and accuracies" a.txt b.txt
    fi
done
has "--shard-update is the default under mpirun" shard_np2.out "KL pass and update sharded"
! grep -q "sharded" train_np2.out && ok "--no-shard-update turns it off" ||
    bad "--no-shard-update still shards: $(grep sharded train_np2.out)"
# local and flipout: rho gradients not derived, so a pair's mu and rho
# gradients fall in different ranks' slices; the scale-mixture prior's
# sampled KL (SGD, as above).  The mixture's second width is 0.05, not the
# default 0.0025: the narrow one's KL curvature (1/0.0025^2 times the KL's
# scale 1/290, times lr 0.01: about 5.5) makes the step amplify any rounding,
# and the sums' different order over 3 ranks alone (unsharded too) then
# reaches 1.9e-6.
"$bnnc" convert "$root/tests/fixtures/train/mlp_init.onnx" --prior-pi 0.5 --prior-sigma 0.5 \
    --prior-sigma2 0.05 -o mlp_mix.onnx >/dev/null || bad "convert --prior-pi"
for m in local flipout mix; do
    e=("mlp_$m.onnx" "${train[@]:1}" --epochs 1 --optimizer sgd --lr 0.01)
    [ "$m" = mix ] && run mix_1 0 train "${e[@]}" -o mix1.onnx
    run_cmd "shard_${m}_np3" 0 mpi -np 3 "$bnnc" train "${e[@]}" --shard-update \
        -o "shard_$m.onnx" &&
        close "np 3 --shard-update with $m trains the parameters of one process" "${m}1.onnx" \
            "shard_$m.onnx"
done
# a rank with no rows in the last batch draws its layers' noise again
run_cmd shard_tiny_np3 0 mpi -np 3 "$bnnc" train "${tiny[@]}" --shard-update -o shard_tiny.onnx &&
    close "np 3 --shard-update: ranks with no rows in a batch still take the step" tiny1.onnx \
        shard_tiny.onnx
# Adam's moments are each rank's own slice's during the run and gathered
# whole for the checkpoint: a sharded checkpoint resumes in one process and
# in 3 unsharded ranks, and an unsharded one in 3 sharded ranks, all to the
# uninterrupted run.
if run_cmd shard_ckpt_np2 0 mpi -np 2 "$bnnc" train "${train[@]}" --epochs 1 --shard-update \
    --checkpoint cks -o cks1.onnx; then
    run shard_resume_1 0 train "${train[@]}" --resume cks -o shard_resumed1.onnx &&
        close "a 2-rank sharded checkpoint resumed by one process" one.onnx shard_resumed1.onnx
    run_cmd shard_resume_np3 0 mpi -np 3 "$bnnc" train "${train[@]}" --no-shard-update --resume cks \
        -o shard_resumed3.onnx &&
        close "a 2-rank sharded checkpoint resumed with 3 unsharded ranks" one.onnx \
            shard_resumed3.onnx
fi
run_cmd shard_resume_plain_np3 0 mpi -np 3 "$bnnc" train "${train[@]}" --resume ck \
    --shard-update -o shard_resumed_plain.onnx &&
    close "a 2-rank checkpoint resumed with 3 sharded ranks" one.onnx shard_resumed_plain.onnx
if run_cmd shard_json_np2 0 mpi -np 2 "$bnnc" train "${train[@]}" --shard-update --json \
    -o shard_json.onnx; then
    if python3 - shard_json_np2.out >shard_json.check 2>&1 <<'EOF'
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{"epoch"')]
assert len(objs) == 2, f"{len(objs)} epoch objects"
for o in objs:
    p = o["phase_seconds"]
    assert 0 <= o["allreduce_wait_seconds"] <= o["allreduce_seconds"], o
    parts = sum(p.values()) + o["allreduce_seconds"]
    assert parts <= o["seconds"] + 0.002, f"phases and communication {parts} s > {o['seconds']} s"
EOF
    then ok "np 2 --shard-update --json: phases and communication fit in the epoch"; else
        bad "np 2 --shard-update --json timings: $(tail -1 shard_json.check)"; fi
fi
# A loss (its KL summed from the ranks' parts) or gradient that is not
# finite stops every rank at the same step, with no output.
fails shard_nan mpi -np 2 "$bnnc" train "${train[@]}" --shard-update --lr 1e30 \
    -o shard_nan.onnx &&
    expect "a sharded step's non-finite loss stops the job" shard_nan.err \
        "epoch 1, step [0-9]+: (the loss is (NaN|infinite)|the gradient of .* is not finite)"
[ ! -e shard_nan.onnx ] && ok "no model from the failed sharded job" || bad "shard_nan.onnx was written"

# ---- a signal mid-epoch: every rank stops after the same step --------------
# BNNC_TEST_SIGNAL="RANK STEP SIG" makes one rank raise SIG on itself before
# step STEP (from 0; 5 steps an epoch here), as a signal reaching one rank
# first would: its wish to stop rides on that step's all-reduce, every rank
# finishes the step and stops, the moments (a sharded run's too) are gathered
# and rank 0 writes a checkpoint mid-epoch, from which --resume with another
# K, sharded or not, ends at the uninterrupted run's parameters.
# sigstop NAME "RANK STEP SIG" STATUS PLACE K [ARGS...]: the stopped run.
sigstop() {
    local name=$1 spec=$2 want=$3 place=$4 k=$5
    shift 5
    rm -rf "ck_$name"
    BNNC_TEST_SIGNAL=$spec run_cmd "$name" "$want" mpi -x BNNC_TEST_SIGNAL -np "$k" \
        "$bnnc" train "${train[@]}" "$@" --checkpoint "ck_$name" -o "$name.onnx" || return 1
    expect "$name: stopped $place, checkpoint written" "$name.err" \
        "^bnnc: stopped by [^ ].* $place: checkpoint written to ck_$name"
    [ ! -e "$name.onnx" ] && ok "$name: no output model" || bad "$name: $name.onnx was written"
}
# resumed NAME CK K [ARGS...]: resumes CK on K ranks, compared with one process.
resumed() {
    local name=$1 ck=$2 k=$3
    shift 3
    run_cmd "$name" 0 mpi -np "$k" "$bnnc" train "${train[@]}" "$@" --resume "$ck" \
        -o "$name.onnx" &&
        close "$name: the uninterrupted run's parameters" one.onnx "$name.onnx"
}
# SIGTERM on rank 1 alone before step 7: rank 0 stops for it too.
if sigstop sig_plain "1 7 15" 143 "in epoch 2 after step 3" 2 --no-shard-update; then
    has "sig_plain: rank 0 names another rank's signal" sig_plain.err \
        "stopped by SIGTERM (caught by another rank) in epoch 2"
    resumed sig_plain_r1 ck_sig_plain 1
    resumed sig_plain_r3s ck_sig_plain 3 --shard-update
fi
# SIGINT on rank 0 of a sharded run, mid epoch 1: its Adam moments are
# spread over the ranks and must reach the checkpoint whole.
if sigstop sig_shard "0 2 2" 130 "in epoch 1 after step 3" 2 --shard-update; then
    has "sig_shard: rank 0 names its signal" sig_shard.err "stopped by SIGINT"
    resumed sig_shard_r1 ck_sig_shard 1
    resumed sig_shard_r2 ck_sig_shard 2 --no-shard-update
    resumed sig_shard_r3s ck_sig_shard 3 --shard-update
fi
# over 3 sharded ranks, rank 2 (uneven slices), and one rank under mpirun
sigstop sig_shard3 "2 3 15" 143 "in epoch 1 after step 4" 3 --shard-update &&
    resumed sig_shard3_r2s ck_sig_shard3 2 --shard-update
sigstop sig_np1 "0 8 15" 143 "in epoch 2 after step 4" 1 &&
    resumed sig_np1_r2s ck_sig_np1 2 --shard-update
# asked in an epoch's last step: that epoch ends, with its checkpoint; in the
# run's last step: the run is complete, but stopped all the same, no output
sigstop sig_edge "1 4 15" 143 "after epoch 1" 2 --shard-update &&
    resumed sig_edge_r1 ck_sig_edge 1
sigstop sig_last "1 9 15" 143 "after epoch 2" 2

# A real SIGTERM to mpirun, which forwards it to every rank (1 s before its
# SIGKILL): the job stops cleanly wherever the signal lands, and the
# checkpoint resumed to that epoch's end is one process's parameters.
# (mpirun itself, not the function mpi, whose subshell would take the signal)
mpirun --allow-run-as-root --oversubscribe --quiet -np 2 "$bnnc" train "${train[@]}" \
    --epochs 100000 --shard-update --checkpoint ck_real -o real.onnx >real.out 2>real.err &
job=$!
for _ in $(seq 300); do [ -e ck_real/state.bin ] && break; sleep 0.1; done
sleep 0.3
kill -TERM "$job"
for _ in $(seq 300); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$job" 2>/dev/null; then
    bad "the job still runs 30 s after SIGTERM"
    kill -9 "$job" 2>/dev/null
else
    wait "$job"
    status=$?
    [ "$status" -ne 0 ] && ok "SIGTERM to mpirun ends the job (status $status)" ||
        bad "the job exited 0 after SIGTERM"
    expect "SIGTERM to mpirun: a checkpoint written" real.err \
        "^bnnc: stopped by SIGTERM (in epoch [0-9]+ after step [0-9]+|after epoch [0-9]+): checkpoint written to ck_real"
    ! grep -q "failed; stopping every rank" real.err && ok "SIGTERM to mpirun: no rank reports a failure" ||
        bad "SIGTERM to mpirun: $(grep failed real.err)"
    [ ! -e real.onnx ] && ok "SIGTERM to mpirun: no output model" || bad "real.onnx was written"
    upto=$(sed -nE 's/^bnnc: stopped by SIGTERM (in epoch ([0-9]+) after step [0-9]+|after epoch ([0-9]+)).*/\2\3/p' real.err)
    if [ -n "$upto" ]; then
        run real_1 0 train "${train[@]}" --epochs "$upto" -o real1.onnx &&
            run_cmd real_resumed 0 mpi -np 3 "$bnnc" train "${train[@]}" --epochs "$upto" \
                --resume ck_real -o real_resumed.onnx &&
            close "SIGTERM to mpirun, resumed on 3 ranks to epoch $upto: one process's parameters" \
                real1.onnx real_resumed.onnx
    fi
fi

# ---- eval: K ranks print exactly one process's numbers --------------------
ev=(one.onnx --data "$mnist" --samples 3 --batch 300 --threads 1 --json --ood noise)
run eval_1 0 eval "${ev[@]}" &&
    for k in 2 3; do
        run_cmd "eval_np$k" 0 mpi -np $k "$bnnc" eval "${ev[@]}" &&
            same "eval over $k ranks prints one process's JSON" eval_1.out "eval_np$k.out"
    done
# .npy input read by row ranges: 16 examples in batches of 4 over 3 ranks.
# Per-row draws keyed by the row's place in the whole set: the moment
# predictive's logit draws, and Monte-Carlo over a local-estimator model.
for mode in "one.onnx --predictive moments --logits draws --samples 8" \
    "local1.onnx --samples 3"; do
    tag=$(echo "$mode" | cut -d' ' -f1,3 | tr -c 'a-z0-9\n' _)
    # shellcheck disable=SC2086
    run "evald_$tag" 0 eval $mode --data "$mnist" --limit 500 --batch 100 --threads 1 --json &&
        run_cmd "evald3_$tag" 0 mpi -np 3 "$bnnc" eval $mode --data "$mnist" --limit 500 \
            --batch 100 --threads 1 --json &&
        same "eval ($mode) over 3 ranks prints one process's JSON" "evald_$tag.out" \
            "evald3_$tag.out"
done
evx=(one.onnx --x "$digits/batch16.npy" --y "$digits/batch16_labels.npy" --samples 4 --batch 4
     --threads 1)
run evalx_1 0 eval "${evx[@]}" &&
    run_cmd evalx_np3 0 mpi -np 3 "$bnnc" eval "${evx[@]}" &&
    same "eval of .npy rows over 3 ranks prints one process's text" evalx_1.out evalx_np3.out

# ---- faults ----------------------------------------------------------------
# Rank 1 was given another model.
"$bnnc" convert "$root/tests/fixtures/train/mlp_init.onnx" --prior-sigma 0.5 -o other.onnx \
    >/dev/null
fails mismatch mpi -np 1 "$bnnc" eval "${ev[@]}" : -np 1 "$bnnc" eval other.onnx \
    --data "$mnist" --samples 3 --batch 300 --threads 1 --json --ood noise &&
    has "a rank with another model names itself" mismatch.err "rank 1: the model differs from rank 0's"
fails mismatch_train mpi -np 1 "$bnnc" train "${train[@]}" -o mm.onnx : \
    -np 1 "$bnnc" train "${train[@]}" --batch 32 -o mm.onnx &&
    has "ranks given different options refuse to train" mismatch_train.err "training data or options differs"
[ ! -e mm.onnx ] && ok "no model written by a refused job" || bad "mm.onnx was written"

# The test images promise 2000 rows but hold 1200: rank 1's rows (1024 on in
# batches of 256) are missing, rank 0's are there.
mkdir -p short
cp "$mnist"/t10k-labels-idx1-ubyte.gz short/
zcat "$mnist/t10k-images-idx3-ubyte.gz" | head -c $((16 + 1200 * 784)) | gzip >short/t10k-images-idx3-ubyte.gz
start=$(date +%s)
fails short mpi -np 2 "$bnnc" eval one.onnx --data short --samples 2 --threads 1 --plot short.svg &&
    has "a rank whose shard is cut short says where" short.err "t10k-images-idx3-ubyte.gz: the file ends inside the rows asked for"
has "and the job says which rank stopped it" short.err "rank 1 of 2 failed"
[ ! -e short.svg ] && ok "no plot from a failed job" || bad "short.svg was written"
[ $(($(date +%s) - start)) -le 30 ] && ok "the failed job ended within 30 s" || bad "it took $(($(date +%s) - start)) s"

# A rank killed mid-training ends the job: no hang, no output, non-zero; the
# checkpoint it was writing every few steps still resumes.
mpi -np 2 "$bnnc" train mlp.onnx --data "$mnist" --limit 64 --epochs 100000 --batch 16 \
    --threads 1 --samples 1 --val-split 0.25 --checkpoint ck2 -o killed.onnx >killed.out \
    2>killed.err &
job=$!
victim=""
for _ in $(seq 100); do
    # a rank (mpirun's command line holds "bnnc train" too, after its options)
    victim=$(pgrep -f "^$bnnc train mlp.onnx .*--checkpoint ck2" | tail -1)
    [ -n "$victim" ] && [ -e ck2/state.bin ] && break
    sleep 0.1
done
start=$(date +%s)
if [ -n "$victim" ]; then
    kill -9 "$victim"
    for _ in $(seq 300); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$job" 2>/dev/null; then
        bad "the job still runs 30 s after a rank was killed"
        kill -- "$job" 2>/dev/null
    else
        wait "$job"
        status=$?
        [ "$status" -ne 0 ] && ok "a killed rank ends the job (status $status) in $(($(date +%s) - start)) s" ||
            bad "the job exited 0 after a rank was killed"
    fi
    [ ! -e killed.onnx ] && ok "no model from a killed job" || bad "killed.onnx was written"
    for _ in $(seq 300); do pgrep -f "^$bnnc train mlp.onnx .*--checkpoint ck2" >/dev/null || break
        sleep 0.1; done
    run resume_killed 0 train mlp.onnx --data "$mnist" --limit 64 --epochs 1 --batch 16 \
        --threads 1 --samples 1 --val-split 0.25 --resume ck2 -o after.onnx &&
        ok "the killed job's last checkpoint resumes"
else
    bad "could not find a rank to kill"
    kill -- "$job" 2>/dev/null
fi
wait 2>/dev/null

finish dist
