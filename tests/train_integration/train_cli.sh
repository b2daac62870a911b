#!/usr/bin/env bash
# `bnnc train` on the command line: help, usage errors, data errors, and the
# promises of issue 5 — same seed and thread count give the same file, a
# resumed run equals an uninterrupted one bit for bit, and a diverging run
# stops naming the epoch and step and keeps the last good checkpoint.
#
# usage: train_cli.sh BNNC   (meson passes the built binary; BNNC_SOURCE_ROOT
# points at the source tree).  Small models and --limit keep it to seconds.
set -u
bnnc=$(realpath "${1:?usage: train_cli.sh BNNC}")
root=${BNNC_SOURCE_ROOT:?BNNC_SOURCE_ROOT is not set}
fix=$root/tests/fixtures/train
cli=$fix/cli
mnist=$root/examples/mnist
mlp=$fix/mlp_init.onnx
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

. "$root/tests/named.sh"

small=(--data "$mnist" --limit 300 --batch 64 --threads 2 --samples 2)

# ---- help and usage errors (exit 2, a message naming the problem) ----------
run help 0 train --help && expect "--help prints the usage" help.out 'usage: bnnc train'
expect "--help names --checkpoint and --resume" help.out '--resume DIR'
expect "--help says the KL is summed" help.out 'SUMMED'
run no_model 2 train --data "$mnist" -o x.onnx && expect "no model: usage error" no_model.err 'expected one model file'
run no_output 2 train "$mlp" --data "$mnist" && expect "no -o: usage error" no_output.err '-o OUT.onnx is required'
run no_data 2 train "$mlp" -o x.onnx && expect "no data: usage error" no_data.err '--data DIR or both --train-x and --train-y'
run half_npy 2 train "$mlp" --train-x "$cli/x8.npy" -o x.onnx && expect "--train-x alone: usage error" half_npy.err '--train-x and --train-y'
run unknown 2 train "$mlp" --data "$mnist" --bogus -o x.onnx && expect "unknown option: usage error" unknown.err 'unknown option|unrecognized option'
run epochs0 2 train "$mlp" --data "$mnist" --epochs 0 -o x.onnx && expect "--epochs 0 is refused" epochs0.err "bad value '0' for --epochs"
run batch_word 2 train "$mlp" --data "$mnist" --batch many -o x.onnx && expect "--batch many is refused" batch_word.err "bad value 'many' for --batch"
run optimizer 2 train "$mlp" --data "$mnist" --optimizer rmsprop -o x.onnx && expect "unknown optimizer is refused" optimizer.err "bad value 'rmsprop' for --optimizer"
run lr_neg 2 train "$mlp" --data "$mnist" --lr -1 -o x.onnx && expect "negative --lr is refused" lr_neg.err "bad value '-1' for --lr"
run lr_nan 2 train "$mlp" --data "$mnist" --lr nan -o x.onnx && expect "--lr nan is refused" lr_nan.err "bad value 'nan' for --lr"
run val_split 2 train "$mlp" --data "$mnist" --val-split 1.5 -o x.onnx && expect "--val-split 1.5 is refused" val_split.err '--val-split'
run loss 2 train "$mlp" --data "$mnist" --loss hinge -o x.onnx && expect "--loss hinge is refused" loss.err '--loss'
run gamma_alone 2 train "$mlp" --data "$mnist" --lr-gamma 0.5 -o x.onnx && expect "--lr-gamma without milestones is refused" gamma_alone.err '--lr-gamma needs --lr-milestones'
run milestone0 2 train "$mlp" --data "$mnist" --lr-milestones 0 -o x.onnx && expect "--lr-milestones 0 is refused" milestone0.err "bad value '0' for --lr-milestones"
run milestone_word 2 train "$mlp" --data "$mnist" --lr-milestones 2,x -o x.onnx && expect "--lr-milestones 2,x is refused" milestone_word.err "bad value '2,x' for --lr-milestones"
run gamma0 2 train "$mlp" --data "$mnist" --lr-milestones 1 --lr-gamma 0 -o x.onnx && expect "--lr-gamma 0 is refused" gamma0.err "bad value '0' for --lr-gamma"
[ ! -e x.onnx ] && ok "no output file after usage errors" || bad "a usage error wrote x.onnx"

