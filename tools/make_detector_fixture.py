#!/usr/bin/python3
"""Writes tests/fixtures/outputs/detector.onnx: a YOLO-style detector at toy
size exported with a dynamic batch, height and width (opset 17), whose
output [N, boxes, 8] has as many boxes as the image's size gives (2 anchors
on a H/4 x W/4 and a H/2 x W/2 grid: 2560 for 64x64), so shape inference
cannot fix it; with detector.input.npy (1x3x64x64), detector.wide.npy
(2x3x96x64) and ONNX Runtime's output for the first (detector.output.npy).
The head follows YOLOv5's: a Focus slice, SiLU convs with batch norm, SPPF
max pools, nearest upsampling, and the grid and anchor decoding.

Run with Debian's python3 (torch, onnx):  /usr/bin/python3 tools/make_detector_fixture.py
ONNX Runtime (npm onnxruntime-node) computes the output through
tools/ort_reference.js; ORT_NODE_PATH names its node_modules directory
(default ~/.cache/bnnc-bench/node_modules).
"""
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "outputs")


def main():
    import torch

    torch.manual_seed(41)

    def cbs(i, o, k=1, s=1):
        return torch.nn.Sequential(torch.nn.Conv2d(i, o, k, s, k // 2, bias=False), torch.nn.BatchNorm2d(o),
                                   torch.nn.SiLU())

    class Detector(torch.nn.Module):
        def __init__(self, nc=3, na=2):
            super().__init__()
            self.focus = cbs(12, 8, 3)
            self.down = cbs(8, 16, 3, 2)
            self.sppf_in, self.sppf_out = cbs(16, 8), cbs(32, 16)
            self.pool = torch.nn.MaxPool2d(5, 1, 2)
            self.lateral = cbs(24, 8)
            self.no, self.na = nc + 5, na
            self.heads = torch.nn.ModuleList(torch.nn.Conv2d(c, self.no * na, 1) for c in (16, 8))
            self.register_buffer("anchors", torch.tensor([[[10., 13.], [16., 30.]], [[30., 61.], [62., 45.]]]))

        def forward(self, x):
            x = torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1)
            a = self.focus(x)
            s = self.sppf_in(self.down(a))
            p1 = self.pool(s)
            p2 = self.pool(p1)
            b = self.sppf_out(torch.cat([s, p1, p2, self.pool(p2)], 1))
            u = self.lateral(torch.cat([torch.nn.functional.interpolate(b, scale_factor=2.0, mode="nearest"), a], 1))
            boxes = []
            for i, f in enumerate((b, u)):
                f = self.heads[i](f)
                n, _, ny, nx = f.shape
                f = f.view(n, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous().sigmoid()
                yv, xv = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
                grid = torch.stack((xv, yv), 2).view(1, 1, ny, nx, 2).float()
                xy = (f[..., 0:2] * 2 - 0.5 + grid) * (4 / 2 ** i)
                wh = (f[..., 2:4] * 2) ** 2 * self.anchors[i].view(1, self.na, 1, 1, 2)
                boxes.append(torch.cat((xy, wh, f[..., 4:]), -1).view(n, -1, self.no))
            return torch.cat(boxes, 1)

    model = Detector().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = os.path.join(OUT, "detector.onnx")
    torch.onnx.export(model, torch.rand(1, 3, 64, 64), path, opset_version=17, input_names=["images"],
                      output_names=["boxes"], dynamic_axes={"images": {0: "N", 2: "H", 3: "W"},
                                                             "boxes": {0: "N", 1: "boxes"}})
    rng = np.random.default_rng(41)
    np.save(os.path.join(OUT, "detector.input.npy"), rng.random((1, 3, 64, 64), dtype=np.float32))
    np.save(os.path.join(OUT, "detector.wide.npy"), rng.random((2, 3, 96, 64), dtype=np.float32))
    node_path = os.environ.get("ORT_NODE_PATH", os.path.expanduser("~/.cache/bnnc-bench/node_modules"))
    subprocess.run(["node", os.path.join(HERE, "ort_reference.js"), path], check=True,
                   env=dict(os.environ, NODE_PATH=node_path))


if __name__ == "__main__":
    sys.exit(main())
