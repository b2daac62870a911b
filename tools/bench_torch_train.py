#!/usr/bin/python3
"""The PyTorch peer for `bnnc bench --train`: Bayes by Backprop on the CPU.

Runs the same math bnnc's trainer runs — one Gaussian weight sample per
forward pass shared by the batch (w = mu + softplus(rho) * eps), softmax
cross-entropy plus the closed-form KL to a N(0, 0.1^2) prior scaled by 1/N,
Adam — on Bayesian LeNet-5 and a Bayesian MLP 784-1200-1200-10, on synthetic
data, and prints one JSON object per model with training examples/s and peak
RSS.  Used by tools/bench; run by hand as

    /usr/bin/python3 tools/bench_torch_train.py --threads 2 --batch 64 --steps 50
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn.functional as F


class Reparam(torch.nn.Module):
    """Gaussian weights and bias; `conv` picks the layer's operation."""

    def __init__(self, weight_shape, bias_size, conv=None):
        super().__init__()
        self.w_mu = torch.nn.Parameter(torch.randn(weight_shape) * 0.1)
        self.w_rho = torch.nn.Parameter(torch.full(weight_shape, -3.0))
        self.b_mu = torch.nn.Parameter(torch.zeros(bias_size))
        self.b_rho = torch.nn.Parameter(torch.full((bias_size,), -3.0))
        self.conv = conv

    def forward(self, x):
        w = self.w_mu + F.softplus(self.w_rho) * torch.randn_like(self.w_mu)
        b = self.b_mu + F.softplus(self.b_rho) * torch.randn_like(self.b_mu)
        if self.conv is not None:
            return F.conv2d(x, w, b, padding=self.conv)
        return F.linear(x, w, b)

    def kl(self, prior_sigma=0.1):
        total = 0.0
        for mu, rho in ((self.w_mu, self.w_rho), (self.b_mu, self.b_rho)):
            sigma = F.softplus(rho)
            total = total + (torch.log(prior_sigma / sigma)
                             + (sigma ** 2 + mu ** 2) / (2 * prior_sigma ** 2) - 0.5).sum()
        return total


class LeNet5(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = Reparam((6, 1, 5, 5), 6, conv=2)
        self.c2 = Reparam((16, 6, 5, 5), 16, conv=0)
        self.f1 = Reparam((120, 400), 120)
        self.f2 = Reparam((84, 120), 84)
        self.f3 = Reparam((10, 84), 10)
        self.layers = [self.c1, self.c2, self.f1, self.f2, self.f3]

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = torch.flatten(x, 1)
        return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.f1 = Reparam((1200, 784), 1200)
        self.f2 = Reparam((1200, 1200), 1200)
        self.f3 = Reparam((10, 1200), 10)
        self.layers = [self.f1, self.f2, self.f3]

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))


def bench(model, batch, steps, warmup, n_train=8000):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        kl = sum(layer.kl() for layer in model.layers)
        loss = F.cross_entropy(logits, y) + kl / n_train
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    times.sort()
    median = statistics.median(times)
    return {
        "median_ms": median * 1e3,
        "p10_ms": times[len(times) // 10] * 1e3,
        "p90_ms": times[(len(times) * 9) // 10] * 1e3,
        "steps_per_s": 1 / median,
        "samples_per_s": batch / median,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--models", default="lenet5,mlp")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for name in args.models.split(","):
        model = {"lenet5": LeNet5, "mlp": MLP}[name]()
        result = bench(model, args.batch, args.steps, args.warmup)
        result.update(model=name, batch=args.batch, threads=args.threads,
                      peer="pytorch " + torch.__version__)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
