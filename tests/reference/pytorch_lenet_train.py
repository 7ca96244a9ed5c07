#!/usr/bin/python3
"""The same LeNet / B-LeNet and recipe as `branchy train`, in PyTorch, for a
side-by-side speed and accuracy comparison on this machine.

    /usr/bin/python3 tests/reference/pytorch_lenet_train.py [--net lenet|b-lenet] [--epochs 2] [--threads 2]

Adam (lr 1e-3), batch 64, the last 5,000 training images held out (as
branchy does), per-channel normalisation from the training split. Prints
images/s per epoch (training only) and test accuracy of every exit.
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from branchy_torch import build_network as build  # noqa: E402
from check_checkpoint_pytorch import FASHION  # noqa: E402


def idx(name, offset):
    with gzip.open(os.path.join(FASHION, name), "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--net", default="lenet")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train_x = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)[:55000]
    train_y = idx("train-labels-idx1-ubyte.gz", 8)[:55000].astype(np.int64)
    test_x = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    test_y = idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
    mean, std = train_x.mean() / 255.0, train_x.std() / 255.0
    to_tensor = lambda x: (torch.from_numpy(x.astype(np.float32) / 255.0) - mean) / std  # noqa: E731
    xs, ys, tx, ty = to_tensor(train_x), torch.from_numpy(train_y), to_tensor(test_x), torch.from_numpy(test_y)
    cfg = dict(channels=1, height=28, width=28, classes=10, conv1=5, conv2=10, conv3=20, fc=84, branch_conv=10)
    model = build(a.net, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(1, a.epochs + 1):
        model.train()
        order = torch.randperm(len(xs))
        start = time.perf_counter()
        for b in range(0, len(xs), a.batch):
            rows = order[b:b + a.batch]
            loss = sum(F.cross_entropy(out, ys[rows]) for out in model(xs[rows]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            outs = model(tx)
        accs = " ".join(f"{(o.argmax(1) == ty).float().mean().item():.4f}" for o in outs)
        print(f"epoch {epoch}: {len(xs) / seconds:.0f} img/s ({seconds:.1f} s), test accuracy per exit {accs}",
              flush=True)


if __name__ == "__main__":
    main()
