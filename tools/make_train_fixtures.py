#!/usr/bin/python3
"""Fixtures for the trainer's tests (tests/train_integration), made with PyTorch.

Writes under tests/fixtures/train/:
  lenet5_init.onnx   an untrained LeNet-5 (PyTorch's default init, seed 0),
                     input "input" f32[N,1,28,28], output "logits" f32[N,10];
                     the from-scratch integration test trains it.
  mlp_init.onnx      an untrained MLP 784-64-10 (seed 1) for the fast
                     command-line tests.
  step/              a tiny deterministic conv net and one batch, with the
                     parameters PyTorch holds after two optimizer steps on that
                     batch, for SGD (momentum 0.9), Adam and AdamW:
      x.npy y.npy                   f32 [4,1,6,6], i64 [4]
      <param>.npy                   initial values (conv.weight [2,1,3,3],
                                    conv.bias [2], fc.weight [3,18], fc.bias [3])
      <optimizer>.<param>.npy       after step 2
      <optimizer>.loss.npy          f64 [2]: the loss at step 1 and step 2
      optimizers.json               the settings of each optimizer
  cli/               small .npy data sets for the command-line tests:
      x8.npy f32 [8,1,28,28] in [0,1]; y8.npy i64 [8] in [0,10)
      y8x2.npy i64 [8,2] (labels of the wrong shape); y7.npy i64 [7] (one short)
      y8big.npy i64 [8] with a label 12 (outside the 10 classes)
      x8flat.npy f32 [8,784] (not the model's input shape)
      x8huge.npy f32 [8,1,28,28] of 3e38 (the loss overflows at the first step)
  The tiny net: conv (1->2, 3x3, pad 1), relu, max_pool 2, flatten, dense 18->3,
  softmax cross-entropy (batch mean).

Everything is seeded, so re-running gives the same files. Run from anywhere:
    /usr/bin/python3 tools/make_train_fixtures.py

With --compare BNNC it writes nothing: it trains lenet5_init.onnx with BNNC
(Adam lr 1e-3, batch 64, the first 640 MNIST sample digits, 2 epochs, seed 0),
replays the same run in PyTorch with bnnc's batch order (bnn_shuffle_indices,
re-implemented below) and fails if a parameter differs by more than 1e-4:
    /usr/bin/python3 tools/make_train_fixtures.py --compare build/tools/bnnc
"""
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_lenet5 import LeNet5  # noqa: E402  (the same layers and names, untrained here)
from make_torch_fixtures import check_export, export_onnx, write_atomic  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "train")


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.fc = nn.Linear(18, 3)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(torch.flatten(x, 1))


OPTIMIZERS = {
    "sgd": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01},
    "adam": {"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"lr": 0.01, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.1},
}


def npy(path, array):
    import io
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    write_atomic(path, buf.getvalue())


def write_model(name, module, shape, seed):
    module.eval()
    x = torch.rand(shape, generator=torch.Generator().manual_seed(seed + 100))
    data = export_onnx(module, x, input_name="input", output_name="logits")
    with torch.no_grad():
        expected = module(x).numpy()
    check_export(data, x.numpy(), expected, input_name="input", output_name="logits")
    write_atomic(os.path.join(OUT, name), data)
    print("wrote %s (%d bytes)" % (name, len(data)))


def write_steps():
    step_dir = os.path.join(OUT, "step")
    os.makedirs(step_dir, exist_ok=True)
    torch.manual_seed(3)
    base = Tiny()
    # Larger weights than the default init so that relu and max-pool masks
    # are not trivial and the gradients are well away from zero.
    with torch.no_grad():
        for p in base.parameters():
            p.mul_(2.0)
    g = torch.Generator().manual_seed(4)
    x = torch.randn((4, 1, 6, 6), generator=g)
    y = torch.tensor([0, 2, 1, 2], dtype=torch.int64)
    npy(os.path.join(step_dir, "x.npy"), x.numpy().astype(np.float32))
    npy(os.path.join(step_dir, "y.npy"), y.numpy())
    for name, p in base.named_parameters():
        npy(os.path.join(step_dir, name + ".npy"), p.detach().numpy().astype(np.float32))
    for opt_name, cfg in OPTIMIZERS.items():
        model = Tiny()
        model.load_state_dict(base.state_dict())
        if opt_name == "sgd":
            opt = torch.optim.SGD(model.parameters(), **cfg)
        elif opt_name == "adam":
            opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], betas=tuple(cfg["betas"]),
                                   eps=cfg["eps"], weight_decay=cfg["weight_decay"])
        else:
            opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], betas=tuple(cfg["betas"]),
                                    eps=cfg["eps"], weight_decay=cfg["weight_decay"])
        losses = []
        for _ in range(2):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(float(loss))
        npy(os.path.join(step_dir, opt_name + ".loss.npy"), np.array(losses, dtype=np.float64))
        for name, p in model.named_parameters():
            npy(os.path.join(step_dir, "%s.%s.npy" % (opt_name, name)),
                p.detach().numpy().astype(np.float32))
        print("%s: losses %s" % (opt_name, losses))
    write_atomic(os.path.join(step_dir, "optimizers.json"),
                 (json.dumps(OPTIMIZERS, indent=2, sort_keys=True) + "\n").encode())


