#!/usr/bin/python3
"""Training speed of the five branchy networks in PyTorch: the peer of
`branchy train` in docs/BENCHMARKS.md (docs/scripts/train_speed.sh runs both,
alternated).

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tests/reference/pytorch_train_speed.py \
        --model runs/x/model.safetensors --images 4096 --threads 2

The network is rebuilt from the model file's "config" metadata by
branchy_torch.py, so both sides run the same layers. The recipe is
`branchy train`'s default: Adam (lr 1e-3), batch 64, the sum of every exit's
cross-entropy. Inputs are the first --images Fashion-MNIST training images
(normalised); one warm-up pass of --warmup batches is not timed. Prints one
line: "images_per_second N".
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from branchy_torch import MaskedDropout, build_network  # noqa: E402
from read_safetensors import read_safetensors  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"


def training_images(count):
    with gzip.open(os.path.join(FASHION, "train-images-idx3-ubyte.gz"), "rb") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:count]
    with gzip.open(os.path.join(FASHION, "train-labels-idx1-ubyte.gz"), "rb") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:count].astype(np.int64)
    x = x.astype(np.float32) / 255.0
    return torch.from_numpy((x - x.mean()) / x.std()), torch.from_numpy(y)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True, help="a branchy model file: its config names the layers")
    p.add_argument("--images", type=int, default=4096)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--warmup", type=int, default=4, help="untimed batches first")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    _, metadata = read_safetensors(a.model)
    model = build_network(metadata["net"], json.loads(metadata["config"]))
    for module in model.modules():  # branchy draws its own masks; here PyTorch draws them
        if isinstance(module, MaskedDropout):
            module.forward = lambda x: F.dropout(x, 0.5, True)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xs, ys = training_images(a.images)

    def step(rows):
        loss = sum(F.cross_entropy(out, ys[rows]) for out in model(xs[rows]))
        opt.zero_grad()
        loss.backward()
        opt.step()

    order = torch.randperm(len(xs))
    for b in range(a.warmup):
        step(order[b * a.batch:(b + 1) * a.batch])
    start = time.perf_counter()
    for b in range(0, len(xs), a.batch):
        step(order[b:b + a.batch])
    seconds = time.perf_counter() - start
    print(f"images_per_second {len(xs) / seconds:.1f}", flush=True)


if __name__ == "__main__":
    main()
