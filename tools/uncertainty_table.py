#!/usr/bin/python3
"""Uncertainty table: bnnc's Bayesian recipe beside post-hoc baselines.

One table, rows = methods, columns = in-distribution accuracy / NLL / ECE, the
same under shift (rotations, additive Gaussian noise; several strengths) and
out-of-distribution AUROC (uniform-noise images, and a second data set).  Every
row is scored by the same metric code (below) from predictive probabilities and
per-example uncertainty, so the numbers are comparable.

Protocol (docs/uncertainty.md): the training split of DATA is cut into a
training part (all but the last --val examples) and a held-out validation part
(the last --val examples, the same rows `bnnc train --val-split` holds out).
The "original" network is a LeNet-5 trained here with torch on the training
part only, exported to ONNX; it is the model bnnc converts.  Baselines, built
with torch from the same data:
  original          the deterministic network
  temperature       one temperature fitted on the validation part (NLL)
  last-layer Laplace  full GGN of the last layer, prior precision chosen on the
                    validation part, probit predictive
  ensemble of 5     five networks, different seeds, probabilities averaged
bnnc rows run the `bnnc` commands given in RECIPES (convert, train, eval via
`bnnc run --output --uncertainty` on the same arrays).

Trained networks and arrays are cached under --cache (default /tmp/bnnc_unc),
so a second run only re-runs bnnc.  Run from the project root:
    /usr/bin/python3 tools/uncertainty_table.py --dataset mnist
    /usr/bin/python3 tools/uncertainty_table.py --dataset fashion
"""

import argparse
import gzip
import json
import math
import os
import shlex
import struct
import subprocess
import sys

