#!/bin/sh
# tests/install/install_embed.sh BUILD SOURCE CC SANITIZE
#
# Installs the build into a scratch --destdir, then, as a user of the
# installed bnnc would, compiles examples/embed.c with nothing but
# `pkg-config --cflags --libs bnnc` (shared) and `--static` (libbnnc.a), runs
# both on a small classifier and checks what they print against the installed
# `bnnc run`.  SANITIZE is the build's b_sanitize ("none" or e.g.
# "address,undefined"): a sanitized libbnnc needs the same runtime in embed.
set -u
build=$1
src=$2
cc=$3
sanitize=$4

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
root=$TMP/root
failures=0
checks=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
check() { checks=$((checks + 1)); }

if ! meson install -C "$build" --destdir "$root" --no-rebuild --quiet >"$TMP/install.log" 2>&1; then
    cat "$TMP/install.log"
    echo "FAIL: meson install --destdir failed"
    exit 1
fi

# What must be installed, wherever prefix and libdir point.
pc=$(find "$root" -name bnnc.pc | head -n 1)
for f in bnnc.pc bin/bnnc libbnnc.so libbnnc.a include/bnnc/bnnc.h include/bnnc/bnnc_version.h \
         include/bnnc/bnn_runtime.h include/bnnc/ops.def man1/bnnc.1; do
    check
    find "$root" -path "*$f" | grep -q . || fail "'$f' is not installed"
done
[ -n "$pc" ] || { echo "FAIL: no bnnc.pc; nothing more to check"; exit 1; }

# The .pc names paths under the real prefix: a copy whose prefix is moved
# into $root (only bnnc's; its dependencies' .pc files stay as they are).
mkdir "$TMP/pc"
sed "s|^prefix=|prefix=$root|" "$pc" >"$TMP/pc/bnnc.pc"
export PKG_CONFIG_PATH="$TMP/pc"
libdir=$(pkg-config --variable=libdir bnnc)
bindir=$(pkg-config --variable=prefix bnnc)/bin
# meson test points LD_LIBRARY_PATH at the build tree: only the installed
# library may be found here.
unset LD_LIBRARY_PATH
check
[ "$(pkg-config --modversion bnnc)" = "$(sed -n 's/^#define BNNC_VERSION_STRING "\(.*\)"$/\1/p' \
    "$(pkg-config --variable=includedir bnnc)/bnnc/bnnc_version.h")" ] ||
    fail "bnnc.pc's version and bnnc_version.h differ"

san=""
[ "$sanitize" = none ] || san="-fsanitize=$sanitize"
flags="-std=c11 -Wall -Wextra -pedantic -Werror $san"
# shellcheck disable=SC2046,SC2086
if ! "$cc" $flags "$src/examples/embed.c" $(pkg-config --cflags bnnc) \
        $(pkg-config --libs bnnc) -o "$TMP/embed_shared" 2>"$TMP/cc.log"; then
    cat "$TMP/cc.log"
    fail "embed.c does not build against the shared library"
fi
check
# Static: the same program with libbnnc.a and what Libs.private and
# Requires.private add; only libbnnc itself is forced static (Debian ships
# shared-only builds of some of its dependencies).
static_libs=$(pkg-config --static --libs bnnc | sed 's/-lbnnc\b/-Wl,-Bstatic -lbnnc -Wl,-Bdynamic/')
# shellcheck disable=SC2046,SC2086
if ! "$cc" $flags "$src/examples/embed.c" $(pkg-config --cflags bnnc) $static_libs \
        -o "$TMP/embed_static" 2>"$TMP/cc.log"; then
    cat "$TMP/cc.log"
    fail "embed.c does not build against the static library (pkg-config --static)"
fi
check
if readelf -d "$TMP/embed_shared" | grep -q 'NEEDED.*libbnnc\.so'; then :; else
    fail "embed_shared does not load libbnnc.so"
fi
check
if readelf -d "$TMP/embed_static" | grep -q 'NEEDED.*libbnnc'; then
    fail "embed_static still loads libbnnc.so"
fi

model=$src/tests/cli/fixtures/tiny_classifier.onnx
x=$src/tests/cli/fixtures/tiny_x.npy
for kind in shared static; do
    check
    if ! LD_LIBRARY_PATH=$libdir "$TMP/embed_$kind" "$model" "$x" 4 >"$TMP/$kind.out" 2>"$TMP/$kind.err"; then
        fail "embed ($kind) failed: $(cat "$TMP/$kind.err")"
    fi
