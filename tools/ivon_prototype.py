"""IVON (Shen et al. 2024) prototype beside a PyTorch replica of bnnc's default
recipe, on the cache tools/uncertainty_table.py makes (docs/uncertainty.md).
usage: ivon_prototype.py METHOD SEED [cache=DIR ds=mnist lr= lam= b2= delta= prior=]
METHOD: bbb or ivon. Prints one JSON line of the table's metrics."""
import sys, json, numpy as np, torch, onnx
from onnx import numpy_helper
torch.set_num_threads(1)
method, seed = sys.argv[1], int(sys.argv[2])
kw = dict(a.split("=") for a in sys.argv[3:])
f = lambda k, d: float(kw.get(k, d))
C = kw.get("cache", "/work/unc") + "/" + kw.get("ds", "mnist") + "/"
W = {i.name: torch.tensor(numpy_helper.to_array(i)) for i in onnx.load(C + "original.onnx").graph.initializer}
names = ["conv1", "conv2", "fc1", "fc2", "fc3"]
ks = [f"{a}.{b}" for a in names for b in ("weight", "bias")]
x = torch.tensor(np.load(C + "trainval_x.npy")); y = torch.tensor(np.load(C + "trainval_y.npy"))
NV = 1000; xtr, ytr = x[:-NV], y[:-NV]; xv, yv = x[-NV:], y[-NV:]
N = len(xtr)
def net(w, xb):
    h = torch.max_pool2d(torch.relu(torch.conv2d(xb, w["conv1.weight"], w["conv1.bias"], padding=2)), 2)
    h = torch.max_pool2d(torch.relu(torch.conv2d(h, w["conv2.weight"], w["conv2.bias"])), 2).flatten(1)
    h = torch.relu(h @ w["fc1.weight"].T + w["fc1.bias"]); h = torch.relu(h @ w["fc2.weight"].T + w["fc2.bias"])
    return h @ w["fc3.weight"].T + w["fc3.bias"]
sp = torch.nn.functional.softplus
g = torch.Generator().manual_seed(seed)
epochs = int(f("epochs", 3)); ms = int(f("ms", 2)); B = 64
s0 = f("prior", 0.3); delta = f("delta", 0.1)
if method == "bbb":
    mu = {k: W[k].clone().requires_grad_() for k in ks}
    rho = {k: torch.log(torch.expm1(torch.clamp(delta * W[k].abs(), min=1e-5))).requires_grad_() for k in ks}
    opt = torch.optim.Adam(list(mu.values()) + list(rho.values()), lr=f("lr", 1.5e-3))
    for ep in range(epochs):
        if ep == ms:
            for pg in opt.param_groups: pg["lr"] *= 0.1
        perm = torch.randperm(N, generator=g)
        for i in range(0, N, B):
            idx = perm[i:i + B]
            w = {k: mu[k] + sp(rho[k]) * torch.randn(mu[k].shape, generator=g) for k in ks}
            kl = sum((torch.log(s0 / sp(rho[k])) + (sp(rho[k]) ** 2 + mu[k] ** 2) / (2 * s0 * s0) - 0.5).sum() for k in ks)
            loss = torch.nn.functional.cross_entropy(net(w, xtr[idx]), ytr[idx]) + kl / N
            opt.zero_grad(); loss.backward(); opt.step()
    M = {k: mu[k].detach() for k in ks}; S = {k: sp(rho[k]).detach() for k in ks}