import numpy as np
import torch
from torch import nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASETS = {
    "mnist": (os.path.join(ROOT, "examples", "mnist"), "/usr/share/datasets/fashion-mnist"),
    "fashion": ("/usr/share/datasets/fashion-mnist", os.path.join(ROOT, "examples", "mnist")),
}
ROTATIONS = [15, 30, 45, 60, 90, 120, 150, 180]
NOISE_STD = [0.2, 0.4, 0.6]
ECE_BINS = 15
MEMBERS = 5


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def features(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = torch.relu(self.fc1(x))
        return torch.relu(self.fc2(x))

    def forward(self, x):
        return self.fc3(self.features(x))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    _, _, ndim = struct.unpack(">HBB", data[:4])
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(d, prefix, limit=None):
    x = read_idx(os.path.join(d, prefix + "-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(d, prefix + "-labels-idx1-ubyte.gz"))
    if limit:
        x, y = x[:limit], y[:limit]
    return (x.astype(np.float32) / np.float32(255.0))[:, None], y.astype(np.int64)


def rotate(x, degrees):
    """Counter-clockwise about the centre, bilinear, zero fill (as bnnc eval --shift)."""
    t = math.radians(degrees)
    theta = torch.tensor([[math.cos(t), math.sin(t), 0.0], [-math.sin(t), math.cos(t), 0.0]],
                         dtype=torch.float64).expand(len(x), 2, 3)
    xt = torch.from_numpy(x).double()
    grid = nn.functional.affine_grid(theta, list(xt.shape), align_corners=True)
    return nn.functional.grid_sample(xt, grid, align_corners=True).float().numpy()


# ---------------------------------------------------------------- metrics

def metrics(p, y):
    """accuracy, NLL, ECE (15 equal-width bins) of predictive probabilities p."""
    p = p.astype(np.float64)
    pred = p.argmax(1)
    acc = float((pred == y).mean())
    nll = float(-np.log(np.maximum(p[np.arange(len(y)), y], 1e-12)).mean())
    conf = p.max(1)
    bins = np.clip(np.ceil(conf * ECE_BINS).astype(int) - 1, 0, ECE_BINS - 1)
    ece = 0.0
    for b in range(ECE_BINS):
        m = bins == b
        if m.any():
            ece += m.mean() * abs((pred[m] == y[m]).mean() - conf[m].mean())
    return acc, nll, ece


def auroc(score_in, score_out):
    """P(out scores above in), ties counting one half (Mann-Whitney)."""
    s = np.concatenate([score_in, score_out]).astype(np.float64)
    order = s.argsort(kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    n_in, n_out = len(score_in), len(score_out)
    return float((ranks[n_in:].sum() - n_out * (n_out + 1) / 2) / (n_in * n_out))


def entropy(p):
    p = p.astype(np.float64)
    return -(p * np.log(np.maximum(p, 1e-30))).sum(1)


def from_samples(ps):
    """[S, n, K] sample probabilities -> mean, predictive entropy, mutual information."""
    mean = ps.mean(0)
    total = entropy(mean)
    mi = np.maximum(total - np.mean([entropy(q) for q in ps], axis=0), 0)
    return mean, total, mi


# ---------------------------------------------------------------- data

def prepare(args):
    d_in, d_ood = DATASETS[args.dataset]
    cache = os.path.join(args.cache, args.dataset)
    os.makedirs(cache, exist_ok=True)
    marker = os.path.join(cache, "sets.json")
    if os.path.exists(marker):
        return cache, json.load(open(marker))
    xtr, ytr = load_split(d_in, "train", args.train_limit)
    xte, yte = load_split(d_in, "t10k", args.test_limit)
    xo, _ = load_split(d_ood, "t10k", args.test_limit)
    n_val = args.val
    np.save(os.path.join(cache, "train_x.npy"), xtr[:-n_val])
    np.save(os.path.join(cache, "train_y.npy"), ytr[:-n_val])
    np.save(os.path.join(cache, "val_x.npy"), xtr[-n_val:])
    np.save(os.path.join(cache, "val_y.npy"), ytr[-n_val:])
    np.save(os.path.join(cache, "trainval_x.npy"), xtr)
    np.save(os.path.join(cache, "trainval_y.npy"), ytr)
    np.save(os.path.join(cache, "test_y.npy"), yte)
    sets = {"test": "test"}
    np.save(os.path.join(cache, "x_test.npy"), xte)
    for deg in ROTATIONS:
        np.save(os.path.join(cache, "x_rot%d.npy" % deg), rotate(xte, deg))
        sets["rot%d" % deg] = "rot%d" % deg
    rng = np.random.default_rng(12345)
    for s in NOISE_STD:
        noisy = np.clip(xte + rng.normal(0, s, xte.shape).astype(np.float32), 0, 1)
        np.save(os.path.join(cache, "x_noise%g.npy" % s), noisy)
        sets["noise%g" % s] = "noise%g" % s
    np.save(os.path.join(cache, "x_ood_uniform.npy"),
            rng.random(xte.shape, dtype=np.float32))
    np.save(os.path.join(cache, "x_ood_other.npy"), xo)
    sets["ood_uniform"] = "ood_uniform"
    sets["ood_other"] = "ood_other"
    json.dump(sets, open(marker, "w"))
    return cache, sets


# ---------------------------------------------------------------- baselines

def train_member(x, y, seed, epochs, threads):
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    model = LeNet5()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for epoch in range(epochs):
        lr = 1e-4 if epoch >= epochs - max(1, epochs // 4) else 1e-3
        for g in opt.param_groups:
            g["lr"] = lr
        perm = torch.randperm(len(yt), generator=gen)
        model.train()
        for i in range(0, len(perm), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
        print("  seed %d epoch %d done" % (seed, epoch + 1), file=sys.stderr, flush=True)
    model.eval()
    return model


def logits_of(model, x):
    with torch.no_grad():
        return torch.cat([model(torch.from_numpy(x[i:i + 1000])) for i in range(0, len(x), 1000)])


def fit_temperature(logits, y):
    yt = torch.from_numpy(y)
    best = (float("inf"), 1.0)
    for t in np.exp(np.linspace(math.log(0.2), math.log(10), 400)):
        nll = float(nn.functional.cross_entropy(logits / t, yt))
        best = min(best, (nll, float(t)))
    return best[1]


def last_layer_laplace(model, xtr, xval, yval):
    """Full-GGN Laplace over fc3 (weights and bias); prior precision on val NLL."""
    with torch.no_grad():
        phi = torch.cat([model.features(torch.from_numpy(xtr[i:i + 1000]))
                         for i in range(0, len(xtr), 1000)]).double()
        phi = torch.cat([phi, torch.ones(len(phi), 1, dtype=torch.float64)], 1)
        p = torch.softmax(model.fc3(phi[:, :-1].float()).double(), 1)
    k, d = p.shape[1], phi.shape[1]
    # H = sum_i (diag p_i - p_i p_i^T) kron phi_i phi_i^T, parameters ordered [class, feature]
    lam = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    h = torch.zeros(k, d, k, d, dtype=torch.float64)
    for a in range(k):
        for b in range(k):
            h[a, :, b, :] = (phi * lam[:, a, b, None]).T @ phi
    h = h.reshape(k * d, k * d)
    w_mean = torch.cat([model.fc3.weight, model.fc3.bias[:, None]], 1).detach().double()

    def predict(prec, x):
        cov = torch.linalg.inv(h + prec * torch.eye(k * d, dtype=torch.float64))
        with torch.no_grad():
            f = torch.cat([model.features(torch.from_numpy(x[i:i + 1000]))
                           for i in range(0, len(x), 1000)]).double()
        f = torch.cat([f, torch.ones(len(f), 1, dtype=torch.float64)], 1)
        mean = f @ w_mean.T
        c = cov.reshape(k, d, k, d)
        var = torch.einsum("ni,aiaj,nj->na", f, c, f)
        probs = torch.softmax(mean / torch.sqrt(1 + math.pi / 8 * var), 1)
        return probs.numpy(), var

    best = (float("inf"), None)
    for prec in np.exp(np.linspace(math.log(1e-3), math.log(1e4), 36)):
        pv, _ = predict(prec, xval)
        nll = float(-np.log(np.maximum(pv[np.arange(len(yval)), yval], 1e-12)).mean())
        best = min(best, (nll, float(prec)))
    return best[1], predict


def baselines(args, cache, sets):
    out = os.path.join(cache, "baselines.npz")
    if os.path.exists(out) and not args.train_members:
        return dict(np.load(out, allow_pickle=True))["rows"].item()
    xtr = np.load(os.path.join(cache, "train_x.npy"))
    ytr = np.load(os.path.join(cache, "train_y.npy"))
    xval = np.load(os.path.join(cache, "val_x.npy"))
    yval = np.load(os.path.join(cache, "val_y.npy"))
    members = []
    for m in range(MEMBERS if args.train_members else 1):
        path = os.path.join(cache, "member%d.pt" % m)
        if not os.path.exists(path):
            model = train_member(xtr, ytr, 1 + m, args.epochs, args.threads)
            torch.save(model.state_dict(), path + ".tmp")
            os.replace(path + ".tmp", path)
            print("member %d trained" % m, file=sys.stderr, flush=True)
    for m in range(MEMBERS):
        path = os.path.join(cache, "member%d.pt" % m)
        if os.path.exists(path):
            model = LeNet5()
            model.load_state_dict(torch.load(path))
            model.eval()
            members.append(model)
    original = members[0]
    onnx_path = os.path.join(cache, "original.onnx")
    if not os.path.exists(onnx_path):
        torch.onnx.export(original, torch.from_numpy(xval[:1]), onnx_path,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                          opset_version=13)
    t = fit_temperature(logits_of(original, xval), yval)
    prec, ll_predict = last_layer_laplace(original, xtr, xval, yval)
    print("temperature %.3f; last-layer Laplace prior precision %.3g" % (t, prec),
          file=sys.stderr)
    ens = "ensemble of %d" % len(members)
    rows = {"original": {}, "temperature": {}, "last-layer Laplace": {}}
    if len(members) > 1:
        rows[ens] = {}
    for name in sets:
        x = np.load(os.path.join(cache, "x_%s.npy" % name))
        lo = logits_of(original, x)
        p = torch.softmax(lo, 1).numpy()
        rows["original"][name] = (p, entropy(p), np.zeros(len(p)))
        p = torch.softmax(lo / t, 1).numpy()
        rows["temperature"][name] = (p, entropy(p), np.zeros(len(p)))
        p, var = ll_predict(prec, x)
        # MI of the probit predictive is not defined without samples: draw 32 logits
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            f = torch.cat([original.features(torch.from_numpy(x[i:i + 1000]))
                           for i in range(0, len(x), 1000)])
            mean = original.fc3(f).double()
        draws = torch.softmax(mean[None] + var.sqrt()[None] *
                              torch.randn((32,) + tuple(mean.shape), generator=g,
                                          dtype=torch.float64), 2).numpy()
        _, _, mi = from_samples(draws)
        rows["last-layer Laplace"][name] = (p, entropy(p), mi)
        if len(members) > 1:
            ps = np.stack([torch.softmax(logits_of(m, x), 1).numpy() for m in members])
            rows[ens][name] = from_samples(ps)
    np.savez(out, rows=np.array(rows, dtype=object))
    return rows


# ---------------------------------------------------------------- bnnc rows

def run(cmd):
    print("+ " + cmd, file=sys.stderr, flush=True)
    subprocess.run(cmd, shell=True, check=True, cwd=ROOT, stdout=sys.stderr)


def bnnc_row(args, cache, sets, name, commands, eval_opts):
    """commands: shell lines with {orig} {work} {train_x}... placeholders; the last
    model written is {work}/final.onnx."""
    work = os.path.join(cache, "bnnc_" + "".join(c if c.isalnum() else "_" for c in name))
    os.makedirs(work, exist_ok=True)
    n_trainval = len(np.load(os.path.join(cache, "trainval_y.npy")))
    fmt = dict(b=args.bnnc, orig=os.path.join(cache, "original.onnx"), work=work,
               cache=cache, threads=args.threads, val_split="%.9g" % (args.val / n_trainval))
    if not os.path.exists(os.path.join(work, "final.onnx")):
        for c in commands:
            run(c.format(**fmt))
    row = {}
    for s in sets:
        pm, pu = os.path.join(work, "p_%s.npy" % s), os.path.join(work, "u_%s.npy" % s)
        if not os.path.exists(pu):
            run("{b} run {work}/final.onnx --input {cache}/x_{s}.npy --output {pm} "
            "--uncertainty {pu} --quiet --threads {threads} {opts}".format(
                s=s, pm=pm, pu=pu, opts=eval_opts, **fmt))
        p, u = np.load(pm), np.load(pu)
        if u.ndim == 1:
            u = np.stack([u, u, np.zeros_like(u)], 1)
        row[s] = (p, u[:, 0], u[:, 2])
    return row


def table(rows, cache):
    y = np.load(os.path.join(cache, "test_y.npy"))
    head = ["method", "acc", "NLL", "ECE", "rot acc", "rot NLL", "rot ECE",
            "noise acc", "noise NLL", "noise ECE",
            "AUROC H unif", "AUROC MI unif", "AUROC H other", "AUROC MI other"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name, r in rows.items():
        ti = metrics(r["test"][0], y)
        rot = np.array([metrics(r["rot%d" % d][0], y) for d in ROTATIONS]).mean(0)
        noi = np.array([metrics(r["noise%g" % s][0], y) for s in NOISE_STD]).mean(0)
        au = []
        for o in ("ood_uniform", "ood_other"):
            au += [auroc(r["test"][1], r[o][1]), auroc(r["test"][2], r[o][2])]
        cells = [name] + ["%.4f" % v for v in ti] + ["%.4f" % v for v in rot] + \
                ["%.4f" % v for v in noi] + ["%.3f" % v for v in au]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(DATASETS), default="mnist")
    ap.add_argument("--cache", default="/tmp/bnnc_unc")
    ap.add_argument("--bnnc", default=os.path.join(ROOT, "build", "tools", "bnnc"))
    ap.add_argument("--val", type=int, default=1000, help="held-out examples (default 1000)")
    ap.add_argument("--train-limit", type=int, default=None)
    ap.add_argument("--test-limit", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=12, help="baseline training epochs")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-members", action="store_true",
                    help="train all %d ensemble members (slow; cached)" % MEMBERS)
    ap.add_argument("--baselines-only", action="store_true")
    ap.add_argument("--skip-baselines", action="store_true", help="bnnc rows only")
    ap.add_argument("--report", action="store_true",
                    help="print the table from cached results only, running nothing")
    ap.add_argument("--recipes", default=os.path.join(ROOT, "tools", "uncertainty_recipes.json"),
                    help="JSON list of {name, commands, eval} bnnc rows")
    ap.add_argument("--only", default=None, help="recipe names to run, separated by ;")
    args = ap.parse_args()
    cache, sets = prepare(args)
    if args.report and not os.path.exists(os.path.join(cache, "baselines.npz")):
        rows = {}
    else:
        rows = {} if args.skip_baselines else baselines(args, cache, sets)
    if args.baselines_only:
        return 0
    recipes = json.load(open(args.recipes))
    for r in recipes:
        if args.only and r["name"] not in args.only.split(";"):
            continue
        if args.report:
            work = os.path.join(cache, "bnnc_" + "".join(c if c.isalnum() else "_" for c in r["name"]))
            if not all(os.path.exists(os.path.join(work, "u_%s.npy" % s)) for s in sets):
                continue
        rows[r["name"]] = bnnc_row(args, cache, sets, r["name"], r["commands"], r.get("eval", ""))
    print("dataset %s; rotations %s (mean); noise std %s (mean); %d test examples" % (
        args.dataset, ROTATIONS, NOISE_STD, len(np.load(os.path.join(cache, "test_y.npy")))))
    print(table(rows, cache))
    return 0


if __name__ == "__main__":
    sys.exit(main())
