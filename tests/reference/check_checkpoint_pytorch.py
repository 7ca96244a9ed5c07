#!/usr/bin/python3
"""Loads a branchy checkpoint into the equivalent PyTorch model and checks
that PyTorch's logits equal branchy's, exit by exit, on a few test images.

    /usr/bin/python3 tests/reference/check_checkpoint_pytorch.py runs/demo/model.safetensors [COUNT]

Needs torch (Debian: python3-torch) and a built bin/branchy. Covers the
networks whose PyTorch twins are written here: lenet and b-lenet. The
state_dict is loaded with strict=True, so every tensor name must match.
Exit status 0 when every logit agrees within 1e-4 (relative to its row's
largest magnitude), 1 otherwise.
"""
import gzip
import json
import os
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from read_safetensors import read_safetensors  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"


def pool_relu(suffix):
    return [("pool" + suffix, nn.MaxPool2d(2, 2, ceil_mode=True)), ("relu" + suffix, nn.ReLU())]


def lenet_tail(cfg, classes, in_hw):
    layers = pool_relu("1") + [("conv2", nn.Conv2d(cfg["conv1"], cfg["conv2"], 5, padding=3))]
    layers += pool_relu("2") + [("conv3", nn.Conv2d(cfg["conv2"], cfg["conv3"], 5, padding=3))]
    layers += pool_relu("3") + [("flatten", nn.Flatten())]
    probe = nn.Sequential(OrderedDict(layers))(torch.zeros(1, cfg["conv1"], *in_hw))
    layers += [("fc1", nn.Linear(probe.shape[1], cfg["fc"])), ("fc2", nn.Linear(cfg["fc"], classes))]
    return nn.Sequential(OrderedDict(layers))


class Branchy(nn.Module):
    """stage0 -> (branch0) -> stage1, as nets/branchy_net.h wires them."""

    def __init__(self, stages, branches):
        super().__init__()
        for i, s in enumerate(stages):
            self.add_module(f"stage{i}", s)
        for i, b in enumerate(branches):
            self.add_module(f"branch{i}", b)
        self.count = len(stages)

    def forward(self, x):
        exits = []
        for i in range(self.count):
            x = getattr(self, f"stage{i}")(x)
            if i < self.count - 1:
                exits.append(getattr(self, f"branch{i}")(x))
        return exits + [x]


def build(net, cfg):
    c, h, w, classes = cfg["channels"], cfg["height"], cfg["width"], cfg["classes"]
    conv1 = ("conv1", nn.Conv2d(c, cfg["conv1"], 5, padding=3))
    if net == "lenet":
        stage = nn.Sequential(OrderedDict([conv1] + list(lenet_tail(cfg, classes, (h + 2, w + 2)).named_children())))
        return Branchy([stage], [])
    if net == "b-lenet":
        stage0 = nn.Sequential(OrderedDict([conv1]))
        branch = pool_relu("1") + [("conv", nn.Conv2d(cfg["conv1"], cfg["branch_conv"], 3, padding=1))]
        branch += pool_relu("2") + [("flatten", nn.Flatten())]
        probe = nn.Sequential(OrderedDict(branch))(torch.zeros(1, cfg["conv1"], h + 2, w + 2))
        branch += [("fc", nn.Linear(probe.shape[1], classes))]
        return Branchy([stage0, lenet_tail(cfg, classes, (h + 2, w + 2))], [nn.Sequential(OrderedDict(branch))])
    raise SystemExit(f"no PyTorch twin for network {net!r} in this script")


def test_images(count):
    with gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        data = f.read()
    return np.frombuffer(data, np.uint8, offset=16)[: count * 784].reshape(count, 1, 28, 28)


def main():
    path = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tensors, meta = read_safetensors(path)
    net_name, cfg = meta["net"], json.loads(meta["config"])
    model = build(net_name, cfg).eval()
    weights = {k: torch.from_numpy(v) for k, v in tensors.items() if not k.startswith("optimizer.")}
    model.load_state_dict(weights, strict=True)
    norm = json.loads(meta["normalizer"])
    images = torch.from_numpy(test_images(count).astype(np.float32) / 255.0)
    images = (images - norm["mean"][0]) / norm["std"][0]
    branchy = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bin", "branchy")
    worst = 0.0
    with torch.no_grad():
        torch_exits = model(images)
    for i in range(count):
        out = subprocess.run([branchy, "infer", path, "--index", str(i), "--json", "--data", "fashion-mnist"],
                             check=True, capture_output=True, text=True).stdout
        ours = json.loads(out)["logits"]
        for e, row in enumerate(ours):
            theirs = torch_exits[e][i].numpy()
            err = float(np.max(np.abs(np.array(row) - theirs)) / max(1e-6, float(np.max(np.abs(theirs)))))
            worst = max(worst, err)
    print(f"{net_name}: {count} images x {len(torch_exits)} exits, largest relative logit difference {worst:.2e}")
    sys.exit(0 if worst <= 1e-4 else 1)


if __name__ == "__main__":
    main()
