#!/usr/bin/env bash
# The command line under faults (issue 16, "Faults that lose nothing" and
# "Files as users expect"):
#   - a full disk (here a file size limit, prlimit --fsize) while writing any
#     output: one line naming the file, exit 1, no partial or temporary file,
#     the previous file at that path intact;
#   - SIGINT and SIGTERM during training: the step finishes, a checkpoint is
#     written, exit 130 / 143, and --resume gives the uninterrupted result;
#   - SIGKILL at three moments, then --resume: the uninterrupted result, bit
#     for bit;
#   - truncated and bit-flipped checkpoints refused by their checksum;
#   - hostile training data refused before the first step, naming the file and
#     the example;
#   - outputs that respect the umask, refuse to replace an input, and paths
#     with spaces and non-ASCII characters.
#
# usage: cli_faults.sh BNNC   (meson passes the built binary; BNNC_SOURCE_ROOT
# points at the source tree).  Small models and --limit keep it to seconds.
set -u
bnnc=$(realpath "${1:?usage: cli_faults.sh BNNC}")
root=${BNNC_SOURCE_ROOT:?BNNC_SOURCE_ROOT is not set}
mnist=$root/examples/mnist
mlp=$root/tests/fixtures/train/mlp_init.onnx
cli=$root/tests/fixtures/train/cli  # small .npy inputs and labels
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1

. "$root/tests/named.sh"

# limited NAME BYTES WANT ARGS...: runs bnnc under a file size limit of BYTES.
limited() {
    local name=$1 bytes=$2 want=$3
    shift 3
    run_cmd "$name" "$want" prlimit --fsize="$bytes" "$bnnc" "$@"
}
one_line() { [ "$(wc -l <"$2")" -eq 1 ] && ok "$1" || { bad "$1: $2 has $(wc -l <"$2") lines"; show "$2"; }; }
# no_temporaries NAME DIR: nothing named *.tmp* in DIR.
no_temporaries() {
    local left
    left=$(find "$2" -maxdepth 1 -name '*.tmp*' | head -3)
    [ -z "$left" ] && ok "$1" || bad "$1: left behind: $left"
}
# wait_for FILE SECONDS: until FILE exists (polling every 20 ms).
wait_for() {
    local i
    for ((i = 0; i < $2 * 50; i++)); do
        [ -e "$1" ] && return 0
        sleep 0.02
    done
    return 1
}

