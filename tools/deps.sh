# Sourced by tools/check and tools/demo: installs the Debian packages bnnc
# needs to build and test, when any is missing.  Uses sudo when not root.
BNNC_PACKAGES="gcc pkg-config meson ninja-build libprotobuf-c-dev protobuf-c-compiler
libopenblas-dev libcriterion-dev libonnx-dev libonnx-testdata zlib1g-dev"
# data-parallel train/eval under mpirun (docs/distributed.md)
BNNC_PACKAGES="$BNNC_PACKAGES libopenmpi-dev openmpi-bin"

bnnc_install_deps() {
    local missing=()
    for p in $BNNC_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "tools: installing missing packages: ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "tools: need root or sudo to install ${missing[*]}" >&2; return 1; }
        sudo="sudo"
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# tools/fuzz also needs clang's libFuzzer and sanitizer runtimes (and its
# OpenMP, since the runtime library links OpenMP).
BNNC_FUZZ_PACKAGES="clang libclang-rt-14-dev libomp-14-dev"

# tools/check's build matrix also builds with clang (and its OpenMP).
BNNC_MATRIX_PACKAGES="clang libomp-dev"
