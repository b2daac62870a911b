# Shared helpers of the shell tests that name every check and count them
# (tests/train_integration/train_cli.sh, tests/harden/cli_faults.sh,
# tests/dist/dist.sh).  Source it after setting `bnnc` (the executable) and
# changing into a scratch folder: each command's output lands in NAME.out and
# NAME.err there.  End the script with `finish LABEL`.
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }
# check NAME EXPR: EXPR (evaluated) must succeed.
check() { if eval "$2"; then ok "$1"; else bad "$1 [$2]"; fi; }

# show FILE: the head of FILE, indented, under a failure.
show() { sed 's/^/     | /' "$1" | head -8; }

# run_cmd NAME WANT_STATUS CMD...: runs CMD, keeps out/err, checks the status.
run_cmd() {
    local name=$1 want=$2
    shift 2
    "$@" >"$name.out" 2>"$name.err"
    local got=$?
    if [ "$got" -ne "$want" ]; then
        bad "$name: exit status $got, expected $want"
        show "$name.err"
        return 1
    fi
    return 0
}
# run NAME WANT_STATUS ARGS...: runs bnnc with ARGS.
run() {
    local name=$1 want=$2
    shift 2
    run_cmd "$name" "$want" "$bnnc" "$@"
}
# fails NAME CMD...: CMD must exit non-zero.
fails() {
    local name=$1
    shift
    "$@" >"$name.out" 2>"$name.err"
    if [ $? -eq 0 ]; then
        bad "$name: exited 0, expected a failure"
        return 1
    fi
    return 0
}

# expect NAME FILE REGEX: FILE matches REGEX (grep -E).
expect() {
    if grep -Eq -- "$3" "$2"; then ok "$1"; else
        bad "$1: $2 does not match /$3/"
        show "$2"
    fi
}
# has NAME FILE TEXT: FILE contains TEXT literally.
has() {
    if grep -qF -- "$3" "$2"; then ok "$1"; else
        bad "$1: $2 lacks '$3'"
        show "$2"
    fi
}
# same NAME A B / differ NAME A B: byte comparison of two files.
same() {
    if cmp -s "$2" "$3"; then ok "$1"; else
        bad "$1: $2 and $3 differ"
        diff "$2" "$3" 2>&1 | head -8 | sed 's/^/     | /'
    fi
}
differ() {
    if [ -f "$2" ] && [ -f "$3" ] && ! cmp -s "$2" "$3"; then ok "$1"; else
        bad "$1: $2 and $3 are the same (or missing)"
    fi
}

# finish LABEL: the summary line; the status says whether every check passed.
finish() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
