#!/bin/sh
# tests/install/symbols_headers.sh BUILD LIBBNNC_SO CC SANITIZE
#
# The library's surface as installed: libbnnc.so exports bnn_* and nothing
# else (libbnnc/bnnc.map), and every installed header compiles on its own as
# C11 with -Wall -Wextra -pedantic, and as C++ when g++ is there, with the
# extern "C" guards that let a C++ program link it.
set -u
build=$1
so=$2
cc=$3
sanitize=$4

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
checks=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# ---- exported symbols ----
checks=$((checks + 1))
# Defined dynamic symbols, minus the version node itself (type A, BNNC_0).
nm -D --defined-only "$so" | awk '$2 != "A" { print $3 }' | sed 's/@.*//' | sort -u >"$TMP/syms"
nbnn=$(grep -c '^bnn_' "$TMP/syms")
if grep -v '^bnn_' "$TMP/syms" >"$TMP/other"; then
    fail "libbnnc.so exports $(wc -l <"$TMP/other") symbols without the bnn_ prefix: $(head -n 20 "$TMP/other" | tr '\n' ' ')"
fi
checks=$((checks + 1))
# The calls at the heart of the API must be among them.
for f in bnn_onnx_import_file bnn_session_create bnn_session_run bnn_pipeline_run \
         bnn_npy_read_file bnn_version; do
    grep -qx "$f" "$TMP/syms" || fail "libbnnc.so does not export $f"
done
echo "libbnnc.so exports $nbnn bnn_ symbols"

# ---- headers, each alone, as installed ----
root=$TMP/root
if ! meson install -C "$build" --destdir "$root" --no-rebuild --quiet >"$TMP/install.log" 2>&1; then
    cat "$TMP/install.log"
    echo "FAIL: meson install --destdir failed"
    exit 1
fi
inc=$(dirname "$(find "$root" -path '*/include/bnnc/bnnc.h' | head -n 1)")
[ -d "$inc" ] || { echo "FAIL: no include/bnnc/bnnc.h installed"; exit 1; }
inc=${inc%/bnnc}
san=""
[ "$sanitize" = none ] || san="-fsanitize=$sanitize"
cxx=""
command -v g++ >/dev/null 2>&1 && cxx=g++
n=0
for h in "$inc"/bnnc/*.h; do
    name=${h##*/}
    n=$((n + 1))
    printf '#include <bnnc/%s>\n' "$name" >"$TMP/alone.c"
    checks=$((checks + 1))
    "$cc" -std=c11 -Wall -Wextra -pedantic -Werror -fsyntax-only -I"$inc" "$TMP/alone.c" \
        2>"$TMP/err" || fail "$name does not compile alone as C11: $(head -c 800 "$TMP/err")"
    if [ -n "$cxx" ]; then
        checks=$((checks + 1))
        cp "$TMP/alone.c" "$TMP/alone.cc"
        "$cxx" -std=c++11 -Wall -Wextra -pedantic -Werror -fsyntax-only -I"$inc" "$TMP/alone.cc" \
            2>"$TMP/err" || fail "$name does not compile as C++: $(head -c 800 "$TMP/err")"
        [ "$name" = bnnc.h ] && continue
        # Any header that declares functions must give them C linkage.
        if grep -q '^[a-z_ ]*[a-z_]\+ \*\?bnn_[a-z0-9_]*(' "$h"; then
            checks=$((checks + 1))
            grep -q 'extern "C"' "$h" || fail "$name declares functions without extern \"C\" guards"
        fi
    fi
done
echo "$n headers compiled alone${cxx:+ (C and C++)}"
if [ -n "$cxx" ]; then
    # And the proof that the guards work: a C++ program calls into the library.
    checks=$((checks + 1))
    cat >"$TMP/main.cc" <<'CC'
#include <bnnc/bnnc.h>
#include <cstring>
int main()
{
    bnn_diag diag;
    bnn_graph *g = nullptr;
    bnn_status st = bnn_graph_parse("not a graph", "x.ir", &g, &diag);
    return st != BNN_OK && std::strcmp(bnn_version(), BNNC_VERSION_STRING) == 0 ? 0 : 1;
}
CC
    # shellcheck disable=SC2086
    if "$cxx" -std=c++11 $san -I"$inc" "$TMP/main.cc" "$so" -o "$TMP/main" 2>"$TMP/err"; then
        LD_LIBRARY_PATH=${so%/*} "$TMP/main" || fail "a C++ program calling libbnnc got the wrong answer"
    else
        fail "a C++ program does not link against libbnnc.so: $(head -c 800 "$TMP/err")"
    fi
fi

echo "$checks checks, $failures failures"
[ "$failures" -eq 0 ]
