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

# finish: the summary line; the exit status says whether all checks passed.
finish() {
    echo "$checks checks, $failures failed"
    [ "$failures" -eq 0 ]
}