def write_cli():
    cli_dir = os.path.join(OUT, "cli")
    os.makedirs(cli_dir, exist_ok=True)
    rng = np.random.default_rng(7)
    x = rng.random((8, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, size=8).astype(np.int64)
    files = {
        "x8.npy": x,
        "y8.npy": y,
        "y8x2.npy": np.stack([y, y], axis=1),
        "y7.npy": y[:7].copy(),
        "y8big.npy": np.where(np.arange(8) == 5, 12, y).astype(np.int64),
        "x8flat.npy": x.reshape(8, 784),
        "x8huge.npy": np.full((8, 1, 28, 28), 3e38, dtype=np.float32),
    }
    for name, array in files.items():
        npy(os.path.join(cli_dir, name), array)
    print("wrote cli/: %s" % " ".join(sorted(files)))


def bnnc_shuffle(n, seed, epoch):
    """runtime/train.c's bnn_shuffle_indices: Fisher-Yates over splitmix64."""
    mask = (1 << 64) - 1
    state = ((seed * 0x100000001b3) & mask) ^ (((epoch + 1) * 0x9e3779b97f4a7c15) & mask)
    idx = list(range(n))
    for i in range(n - 1, 0, -1):
        state = (state + 0x9e3779b97f4a7c15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & mask
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & mask
        z ^= z >> 31
        j = (z * (i + 1)) >> 64
        idx[i], idx[j] = idx[j], idx[i]
    return idx


def compare(bnnc, limit=640, epochs=2, seed=0):
    import subprocess
    import tempfile
    import onnx
    from onnx import numpy_helper
    from make_lenet5 import load_split
    torch.set_num_threads(1)
    init = os.path.join(OUT, "lenet5_init.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "trained.onnx")
        subprocess.run([bnnc, "train", init, "--data", os.path.join(ROOT, "examples", "mnist"),
                        "--limit", str(limit), "--epochs", str(epochs), "--seed", str(seed),
                        "--batch", "64", "--lr", "1e-3", "--optimizer", "adam", "--threads", "1",
                        "-o", out], check=True, stdout=subprocess.DEVNULL)
        got = {t.name: numpy_helper.to_array(t) for t in onnx.load(out).graph.initializer}
    start = {t.name: numpy_helper.to_array(t) for t in onnx.load(init).graph.initializer}
    model = LeNet5()
    model.load_state_dict({k: torch.from_numpy(start[k].copy()) for k in model.state_dict()})
    x, y = load_split(os.path.join(ROOT, "examples", "mnist"), "train")
    x, y = x[:limit], y[:limit]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(epochs):
        order = torch.tensor(bnnc_shuffle(limit, seed, epoch))
        for i in range(0, limit, 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    worst = 0.0
    for name, p in model.state_dict().items():
        diff = float(np.max(np.abs(got[name] - p.numpy())))
        worst = max(worst, diff)
        print("%-14s max |bnnc - torch| %.3g (max |p| %.3g)" % (name, diff, float(p.abs().max())))
    if worst > 1e-4:
        raise SystemExit("bnnc and PyTorch disagree by %.3g after %d epochs" % (worst, epochs))
    print("bnnc follows PyTorch: worst difference %.3g over %d steps" % (
        worst, epochs * ((limit + 63) // 64)))
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--compare":
        return compare(sys.argv[2])
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    write_model("lenet5_init.onnx", LeNet5(), (2, 1, 28, 28), 0)
    torch.manual_seed(1)
    write_model("mlp_init.onnx", MLP(), (2, 1, 28, 28), 1)
    write_steps()
    write_cli()
    return 0


if __name__ == "__main__":
    sys.exit(main())
