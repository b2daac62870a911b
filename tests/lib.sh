# Shared helpers of the shell tests that drive bnnc (tests/cli/run_cli.sh,
# tests/eval/eval_cli.sh), sourced after the caller has set BNNC (the bnnc
# executable) and TMP (a scratch folder for out and err).  Counts into
# `checks` and `failures`; end a script with `finish`.
failures=0
checks=0

fail() {
    echo "FAIL: $*"
    echo "  stdout: $(head -c 600 "$TMP/out")"
    echo "  stderr: $(head -c 600 "$TMP/err")"
    failures=$((failures + 1))
}

# expect STATUS CMD...: runs bnnc with the arguments, checks the exit status.
expect() {
    want=$1
    shift
    checks=$((checks + 1))
    "$BNNC" "$@" >"$TMP/out" 2>"$TMP/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        fail "bnnc $* exited $got, expected $want"
        return 1
    fi
    return 0
}

# has FILE TEXT: FILE (out or err) contains TEXT literally.
has() {
    checks=$((checks + 1))
    grep -qF -- "$2" "$TMP/$1" || fail "std$1 lacks '$2'"
}

# empty FILE: FILE (out or err) is empty.
empty() {
    checks=$((checks + 1))
    [ ! -s "$TMP/$1" ] || fail "std$1 is not empty"
}

# npy_close NAME A.npy B.npy: A has B's shape and matches B within 1e-5 of
# B's largest magnitude (Debian's python3 with numpy).
npy_close() {
    checks=$((checks + 1))
    if ! /usr/bin/python3 -c "
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
err = np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)
sys.exit(0 if a.shape == b.shape and err <= 1e-5 else 'max relative difference %g' % err)" "$2" "$3" 2>"$TMP/py"; then
        fail "$1: $(cat "$TMP/py")"
    fi
}

# finish: the summary line; the exit status says whether all checks passed.
finish() {
    echo "$checks checks, $failures failed"
    [ "$failures" -eq 0 ]
}