# ---- data errors (exit 1, naming the file) --------------------------------
run no_dir 1 train "$mlp" --data "$work/nowhere" -o x.onnx && expect "missing data directory is named" no_dir.err "nowhere.*train-images-idx3-ubyte"
run no_npy 1 train "$mlp" --train-x "$work/none.npy" --train-y "$cli/y8.npy" -o x.onnx && expect "missing .npy is named" no_npy.err 'none\.npy: cannot open'
run no_model_file 1 train "$work/none.onnx" --data "$mnist" --limit 64 -o x.onnx && expect "missing model is named" no_model_file.err 'none\.onnx'
run label_shape 1 train "$mlp" --train-x "$cli/x8.npy" --train-y "$cli/y8x2.npy" -o x.onnx &&
    expect "labels [8,2] are refused, naming the file and the shape" label_shape.err 'y8x2\.npy: training labels are i64\[8,2\]; cross-entropy needs .*i64\[8\]'
run label_count 1 train "$mlp" --train-x "$cli/x8.npy" --train-y "$cli/y7.npy" -o x.onnx && expect "7 labels for 8 examples are refused" label_count.err '8 examples but .*y7\.npy has 7'
run label_range 1 train "$mlp" --train-x "$cli/x8.npy" --train-y "$cli/y8big.npy" -o x.onnx && expect "label 12 of 10 classes is refused" label_range.err 'label 12 of example 5 is outside'
run x_shape 1 train "$mlp" --train-x "$cli/x8flat.npy" --train-y "$cli/y8.npy" -o x.onnx &&
    expect "x [8,784] for a [N,1,28,28] model is refused" x_shape.err "x8flat\.npy: training examples are f32\[784\] each, but the model's input 'input' takes f32\[1,28,28\]"
run val_shape 1 train "$mlp" --train-x "$cli/x8.npy" --train-y "$cli/y8.npy" --val-x "$cli/x8.npy" --val-y "$cli/y8x2.npy" -o x.onnx &&
    expect "validation labels are checked too" val_shape.err 'y8x2\.npy: validation labels'
[ ! -e x.onnx ] && ok "no output file after data errors" || bad "a data error wrote x.onnx"

# ---- a normal run: output lines, --json -------------------------------------
if run plain 0 train "$mlp" "${small[@]}" --epochs 2 --seed 1 -o plain.onnx; then
    expect "the first line names the factors" plain.out '^training .*300 examples, batch 64, adam lr 0.001, dnn_factor 1, bnn_factor 0.00333333 \(1/N\); no Bayesian layers'
    expect "one line per epoch" plain.out '^epoch 2/2: data loss [0-9.]+, KL 0.0, train acc [0-9.]+, val acc [0-9.]+'
    if [ "$(grep -c '^epoch ' plain.out)" = 2 ] && ! grep -q $'\r' plain.out; then
        ok "not a terminal: no progress bar, two epoch lines"
    else
        bad "stdout off a terminal should hold the epoch lines only"
    fi
    "$bnnc" run plain.onnx --input "$cli/x8.npy" >/dev/null 2>&1 && ok "bnnc run executes the trained model" || bad "bnnc run fails on the trained model"
fi
if run json 0 train "$mlp" "${small[@]}" --epochs 2 --seed 1 --json -o json.onnx; then
    if python3 - json.out <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
objs = [json.loads(l) for l in lines]
assert [o["epoch"] for o in objs] == [1, 2], objs
for o in objs:
    for k in ("loss", "data_loss", "kl", "train_accuracy", "val_accuracy", "seconds", "examples_per_s"):
        assert k in o, k
    p = o["phase_seconds"]
    assert set(p) == {"forward", "backward", "finish", "update"}, p
    assert 0 <= sum(p.values()) <= o["seconds"] + 0.002, (p, o["seconds"])
    assert "allreduce_seconds" not in o, "one process reports no all-reduce"
EOF
    then ok "--json: one JSON object per epoch, nothing else"; else bad "--json output is not one object per epoch"; fi
    same "--json does not change the trained model" plain.onnx json.onnx
fi

