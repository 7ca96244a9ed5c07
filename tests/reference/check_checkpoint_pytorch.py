#!/usr/bin/python3
"""Loads a branchy checkpoint into the equivalent PyTorch model and checks
that PyTorch's logits equal branchy's, exit by exit, on a few test images.

    /usr/bin/python3 tests/reference/check_checkpoint_pytorch.py runs/demo/model.safetensors [COUNT]

Needs torch (Debian: python3-torch) and a built bin/branchy. Covers every
network: the PyTorch twins are in branchy_torch.py. Every tensor name must
match (BN's num_batches_tracked aside, which branchy does not keep).
Exit status 0 when every logit agrees within 1e-4 (relative to its row's
largest magnitude), 1 otherwise.
"""
import gzip
import json
import os
import subprocess
import sys
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from branchy_torch import build_network, load_branchy_weights  # noqa: E402
from read_safetensors import read_safetensors  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"


def test_images(count):
    with gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        data = f.read()
    return np.frombuffer(data, np.uint8, offset=16)[: count * 784].reshape(count, 1, 28, 28)


def main():
    path = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tensors, meta = read_safetensors(path)
    net_name, cfg = meta["net"], json.loads(meta["config"])
    model = build_network(net_name, cfg).eval()
    load_branchy_weights(model, tensors)
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