else:
    lam = f("lam", N) ; wd = 1.0 / (lam * s0 * s0)
    b1, b2 = f("b1", 0.9), f("b2", 0.99); lr = f("lr", 0.1); mc = int(f("mc", 1))
    m = {k: W[k].clone() for k in ks}
    sig0 = {k: torch.clamp(delta * W[k].abs(), min=1e-5) for k in ks}
    h = {k: torch.clamp(1.0 / (lam * sig0[k] ** 2) - wd, min=f("hmin", 1e-3)) if kw.get("h0") is None else torch.full_like(m[k], f("h0", 0)) for k in ks}
    gm = {k: torch.zeros_like(m[k]) for k in ks}
    t = 0
    for ep in range(epochs):
        if ep == ms: lr *= 0.1
        perm = torch.randperm(N, generator=g)
        for i in range(0, N, B):
            idx = perm[i:i + B]; t += 1
            gh = {k: torch.zeros_like(m[k]) for k in ks}; hh = {k: torch.zeros_like(m[k]) for k in ks}
            for _ in range(mc):
                sig = {k: 1.0 / torch.sqrt(lam * (h[k] + wd)) for k in ks}
                eps = {k: sig[k] * torch.randn(m[k].shape, generator=g) for k in ks}
                w = {k: (m[k] + eps[k]).requires_grad_() for k in ks}
                loss = torch.nn.functional.cross_entropy(net(w, xtr[idx]), ytr[idx])
                gr = torch.autograd.grad(loss, [w[k] for k in ks])
                for k, gk in zip(ks, gr):
                    gh[k] += gk / mc; hh[k] += gk * eps[k] / sig[k] ** 2 / mc
            for k in ks:
                gm[k] = b1 * gm[k] + (1 - b1) * gh[k]
                h[k] = b2 * h[k] + (1 - b2) * hh[k] + 0.5 * (1 - b2) ** 2 * (h[k] - hh[k]) ** 2 / (h[k] + wd)
                gbar = gm[k] / (1 - b1 ** t)
                m[k] = m[k] - lr * (gbar + wd * m[k]) / (h[k] + wd)
    M = m; S = {k: 1.0 / torch.sqrt(lam * (h[k] + wd)) for k in ks}
    print("sigma/sigma0 medians:", {k: round(float((S[k] / sig0[k]).median()), 3) for k in ks}, file=sys.stderr)
def predict(xs, T=1.0, n=32):
    gg = torch.Generator().manual_seed(1234); ps = []
    with torch.no_grad():
        for _ in range(n):
            w = {k: M[k] + S[k] * torch.randn(M[k].shape, generator=gg) for k in ks}
            ps.append(torch.log_softmax(net(w, torch.tensor(xs)), 1).double())
    return torch.stack(ps)
def mix(lp, T):
    p = torch.softmax(lp / T, 2).mean(0).numpy()
    ps = torch.softmax(lp / T, 2).numpy()
    H = -(p * np.log(np.clip(p, 1e-300, 1))).sum(1); E = -(ps * np.log(np.clip(ps, 1e-300, 1))).sum(2).mean(0)
    return p, H, H - E
def nll(p, yy): return float(-np.log(np.clip(p[np.arange(len(yy)), yy], 1e-12, 1)).mean())
def ece(p, yy, nb=15):
    c = p.max(1); a = p.argmax(1) == yy; e = 0
    for lo in range(nb):
        sel = (c > lo / nb) & (c <= (lo + 1) / nb)
        if sel.any(): e += sel.mean() * abs(a[sel].mean() - c[sel].mean())
    return float(e)
def auroc(a, b):
    s = np.concatenate([a, b]); r = s.argsort().argsort() + 1
    return (r[len(a):].sum() - len(b) * (len(b) + 1) / 2) / (len(a) * len(b))
lv = predict(xv.numpy()); yvn = yv.numpy()
Ts = np.exp(np.linspace(np.log(0.2), np.log(5), 81))
T = 1.0
if kw.get("cal", "1") == "1":
    T = float(Ts[np.argmin([nll(mix(lv, t)[0], yvn) for t in Ts])])
yt = np.load(C + "test_y.npy")
pt, Ht, Mt = mix(predict(np.load(C + "x_test.npy")), T)
r = dict(method=method, seed=seed, args=kw, T=round(T, 3), acc=float((pt.argmax(1) == yt).mean()), nll=nll(pt, yt), ece=ece(pt, yt))
rot = []
for a in (15, 30, 45, 60, 90, 120, 150, 180):
    p = mix(predict(np.load(C + "x_rot%d.npy" % a)), T)[0]; rot.append(nll(p, yt))
r["rot"] = float(np.mean(rot))
r["noise"] = float(np.mean([nll(mix(predict(np.load(C + "x_noise%.1f.npy" % s)), T)[0], yt) for s in (0.2, 0.4, 0.6)]))
for s in ("ood_uniform", "ood_other"):
    _, H, Mi = mix(predict(np.load(C + "x_%s.npy" % s)), T)
    r["H_" + s[4:]] = round(float(auroc(Ht, H)), 3); r["MI_" + s[4:]] = round(float(auroc(Mt, Mi)), 3)
for k in ("nll", "ece", "rot", "noise"): r[k] = round(r[k], 4)
print(json.dumps(r), flush=True)
