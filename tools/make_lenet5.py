#!/usr/bin/python3
"""Train LeNet-5 on bnnc's MNIST sample and export it to ONNX.

Reads examples/mnist/*-ubyte.gz (made by tools/make_mnist_sample.py), trains
LeNet-5 with torch on the 8,000 train digits, prints the accuracy on the 2,000
test digits after each epoch, and writes:
  examples/lenet5.onnx           opset 13, input "input" f32[N,1,28,28],
                                 output "logits" f32[N,10] (no softmax)
  examples/lenet5.expected.json  final test accuracy, and torch's logits for
                                 the first 5 test digits
The export is checked with onnx.checker and with a float64 NumPy evaluation of
the ONNX graph against torch (to 1e-4) over the first 64 test digits. Pixels
are fed as u8 / 255 in [0, 1], with no further normalisation.

Layers: conv1 (1->6, 5x5, pad 2), relu, maxpool 2, conv2 (6->16, 5x5), relu,
maxpool 2, flatten, fc1 (400->120), relu, fc2 (120->84), relu, fc3 (84->10).

Training: seeded (torch.manual_seed, 2 threads, deterministic algorithms),
Adam, batch 64, cross-entropy; lr 1e-3 for 15 epochs then 1e-4 for 5, with
random shifts of up to 2 pixels. With a constant lr and no shifts, LeNet-5 on
only 8,000 digits levels off at about 0.965-0.970 test accuracy; this recipe
reaches 0.977-0.981 for every seed tried (1-5). The script fails if the final
accuracy is below 0.97.

Run from the project root (2-3 minutes on 2 cores):
    /usr/bin/python3 tools/make_lenet5.py
"""

import argparse
import gzip
import json
import os
import re
import struct
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_torch_fixtures import check_export, export_onnx, op_types, write_atomic  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 5
EPOCHS = 20
DECAY_EPOCHS = 5      # the last epochs run at LR * 0.1
SHIFT = 2             # random translation of up to this many pixels
BATCH = 64
LR = 1e-3
TARGET_ACCURACY = 0.97


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


def read_idx(path):
    """Read a (gzip'd) IDX file of unsigned bytes into a NumPy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise SystemExit("%s: not an unsigned-byte IDX file" % path)
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise SystemExit("%s: %d bytes of data for dims %s" % (path, array.size, dims))
    return array.reshape(dims)


def load_split(mnist_dir, prefix):
    x = read_idx(os.path.join(mnist_dir, prefix + "-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(mnist_dir, prefix + "-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(x.astype(np.float32) / np.float32(255.0)).unsqueeze(1)
    return x, torch.from_numpy(y.astype(np.int64))


def random_shift(x, generator):
    """Translate each image by up to SHIFT pixels in x and y, filling with 0."""
    n, _, h, w = x.shape
    padded = nn.functional.pad(x, (SHIFT, SHIFT, SHIFT, SHIFT))
    offsets = torch.randint(0, 2 * SHIFT + 1, (n, 2), generator=generator)
    rows = (offsets[:, 0:1] + torch.arange(h)).view(n, h, 1)
    cols = (offsets[:, 1:2] + torch.arange(w)).view(n, 1, w)
    return padded[torch.arange(n).view(n, 1, 1), 0, rows, cols].unsqueeze(1)


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum())
                      for i in range(0, len(y), 500))
    return correct / len(y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(ROOT, "examples", "mnist"),
                        help="directory of the IDX .gz files (default: %(default)s)")
    parser.add_argument("--out", default=os.path.join(ROOT, "examples"),
                        help="where to write lenet5.onnx and lenet5.expected.json")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)

    train_x, train_y = load_split(args.data, "train")
    test_x, test_y = load_split(args.data, "t10k")
    print("train %s, test %s" % (tuple(train_x.shape), tuple(test_x.shape)))

    model = LeNet5()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.Generator().manual_seed(SEED)
    acc = 0.0
    for epoch in range(1, args.epochs + 1):
        model.train()
        lr = LR * 0.1 if epoch > args.epochs - DECAY_EPOCHS else LR
        for group in optimizer.param_groups:
            group["lr"] = lr
        perm = torch.randperm(len(train_y), generator=order)
        total = 0.0
        for i in range(0, len(perm), BATCH):
            idx = perm[i:i + BATCH]
            optimizer.zero_grad()
            loss = loss_fn(model(random_shift(train_x[idx], order)), train_y[idx])
            loss.backward()
            optimizer.step()
            total += float(loss) * len(idx)
        acc = accuracy(model, test_x, test_y)
        print("epoch %2d  lr %.0e  train loss %.4f  test accuracy %.4f" % (
            epoch, lr, total / len(perm), acc), flush=True)
    if acc < TARGET_ACCURACY:
        raise SystemExit("test accuracy %.4f is below %.2f" % (acc, TARGET_ACCURACY))

    model.eval()
    data = export_onnx(model, test_x[:1], input_name="input", output_name="logits")
    check_x = test_x[:64]
    with torch.no_grad():
        check_y = model(check_x).numpy()
    onnx_model, err = check_export(data, check_x.numpy(), check_y,
                                   input_name="input", output_name="logits")
    print("onnx ops: %s; max rel err vs torch over 64 digits %.2e" % (
        " ".join(op_types(onnx_model)), err))

    expected = {
        "model": "lenet5.onnx",
        "data": "mnist/t10k-*-ubyte.gz",
        "test_examples": len(test_y),
        "test_accuracy": acc,
        "test_correct": int(round(acc * len(test_y))),
        "first5_labels": [int(v) for v in test_y[:5]],
        "first5_logits": [[float(v) for v in row] for row in check_y[:5]],
        "note": "logits are torch's float32 outputs for inputs u8/255; compare with a "
                "tolerance of about 1e-4",
    }
    write_atomic(os.path.join(args.out, "lenet5.onnx"), data)
    # lists of numbers on one line each keep the file readable
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]",
                  json.dumps(expected, indent=2)) + "\n"
    assert json.loads(text) == expected
    write_atomic(os.path.join(args.out, "lenet5.expected.json"), text.encode("utf-8"))
    print("wrote %s (%d bytes) and lenet5.expected.json" % (
        os.path.join(args.out, "lenet5.onnx"), len(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
