#!/usr/bin/python3
"""Make the regression fixture (issue 12 item 7) in tests/fixtures/regress/.

A small PyTorch MLP regressor 1-32-32-1 (ReLU) fitted by mean squared error
to synthetic data with known noise,

    y = sin(3 x) + x^2 / 2 + e,   e ~ N(0, 0.1^2),   x ~ U[-2, 2],

and exported by torch.onnx.export (opset 13, dynamic batch "N", input
"input", output "output").  Files:

    mlp.onnx                    the fitted model (no noise scale: a plain MSE fit)
    train.x.npy, train.y.npy    512 training examples, f32 [512, 1] each
    test.x.npy, test.y.npy      256 test examples from the same distribution
    ood.x.npy, ood.y.npy        128 examples with x out of the training range,
                                U[2.5, 4] and U[-4, -2.5] (half each)

The generator prints the fit's RMSE on train and test (they should be near
the noise's 0.1) and checks the exported model against torch with a NumPy
forward pass.  Run from the project root:

    /usr/bin/python3 tools/make_regress_fixture.py
"""

import os

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "regress")
NOISE = 0.1


def truth(x):
    return np.sin(3 * x) + x * x / 2


def make_set(rng, x):
    y = truth(x) + NOISE * rng.standard_normal(x.shape)
    return x.astype(np.float32).reshape(-1, 1), y.astype(np.float32).reshape(-1, 1)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(12)
    torch.manual_seed(12)
    sets = {
        "train": make_set(rng, rng.uniform(-2, 2, 512)),
        "test": make_set(rng, rng.uniform(-2, 2, 256)),
        "ood": make_set(rng, np.concatenate([rng.uniform(2.5, 4, 64), rng.uniform(-4, -2.5, 64)])),
    }
    model = torch.nn.Sequential(
        torch.nn.Linear(1, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 1))
    x, y = (torch.from_numpy(a) for a in sets["train"])
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2000, 3000], gamma=0.2)
    for _ in range(4000):
        opt.zero_grad()
        loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    for name, (sx, sy) in sets.items():
        with torch.no_grad():
            pred = model(torch.from_numpy(sx)).numpy()
        print(f"{name}: RMSE {np.sqrt(np.mean((pred - sy) ** 2)):.4f} over {len(sx)} examples")
        np.save(os.path.join(OUT, name + ".x.npy"), sx)
        np.save(os.path.join(OUT, name + ".y.npy"), sy)
    path = os.path.join(OUT, "mlp.onnx")
    torch.onnx.export(model, x[:3], path, opset_version=13, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}},
                      do_constant_folding=True)
    # the exported file against torch: a float64 NumPy forward of the weights
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    onnx.checker.check_model(m)
    w = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in m.graph.initializer}
    h = sets["test"][0].astype(np.float64)
    for node in m.graph.node:
        if node.op_type == "Gemm":
            a, b = w[node.input[1]], w[node.input[2]]
            transb = any(at.name == "transB" and at.i for at in node.attribute)
            h = h @ (a.T if transb else a) + b
        elif node.op_type == "Relu":
            h = np.maximum(h, 0)
        else:
            raise SystemExit(f"unexpected op {node.op_type}")
    with torch.no_grad():
        ref = model(torch.from_numpy(sets["test"][0])).numpy()
    err = np.abs(h - ref).max()
    assert err < 1e-4, err
    print(f"wrote {OUT} (ONNX forward matches torch to {err:.1e})")


if __name__ == "__main__":
    main()