# ---- same seed and threads: the same file -----------------------------------
if run convert 0 convert "$mlp" --layers all --init random -o bayes.onnx; then
    run det_a 0 train bayes.onnx "${small[@]}" --epochs 1 --seed 7 -o a.onnx &&
    run det_b 0 train bayes.onnx "${small[@]}" --epochs 1 --seed 7 -o b.onnx &&
        same "Bayesian: same seed and threads give a byte-identical model" a.onnx b.onnx
    run det_c 0 train bayes.onnx "${small[@]}" --epochs 1 --seed 8 -o c.onnx &&
        differ "Bayesian: another seed gives another model" a.onnx c.onnx
    expect "a Bayesian model reports its KL" det_a.out 'KL [1-9][0-9]*\.[0-9]'
    for opt in sgd adamw; do
        run "det_${opt}_a" 0 train bayes.onnx "${small[@]}" --optimizer $opt --lr 0.01 --seed 2 -o "$opt.a.onnx" &&
        run "det_${opt}_b" 0 train bayes.onnx "${small[@]}" --optimizer $opt --lr 0.01 --seed 2 -o "$opt.b.onnx" &&
            same "$opt: same seed gives a byte-identical model" "$opt.a.onnx" "$opt.b.onnx"
    done
    differ "training changes the model" bayes.onnx a.onnx

    # ---- checkpoint after epoch 1 of 2, resume: the uninterrupted result ----
    run full 0 train bayes.onnx "${small[@]}" --epochs 2 --seed 5 -o full.onnx
    run half 0 train bayes.onnx "${small[@]}" --epochs 1 --seed 5 --checkpoint ck -o half.onnx &&
        [ -f ck/model.onnx ] && [ -f ck/state.bin ] && ok "--checkpoint writes model.onnx and state.bin"
    same "the checkpoint's model is the epoch-1 model" half.onnx ck/model.onnx
    ls ck | grep -q tmp && bad "temporary files left in the checkpoint" || ok "no temporary files left in the checkpoint"
    if run resume 0 train bayes.onnx "${small[@]}" --epochs 2 --seed 5 --resume ck -o resumed.onnx; then
        same "resume after epoch 1 equals the uninterrupted 2-epoch run, byte for byte" full.onnx resumed.onnx
        expect "the resumed run trains epoch 2 only" resume.out '^epoch 2/2'
        grep -q '^epoch 1/' resume.out && bad "the resumed run repeated epoch 1" || ok "the resumed run skips epoch 1"
    fi
    # A step schedule: the lr of each epoch follows the epoch number, so a resumed
    # run picks it up where it left off.
    sched=(--epochs 2 --seed 5 --lr-milestones 1 --lr-gamma 0.25)
    if run lfull 0 train bayes.onnx "${small[@]}" "${sched[@]}" -o lfull.onnx; then
        expect "the first line names the schedule" lfull.out 'adam lr 0.001 \(x0.25 after epoch 1\)'
        expect "epoch 1 runs at lr" lfull.out '^epoch 1/2: .*, lr 0.001$'
        expect "epoch 2 runs at lr * gamma" lfull.out '^epoch 2/2: .*, lr 0.00025$'
        differ "the schedule changes the result" full.onnx lfull.onnx
    fi
    run ljson 0 train bayes.onnx "${small[@]}" "${sched[@]}" --json -o ljson.onnx &&
        expect "--json reports each epoch's lr" ljson.out '"epoch": 2, .*"lr": 0.000250000'
    run lhalf 0 train bayes.onnx "${small[@]}" "${sched[@]}" --epochs 1 --checkpoint lck -o lhalf.onnx
    run lresume 0 train bayes.onnx "${small[@]}" "${sched[@]}" --resume lck -o lresumed.onnx &&
        same "with a schedule, resume equals the uninterrupted run" lfull.onnx lresumed.onnx
    # SGD keeps a momentum buffer, which the checkpoint must carry too.
    run sfull 0 train bayes.onnx "${small[@]}" --optimizer sgd --lr 0.01 --epochs 2 --seed 5 -o sfull.onnx
    run shalf 0 train bayes.onnx "${small[@]}" --optimizer sgd --lr 0.01 --epochs 1 --seed 5 --checkpoint sck -o shalf.onnx
    run sresume 0 train bayes.onnx "${small[@]}" --optimizer sgd --lr 0.01 --epochs 2 --seed 5 --resume sck -o sresumed.onnx &&
        same "sgd with momentum: resume equals the uninterrupted run" sfull.onnx sresumed.onnx
    # A model from another epoch (or any other file) in the checkpoint is refused.
    mkdir -p mixed && cp ck/state.bin mixed/ && cp full.onnx mixed/model.onnx
    run mixed 1 train bayes.onnx "${small[@]}" --epochs 2 --seed 5 --resume mixed -o m.onnx &&
        expect "a checkpoint whose model does not match its state is refused" mixed.err 'not the one state.bin was saved with'
    # A crash mid-checkpoint (tools/train_state.h) leaves state.bin matching
    # model.prev.onnx: after the old model was moved aside ...
    mkdir -p crash1 && cp ck/state.bin crash1/ && cp ck/model.onnx crash1/model.prev.onnx &&
        cp full.onnx crash1/model.next.onnx
    run crash1 0 train bayes.onnx "${small[@]}" --epochs 2 --seed 5 --resume crash1 -o crash1.onnx &&
        same "crash before the new model was in place: resume equals the uninterrupted run" full.onnx crash1.onnx
    # ... or after the new model replaced it but before state.bin did.
    mkdir -p crash2 && cp ck/state.bin crash2/ && cp ck/model.onnx crash2/model.prev.onnx &&
        cp full.onnx crash2/model.onnx
    if run crash2 0 train bayes.onnx "${small[@]}" --epochs 2 --seed 5 --resume crash2 --checkpoint crash2 -o crash2.onnx; then
        same "crash before state.bin was replaced: resume equals the uninterrupted run" full.onnx crash2.onnx
        same "the next checkpoint mends the pair" full.onnx crash2/model.onnx
        [ "$(ls crash2)" = "$(printf 'model.onnx\nstate.bin')" ] && ok "and leaves only model.onnx and state.bin" ||
            bad "checkpoint directory after mending holds: $(ls crash2 | tr '\n' ' ')"
    fi
    run resume_missing 1 train bayes.onnx "${small[@]}" --epochs 2 --resume "$work/nock" -o m.onnx &&
        expect "resuming from a missing checkpoint names it" resume_missing.err 'nock'
    run resume_opt 1 train bayes.onnx "${small[@]}" --optimizer sgd --epochs 2 --resume ck -o m.onnx &&
        expect "resuming Adam's state with SGD is refused" resume_opt.err 'optimizer'

    # ---- divergence: the epoch and step are named, the checkpoint is kept -----
    run good 0 train bayes.onnx "${small[@]}" --optimizer sgd --lr 0.01 --epochs 1 --seed 3 --checkpoint dck -o good.onnx
    cp dck/model.onnx kept.model.onnx && cp dck/state.bin kept.state.bin
    if run diverge 1 train bayes.onnx "${small[@]}" --optimizer sgd --lr 1e6 --epochs 3 --seed 3 --resume dck --checkpoint dck -o div.onnx; then
        expect "a diverging run names the epoch and the step" diverge.err 'epoch 2, step [0-9]+: .*(NaN|infinite|not finite)'
        expect "a diverging run says the checkpoint is kept" diverge.err 'last good checkpoint is kept in dck'
        same "the checkpoint's model is untouched" kept.model.onnx dck/model.onnx
        same "the checkpoint's state is untouched" kept.state.bin dck/state.bin
        [ ! -e div.onnx ] && ok "a diverged run writes no output model" || bad "a diverged run wrote div.onnx"
        run after 0 train bayes.onnx "${small[@]}" --optimizer sgd --lr 0.01 --epochs 2 --seed 3 --resume dck -o after.onnx &&
            ok "training resumes from the kept checkpoint"
    fi