done
cat "$TMP/shared.out"
check
cmp -s "$TMP/shared.out" "$TMP/static.out" || fail "shared and static embed print different results"
check
grep -qx "bnnc $(pkg-config --modversion bnnc) (compiled against $(pkg-config --modversion bnnc))" \
    "$TMP/shared.out" || fail "embed does not print the library's version"
check
grep -q '^to-bnn: [1-9][0-9]* Bayesian layers$' "$TMP/shared.out" ||
    fail "to-bnn converted no layer"

# The installed program on the same input prints each row's top class and
# its softmax probability ("  I: class C  p=P"): embed's outputs must give
# the same class and, through a softmax, the same probability.
check
if ! LD_LIBRARY_PATH=$libdir "$bindir/bnnc" run "$model" --input "$x" --threads 1 \
        >"$TMP/run.out" 2>"$TMP/run.err"; then
    fail "installed bnnc run failed: $(cat "$TMP/run.err")"
fi
rows=$(grep -c '^ *[0-9]*: class [0-9]*  p=' "$TMP/run.out")
check
[ "$rows" -gt 0 ] || fail "bnnc run printed no rows: $(cat "$TMP/run.out")"
i=0
while [ "$i" -lt "$rows" ]; do
    check
    want=$(sed -n "s/^ *$i: class \([0-9]*\)  p=\([0-9.]*\).*/\1 \2/p" "$TMP/run.out")
    got=$(awk -v row="row $i:" 'index($0, row) == 1 && $5 == "outputs" {
              m = $6; for (j = 7; j <= NF; j++) if ($j > m) m = $j
              s = 0; for (j = 6; j <= NF; j++) s += exp($j - m)
              printf "%s %.4f", $4, 1 / s }' "$TMP/shared.out")
    [ -n "$want" ] && [ "$want" = "$got" ] ||
        fail "row $i: bnnc run says class and p '$want', embed's outputs give '$got'"
    i=$((i + 1))
done
# Posterior means are the trained weights and sigma is small, so the
# Bayesian model's predictive keeps the deterministic model's classes here.
i=0
while [ "$i" -lt "$rows" ]; do
    check
    det=$(sed -n "s/^row $i: class \([0-9]*\)  outputs.*/\1/p" "$TMP/shared.out")
    bay=$(sed -n "s/^row $i: class \([0-9]*\)  p .*/\1/p" "$TMP/shared.out")
    [ "$det" = "$bay" ] || fail "row $i: predictive class '$bay', deterministic '$det'"
    i=$((i + 1))
done

# The whole round through the public API: the bundled LeNet-5, converted,
# trained one epoch on 512 of the bundled MNIST examples, then predicted.
# Training starts from the trained weights: it must stay accurate, and the
# predictive must keep the deterministic model's classes on most rows.
check
if ! LD_LIBRARY_PATH=$libdir "$TMP/embed_shared" "$src/examples/lenet5.onnx" \
        "$src/examples/digits/batch16.npy" 4 "$src/examples/mnist" 512 >"$TMP/train.out" 2>"$TMP/train.err"; then
    fail "embed with training failed: $(cat "$TMP/train.err")"
fi
cat "$TMP/train.out"
check
acc=$(sed -n 's/^trained 1 epoch on 512 examples: cross-entropy [0-9.]*  KL [0-9.]*  accuracy \([0-9.]*\)$/\1/p' \
    "$TMP/train.out")
awk -v a="$acc" 'BEGIN { exit !(a != "" && a + 0 >= 0.9) }' ||
    fail "training accuracy '$acc' (want a 'trained 1 epoch on 512 examples' line with accuracy >= 0.9)"
check
same=$(awk '$1 == "row" && $5 == "outputs" { det[$2] = $4 }
            $1 == "row" && $5 == "p" { if (det[$2] == $4) n++ }
            END { print n + 0 }' "$TMP/train.out")
[ "$same" -ge 14 ] || fail "the trained predictive keeps the deterministic class on $same of 16 rows (want >= 14)"

# A bad input is an error with the file's name, not a crash.
check
if LD_LIBRARY_PATH=$libdir "$TMP/embed_shared" "$TMP/missing.onnx" "$x" >"$TMP/out" 2>"$TMP/err"; then
    fail "embed succeeded on a missing model"
fi
grep -q "missing.onnx" "$TMP/err" || fail "embed's error does not name the model: $(cat "$TMP/err")"

echo "$checks checks, $failures failures"
[ "$failures" -eq 0 ]