# npy FILE DESCR SHAPE: writes a version 1.0 .npy header (padded to 64
# bytes) for data appended afterwards.
npy() {
    local h="{'descr': '$2', 'fortran_order': False, 'shape': $3, }"
    local pad=$((64 - (10 + ${#h} + 1) % 64))
    ((pad == 64)) && pad=0
    {
        printf '\x93NUMPY\x01\x00'
        local len=$((${#h} + pad + 1))
        printf "\\$(printf %03o $((len % 256)))\\$(printf %03o $((len / 256)))"
        printf '%s%*s\n' "$h" "$pad" ''
    } >"$1"
}
# MNIST examples as u8 .npy files made here, 256 for the short runs and 2048
# for the runs that signals interrupt (no validation set: a run is its steps).
mnist_npy() {
    npy "$1x.npy" '|u1' "($2, 1, 28, 28)"
    gzip -dc "$mnist/train-images-idx3-ubyte.gz" | tail -c +17 | head -c $(($2 * 784)) >>"$1x.npy"
    npy "$1y.npy" '|u1' "($2,)"
    gzip -dc "$mnist/train-labels-idx1-ubyte.gz" | tail -c +9 | head -c "$2" >>"$1y.npy"
}
mnist_npy short 256
mnist_npy long 2048
small=(--train-x shortx.npy --train-y shorty.npy --batch 32 --threads 2)

run convert 0 convert "$mlp" --layers all --init random -o bayes.onnx || {
    echo "cli_faults: cannot make the Bayesian model; stopping"
    exit 1
}
model_bytes=$(stat -c %s bayes.onnx)

# ---- 1. a full disk while writing each output --------------------------------
# The limit is below every output's size, above nothing bnnc must write first.
tiny=20000
echo previous >prev.txt
cp prev.txt cout.onnx
if limited fsize_convert $tiny 1 convert "$mlp" --layers all -o cout.onnx; then
    expect "convert: the message names the output and the cause" fsize_convert.err '^bnnc: cout\.onnx: cannot write: File too large$'
    one_line "convert: one line on stderr" fsize_convert.err
fi
same "convert: the previous output is intact" prev.txt cout.onnx
no_temporaries "convert: no temporary file left" .
cp prev.txt cout.ir
if limited fsize_ir 1000 1 convert "$mlp" --layers all --emit ir -o cout.ir; then
    expect "convert --emit ir: the message names the output" fsize_ir.err '^bnnc: cout\.ir: cannot write: File too large$'
fi
same "convert --emit ir: the previous output is intact" prev.txt cout.ir
cp prev.txt eout.onnx
if limited fsize_export $tiny 1 export bayes.onnx --mode mean -o eout.onnx; then
    expect "export: the message names the output" fsize_export.err '^bnnc: eout\.onnx: cannot write: File too large$'
    one_line "export: one line on stderr" fsize_export.err
fi
same "export: the previous output is intact" prev.txt eout.onnx
cp prev.txt rout.npy
if limited fsize_run 100 1 run "$mlp" --input "$cli/x8.npy" --output rout.npy; then
    expect "run --output: the message names the output" fsize_run.err '^bnnc: rout\.npy: cannot write: File too large$'
fi
same "run --output: the previous output is intact" prev.txt rout.npy
cp prev.txt tout.onnx
if limited fsize_train $tiny 1 train bayes.onnx "${small[@]}" --epochs 1 -o tout.onnx; then
    expect "train: the message names the output" fsize_train.err '^bnnc: tout\.onnx: cannot write: File too large$'
    one_line "train: one line on stderr" fsize_train.err
fi
same "train: the previous output is intact" prev.txt tout.onnx
no_temporaries "convert, export, train: no temporary file left" .

# The checkpoint: the model (written first) and the state (twice the model's
# size with Adam's two moments) each fail in turn; the previous pair stays.
if run ck1 0 train bayes.onnx "${small[@]}" --epochs 1 --seed 4 --checkpoint fck -o ck1.onnx; then
    cp fck/model.onnx kept.model.onnx && cp fck/state.bin kept.state.bin
    state_bytes=$(stat -c %s fck/state.bin)
    if limited fsize_ckmodel $tiny 1 train bayes.onnx "${small[@]}" --epochs 2 --seed 4 --resume fck --checkpoint fck -o ck2.onnx; then
        expect "checkpoint model: the message names the file" fsize_ckmodel.err '^bnnc: fck/model\.next\.onnx: cannot write: File too large$'
        one_line "checkpoint model: one line on stderr" fsize_ckmodel.err
    fi
    between=$(((model_bytes + state_bytes) / 2))
    check "the state is larger than the model (so a limit between fails the state alone)" "[ $state_bytes -gt $((model_bytes + 1000)) ]"
    if limited fsize_ckstate $between 1 train bayes.onnx "${small[@]}" --epochs 2 --seed 4 --resume fck --checkpoint fck -o ck2.onnx; then
        expect "checkpoint state: the message names the file" fsize_ckstate.err '^bnnc: fck/state\.bin: cannot write: File too large$'
        one_line "checkpoint state: one line on stderr" fsize_ckstate.err
    fi
    same "checkpoint: the previous model is intact" kept.model.onnx fck/model.onnx
    same "checkpoint: the previous state is intact" kept.state.bin fck/state.bin
    check "checkpoint: only model.onnx and state.bin in it" '[ "$(ls fck | tr "\n" " ")" = "model.onnx state.bin " ]'
    check "no output model after a failed checkpoint" '[ ! -e ck2.onnx ]'
    run ck_after 0 train bayes.onnx "${small[@]}" --epochs 2 --seed 4 --resume fck -o ck2.onnx &&
        ok "the kept checkpoint resumes"
fi

# ---- 2. SIGINT and SIGTERM: finish the step, checkpoint, 130 / 143 -----------
# 3 epochs of 128 steps, so that signals can land mid-run; the reference is
# the same run uninterrupted.
long=(--train-x longx.npy --train-y longy.npy --batch 16 --threads 2 --epochs 3 --seed 9)

# start_run NAME ARGS...: starts `bnnc train bayes.onnx $long ARGS` in the
# background ($pid) and returns once its first line is out: signals are
# timed from there.
start_run() {
    local name=$1 i
    shift
    "$bnnc" train bayes.onnx "${long[@]}" "$@" >"$name.out" 2>"$name.err" &
    pid=$!
    pids+=("$pid")
    for ((i = 0; i < 3000; i++)); do
        grep -q '^training' "$name.out" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.01
    done
}
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

start_run full -o full.onnx
wait "$pid"
full_status=$?
# The epochs' own seconds (the run's wall time also holds the output's fsync,
# which a busy disk makes long).
train_ms=$(awk '/^epoch / { for (i = 1; i <= NF; i++) if ($(i + 1) == "s") t += $i } END { printf "%d", t * 1000 }' full.out)
((train_ms < 300)) && train_ms=300
echo "     (the uninterrupted run trained for $train_ms ms)"
[ "$full_status" -eq 0 ] && ok "the uninterrupted run" || { bad "the uninterrupted run exited $full_status"; exit 1; }

# signal_run NAME SIGNAL DELAY_MS ARGS...: SIGNAL DELAY_MS after the first
# line; $status gets the exit status.  A busy machine may make the run
# faster than measured, so that it is over (status 0) before the signal:
# then `eval "$again"` (the caller's undo) and try again, sooner.
signal_run() {
    local name=$1 sig=$2 delay=$3 try
    shift 3
    for try in 1 2 3 4 5; do
        start_run "$name" "$@"
        sleep_ms "$delay"
        kill "-$sig" "$pid" 2>/dev/null
        wait "$pid"
        status=$?
        [ "$status" -ne 0 ] && return
        echo "     ($name: the run was over before the signal at $delay ms; again, sooner)"
        eval "$again"
        delay=$((delay / 2))
    done
}
# A sixth of the way in (mid epoch 1): SIGINT; the resumed run is stopped by
# SIGTERM; resumed again, it must end where the uninterrupted run did.
again='rm -rf ick int.onnx'
signal_run sigint INT $((train_ms / 6)) --checkpoint ick -o int.onnx
check "SIGINT: exit status 130" "[ $status -eq 130 ]"
expect "SIGINT: says where the checkpoint is" sigint.err '^bnnc: stopped by SIGINT (in epoch [0-9]+ after step [0-9]+|after epoch [0-9]+|before the first step): checkpoint written to ick \(continue with --resume ick\)$'
echo "     ($(cat sigint.err))"
check "SIGINT: no output model" '[ ! -e int.onnx ]'
check "SIGINT: the checkpoint is model.onnx and state.bin" '[ "$(ls ick | tr "\n" " ")" = "model.onnx state.bin " ]'
cp -r ick ick.first
again='rm -rf ick term.onnx; cp -r ick.first ick'
signal_run sigterm TERM $((train_ms / 4)) --resume ick --checkpoint ick -o term.onnx
check "SIGTERM: exit status 143" "[ $status -eq 143 ]"
expect "SIGTERM: says where the checkpoint is" sigterm.err '^bnnc: stopped by SIGTERM .*: checkpoint written to ick'
echo "     ($(cat sigterm.err))"
check "SIGTERM: no output model" '[ ! -e term.onnx ]'
if run int_resume 0 train bayes.onnx "${long[@]}" --resume ick -o int.onnx; then
    same "SIGINT, SIGTERM, then --resume: the uninterrupted result, bit for bit" full.onnx int.onnx
fi
if run int_resume1 0 train bayes.onnx "${long[@]}" --resume ick.first -o int1.onnx; then
    same "from the SIGINT checkpoint alone: the uninterrupted result" full.onnx int1.onnx
fi
again='rm -f nock.onnx'
signal_run sigint_nock INT $((train_ms / 3)) -o nock.onnx
check "SIGINT without --checkpoint: exit status 130" "[ $status -eq 130 ]"
expect "SIGINT without --checkpoint: says nothing was kept" sigint_nock.err '^bnnc: stopped by SIGINT .*: no output and no checkpoint written'
check "SIGINT without --checkpoint: no output model" '[ ! -e nock.onnx ]'

# ---- 3. SIGKILL at three moments, then --resume ------------------------------
# kill_resume NAME WHEN: WHEN is "first-checkpoint" or a delay in ms after the
# first line.  A run killed before its first checkpoint starts again.
kill_resume() {
    local name=$1 when=$2 dir=$1.ck try st
    for try in 1 2 3 4 5; do
        start_run "$name" --checkpoint "$dir" -o "$name.onnx"
        if [ "$when" = first-checkpoint ]; then
            wait_for "$dir/state.bin" 60
        else
            sleep_ms "$when"
        fi
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        st=$?
        [ "$st" -ne 0 ] && break
        echo "     ($name: the run was over before SIGKILL at $when ms; again, sooner)"
        rm -rf "$dir" "$name.onnx"
        when=$((when / 2))
    done
    check "$name: killed by SIGKILL" "[ $st -eq 137 ]"
    local from=()
    [ -e "$dir/state.bin" ] && from=(--resume "$dir")
    if run "$name.resume" 0 train bayes.onnx "${long[@]}" "${from[@]}" --checkpoint "$dir" -o "$name.onnx"; then
        same "SIGKILL at $when (then ${from[*]:-a fresh run}): the uninterrupted result, bit for bit" full.onnx "$name.onnx"
        check "$name: the checkpoint holds model.onnx and state.bin only" '[ "$(ls "$dir" | tr "\n" " ")" = "model.onnx state.bin " ]'
    fi
}
kill_resume kill_ck first-checkpoint
kill_resume kill_mid $((train_ms / 2))
kill_resume kill_late $((train_ms * 5 / 6))

# ---- 3b. two jobs on one checkpoint: the second is refused, the first goes on
# (a resume racing a writer once read a state.bin whose model had just moved)
start_run lock_a --checkpoint lk.ck -o lock_a.onnx
if wait_for lk.ck/state.bin 60; then
    kill -STOP "$pid" # paused, it still holds the lock however slow the others start
    run lock_b 1 train bayes.onnx "${long[@]}" --resume lk.ck -o lock_b.onnx &&
        expect "a resume from a checkpoint another run writes is refused, named" lock_b.err \
            '^bnnc: lk.ck: in use by another bnnc train \(it writes or resumes this checkpoint\): wait for it to end or stop it$'
    run lock_c 1 train bayes.onnx "${long[@]}" --checkpoint lk.ck -o lock_c.onnx &&
        expect "a second run writing the same checkpoint is refused" lock_c.err '^bnnc: lk.ck: in use by another bnnc train'
    kill -CONT "$pid"
    wait "$pid"
    check "the first run ends as if alone" "[ $? -eq 0 ] && cmp -s full.onnx lock_a.onnx"
    check "no output from the refused runs" '[ ! -e lock_b.onnx ] && [ ! -e lock_c.onnx ]'
    run lock_after 0 train bayes.onnx "${long[@]}" --resume lk.ck -o lock_d.onnx &&
        ok "once it ended, the checkpoint resumes"
else
    bad "lock_a wrote no checkpoint in 60 s"
fi

# ---- 4. damaged checkpoints: refused by the checksum, the file named ---------
if [ -e ick/state.bin ]; then
    mkdir -p trunc flip
    cp ick/model.onnx trunc/ && head -c -100 ick/state.bin >trunc/state.bin
    cp ick/model.onnx flip/ && cp ick/state.bin flip/state.bin
    at=$(($(stat -c %s flip/state.bin) / 2))
    byte=$(od -An -tu1 -j "$at" -N1 flip/state.bin | tr -d ' ')
    printf "\\$(printf %03o $((byte ^ 16)))" | dd of=flip/state.bin bs=1 seek="$at" conv=notrunc status=none
    check "one bit of the copy is flipped" '! cmp -s ick/state.bin flip/state.bin'
    run trunc 1 train bayes.onnx "${long[@]}" --resume trunc -o t.onnx &&
        expect "a truncated state is refused, named" trunc.err '^bnnc: trunc/state\.bin: checksum mismatch: the file is truncated or damaged$'
    run flip 1 train bayes.onnx "${long[@]}" --resume flip -o t.onnx &&
        expect "a bit-flipped state is refused, named" flip.err '^bnnc: flip/state\.bin: checksum mismatch: the file is truncated or damaged$'
    mkdir -p short && cp ick/model.onnx short/ && head -c 30 ick/state.bin >short/state.bin
    run short 1 train bayes.onnx "${long[@]}" --resume short -o t.onnx &&
        expect "a state cut inside its header is refused, named" short.err '^bnnc: short/state\.bin: the file is truncated \(30 bytes, inside its header\)$'
    check "no output after refused checkpoints" '[ ! -e t.onnx ]'
fi
# A checkpoint stopped mid-epoch resumes only with the batches it counted.
if grep -q 'after step' sigint.err; then
    run other_batch 1 train bayes.onnx "${long[@]}" --batch 2048 --resume ick.first -o t.onnx &&
        expect "a mid-epoch checkpoint with another --batch is refused" other_batch.err '^bnnc: ick\.first: the checkpoint was stopped after step [0-9]+ of an epoch; this run.s epochs have 1 steps'
fi

# ---- 5. hostile training data: refused before the first step -----------------
# patch FILE OFFSET BYTES...: overwrites bytes (given as octal escapes).
patch() {
    local f=$1 at=$2
    shift 2
    printf "$*" | dd of="$f" bs=1 seek="$at" conv=notrunc status=none
}
x8=$cli/x8.npy y8=$cli/y8.npy
# hostile NAME REGEX ARGS...: training refuses the data: exit 1, REGEX on
# stderr, no epoch line and no output.
hostile() {
    local name=$1 re=$2
    shift 2
    if run "$name" 1 train "$mlp" "$@" --threads 1 -o "$name.onnx"; then
        expect "$name: refused, naming the file and the example" "$name.err" "$re"
        check "$name: before the first step, no output" "! grep -q '^epoch' $name.out && [ ! -e $name.onnx ]"
    fi
}
cp "$x8" xnan.npy && patch xnan.npy $((128 + (3 * 784 + 5) * 4)) '\000\000\300\177'
hostile nan_pixel 'xnan\.npy: training examples: example 3 holds NaN \(value 5 of 784\)' --train-x xnan.npy --train-y "$y8"
cp "$x8" xinf.npy && patch xinf.npy $((128 + (6 * 784 + 700) * 4)) '\000\000\200\377'
hostile inf_pixel 'xinf\.npy: training examples: example 6 holds an infinity \(value 700 of 784\)' --train-x xinf.npy --train-y "$y8"
hostile nan_val 'xnan\.npy: validation examples: example 3 holds NaN' --train-x "$x8" --train-y "$y8" --val-x xnan.npy --val-y "$y8"
cp "$y8" ybig.npy && patch ybig.npy $((128 + 6 * 8)) '\012\000\000\000\000\000\000\000'
hostile label_10 'ybig\.npy: label 10 of example 6 is outside the model.s 10 classes' --train-x "$x8" --train-y ybig.npy
cp "$y8" yneg.npy && patch yneg.npy $((128 + 2 * 8)) '\377\377\377\377\377\377\377\377'
hostile label_neg 'yneg\.npy: label -1 of example 2 is outside' --train-x "$x8" --train-y yneg.npy
# f32 labels: 2.5 is no class (it would have become class 2)
npy yhalf.npy '<f4' '(8,)' && printf '\000\000\000\000\000\000\200\077\000\000\040\100\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000' >>yhalf.npy
hostile label_float 'yhalf\.npy: label of example 2 is 2\.5, not a class number' --train-x "$x8" --train-y yhalf.npy
head -c -8 "$x8" >xshort.npy
hostile truncated_npy 'xshort\.npy: ' --train-x xshort.npy --train-y "$y8"
npy xc8.npy '<c8' '(8, 1, 28, 28)' && tail -c +129 "$x8" >>xc8.npy && tail -c +129 "$x8" >>xc8.npy
hostile wrong_dtype "xc8\.npy: .*dtype '<c8' is not supported" --train-x xc8.npy --train-y "$y8"
npy xrank3.npy '<f4' '(8, 28, 28)' && tail -c +129 "$x8" >>xrank3.npy
hostile wrong_shape "xrank3\.npy: training examples are f32\[28,28\] each, but the model's input" --train-x xrank3.npy --train-y "$y8"
npy x0.npy '<f4' '(0, 1, 28, 28)' && npy y0.npy '<i8' '(0,)'
hostile zero_examples 'x0\.npy: no training examples' --train-x x0.npy --train-y y0.npy
hostile zero_val 'x0\.npy: no validation examples' --train-x "$x8" --train-y "$y8" --val-x x0.npy --val-y y0.npy
# IDX: the real MNIST header and the file cut short, gzipped or not.
mkdir -p idxcut
gzip -dc "$mnist/train-images-idx3-ubyte.gz" | head -c 5000 >idxcut/train-images-idx3-ubyte
cp "$mnist/train-labels-idx1-ubyte.gz" "$mnist/t10k-images-idx3-ubyte.gz" "$mnist/t10k-labels-idx1-ubyte.gz" idxcut/
hostile truncated_idx 'idxcut/train-images-idx3-ubyte.*(truncated|ends|promises more or less data)' --data idxcut --limit 64
mkdir -p idxgz
gzip -dc "$mnist/train-images-idx3-ubyte.gz" | head -c 50000 | gzip -c >idxgz/train-images-idx3-ubyte.gz
cp "$mnist/train-labels-idx1-ubyte.gz" "$mnist/t10k-images-idx3-ubyte.gz" "$mnist/t10k-labels-idx1-ubyte.gz" idxgz/
hostile truncated_idx_gz 'idxgz/train-images-idx3-ubyte\.gz.*(truncated|ends|promises more or less data)' --data idxgz --limit 64
mkdir -p idxlabel
gzip -dc "$mnist/train-labels-idx1-ubyte.gz" >idxlabel/train-labels-idx1-ubyte
patch idxlabel/train-labels-idx1-ubyte $((8 + 17)) '\014'
cp "$mnist/train-images-idx3-ubyte.gz" "$mnist/t10k-images-idx3-ubyte.gz" "$mnist/t10k-labels-idx1-ubyte.gz" idxlabel/
hostile idx_label_12 'idxlabel.*label 12 of example 17' --data idxlabel --limit 64

# ---- 6. files as users expect -------------------------------------------------
# The umask: 027 gives rw-r----- (640) to every output.
(
    umask 027
    "$bnnc" convert "$mlp" --layers all -o um_convert.onnx >/dev/null 2>&1
    "$bnnc" convert "$mlp" --layers all --emit ir -o um_convert.ir >/dev/null 2>&1
    "$bnnc" export bayes.onnx --mode mean -o um_export.onnx >/dev/null 2>&1
    "$bnnc" train "$mlp" --train-x "$x8" --train-y "$y8" --threads 1 --checkpoint um_ck -o um_train.onnx >/dev/null 2>&1
)
for f in um_convert.onnx um_convert.ir um_export.onnx um_train.onnx um_ck/model.onnx um_ck/state.bin; do
    check "umask 027: $f is 640" '[ "$(stat -c %a '"$f"' 2>/dev/null)" = 640 ]'
done
(
    umask 022
    "$bnnc" convert "$mlp" --layers all -o um22.onnx >/dev/null 2>&1
)
check "umask 022: the output is 644" '[ "$(stat -c %a um22.onnx 2>/dev/null)" = 644 ]'

# An output never replaces an input, by any name (compared by device and inode).
cp bayes.onnx m.onnx && cp m.onnx m.saved && ln m.onnx m.hardlink.onnx && ln -s m.onnx m.symlink.onnx
run over_convert 1 convert m.onnx -o m.onnx && expect "convert -o its input: refused" over_convert.err 'refusing to write m\.onnx: it is the input m\.onnx'
run over_convert_dot 1 convert m.onnx -o ./m.onnx && expect "convert -o ./its input: refused" over_convert_dot.err 'refusing to write \./m\.onnx'
run over_convert_hard 1 convert m.onnx -o m.hardlink.onnx && expect "convert -o a hard link to its input: refused" over_convert_hard.err 'refusing to write m\.hardlink\.onnx: it is the input m\.onnx'
run over_convert_sym 1 convert m.symlink.onnx -o m.onnx && expect "convert a symlink -o its target: refused" over_convert_sym.err 'refusing to write m\.onnx'
run over_export 1 export m.onnx --mode mean -o m.onnx && expect "export -o its input: refused" over_export.err 'refusing to write m\.onnx'
run over_train 1 train m.onnx --train-x "$x8" --train-y "$y8" -o m.onnx && expect "train -o its model: refused" over_train.err 'refusing to write m\.onnx: it is the input m\.onnx'
cp "$x8" xin.npy
run over_train_x 1 train m.onnx --train-x xin.npy --train-y "$y8" -o xin.npy && expect "train -o its data: refused" over_train_x.err 'refusing to write xin\.npy'
cmp -s "$x8" xin.npy && ok "the data file is intact" || bad "train -o its data changed it"
if [ -e ick/state.bin ]; then
    cp -r ick ick2
    run over_resume 1 train bayes.onnx "${long[@]}" --resume ick2 -o ick2/model.onnx &&
        expect "train -o the checkpoint's model it resumes from: refused" over_resume.err 'refusing to write ick2/model\.onnx'
    same "the checkpoint is intact" ick/model.onnx ick2/model.onnx
fi
run over_ck 1 train m.onnx "${small[@]}" --checkpoint newck -o newck/model.onnx &&
    expect "train -o a file of its --checkpoint: refused" over_ck.err 'refusing to write newck/model\.onnx: it is a file of the checkpoint newck'
same "the model is intact after every refusal" m.saved m.onnx

# Paths with spaces and non-ASCII characters.
d="dir with space/sous-dossier é"
mkdir -p "$d"
cp "$x8" "$d/entrée x.npy" && cp "$y8" "$d/étiquettes ü.npy"
if run space_convert 0 convert "$mlp" --layers all -o "$d/modèle ü.onnx"; then
    expect "convert names the unusual output" space_convert.out "output: +$d/modèle ü\.onnx"
    run space_run 0 run "$d/modèle ü.onnx" --input "$d/entrée x.npy" && ok "run reads the unusual paths"
    run space_export 0 export "$d/modèle ü.onnx" --mode mean && check "export's default output sits beside it" '[ -s "$d/modèle ü.mean.onnx" ]'
    if run space_train 0 train "$d/modèle ü.onnx" --train-x "$d/entrée x.npy" --train-y "$d/étiquettes ü.npy" \
        --threads 1 --epochs 2 --checkpoint "$d/points ü" -o "$d/entraîné ü.onnx"; then
        check "train writes the unusual output and checkpoint" '[ -s "$d/entraîné ü.onnx" ] && [ -s "$d/points ü/state.bin" ]'
        run space_resume 0 train "$d/modèle ü.onnx" --train-x "$d/entrée x.npy" --train-y "$d/étiquettes ü.npy" \
            --threads 1 --epochs 3 --resume "$d/points ü" -o "$d/repris ü.onnx" && ok "train resumes from the unusual checkpoint"
    fi
fi

finish cli_faults