fi
run huge 1 train "$mlp" --train-x "$cli/x8huge.npy" --train-y "$cli/y8.npy" --threads 1 -o h.onnx &&
    expect "huge inputs: NaN at epoch 1, step 1" huge.err 'epoch 1, step 1: .*(NaN|infinite|not finite)'

# ---- the local and flipout estimators end to end (conv and dense layers) ------
lenet=$fix/lenet5_init.onnx
for est in local flipout; do
    if run "convert_$est" 0 convert "$lenet" --layers all --estimator "$est" -o "est_$est.onnx" &&
        run "dump_$est" 0 dump "est_$est.onnx"; then
        [ "$(grep -c "estimator=\"$est\"" "dump_$est.out")" -eq 5 ] && ok "$est: 5 Bayesian layers" ||
            bad "$est: $(grep -c "estimator=\"$est\"" "dump_$est.out") layers with estimator=$est, expected 5"
        if run "train_$est" 0 train "est_$est.onnx" "${small[@]}" --epochs 1 --seed 1 -o "trained_$est.onnx"; then
            expect "$est: one epoch trains" "train_$est.out" '^epoch 1/1: data loss [0-9.]+, KL [0-9.e+]+'
            run "eval_$est" 0 eval "trained_$est.onnx" --data "$mnist" --limit 100 --samples 4 --threads 2 &&
                expect "$est: eval reports accuracy" "eval_$est.out" 'Bayesian \(mean of S\) +accuracy 0\.[0-9]+'
            "$bnnc" eval "trained_$est.onnx" --data "$mnist" --limit 100 --samples 4 --threads 1 >"eval1_$est.out" 2>&1
            same "$est: eval does not depend on the thread count" "eval_$est.out" "eval1_$est.out"
            run "run_$est" 0 run "trained_$est.onnx" --input "$cli/x8.npy" --samples 8 --seed 2 --json &&
                expect "$est: run --samples prints the uncertainty" "run_$est.out" '"mutual_information"'
        fi
    fi
done

finish train_cli
