#!/usr/bin/python3
"""Batch-1 inference of one branchy model file, in PyTorch and in branchy,
side by side on this machine: the "full" network and BranchyNet's early exit
with the thresholds stored in the file.

    /usr/bin/python3 tests/reference/pytorch_branchy_infer.py runs/demo/model.safetensors [--samples 2000] [--threads 1] [--batch 256]

The model is loaded into its PyTorch twin from branchy_torch.py (any of the
networks). PyTorch runs in eval mode under torch.inference_mode(), one
image at a time, exiting at the first branch whose softmax entropy is below
its threshold (the same rule as nets/early_exit.h). Timing rounds alternate
between the two policies and the fastest round counts, as `branchy eval`
does, which runs next on the same samples and threads. Prints one table:
accuracy, mean latency per sample, and branchy's speed against PyTorch; then
the full network's throughput at --batch images per call, both sides.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from branchy_torch import build_network, load_branchy_weights  # noqa: E402
from pytorch_lenet_train import idx  # noqa: E402
from read_safetensors import read_safetensors  # noqa: E402


def entropy(logits):
    p = torch.softmax(logits, dim=1)
    return float(-(p * torch.log(p.clamp_min(1e-30))).sum())


def full(model, x):
    for i in range(model.count):
        x = getattr(model, f"stage{i}")(x)
    return x


def branchy(model, x, thresholds):
    for i in range(model.count):
        x = getattr(model, f"stage{i}")(x)
        if i < model.count - 1:
            logits = getattr(model, f"branch{i}")(x)
            if entropy(logits) < thresholds[i]:
                return logits
    return x


def timed_pass(run, images):
    """Mean microseconds per image, the answers, and each image's microseconds."""
    answers, each, start = [], [], time.perf_counter()
    for i in range(len(images)):
        begin = time.perf_counter()
        answers.append(int(run(images[i:i + 1]).argmax(1)))
        each.append((time.perf_counter() - begin) * 1e6)
    return (time.perf_counter() - start) / len(images) * 1e6, answers, each


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch", type=int, default=256, help="batch of the throughput comparison (full network)")
    p.add_argument("--json", help="also write every figure, both sides, to this file")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    tensors, meta = read_safetensors(a.model)
    net_name, cfg = meta["net"], json.loads(meta["config"])
    thresholds = json.loads(meta.get("thresholds", "[]"))
    model = build_network(net_name, cfg).eval()
    load_branchy_weights(model, tensors)
    norm = json.loads(meta["normalizer"])
    images = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)[: a.samples]
    labels = idx("t10k-labels-idx1-ubyte.gz", 8)[: a.samples].astype(np.int64)
    x = (torch.from_numpy(images.astype(np.float32) / 255.0) - norm["mean"][0]) / norm["std"][0]

    policies = {"full": lambda t: full(model, t)}
    if model.count > 1 and thresholds:
        policies["branchy"] = lambda t: branchy(model, t, thresholds)
    best = {name: float("inf") for name in policies}
    p99 = {}
    accuracy = {}
    torch_throughput = 0.0
    with torch.inference_mode():
        full(model, x[:a.batch])  # warm-up
        for _ in range(a.rounds):
            start = time.perf_counter()
            for b in range(0, len(x), a.batch):
                full(model, x[b:b + a.batch])
            torch_throughput = max(torch_throughput, len(x) / (time.perf_counter() - start))
        for name, run in policies.items():  # warm-up
            timed_pass(run, x[:50])
        for _ in range(a.rounds):
            for name, run in policies.items():
                us, answers, each = timed_pass(run, x)
                if us < best[name]:
                    best[name], p99[name] = us, float(np.percentile(each, 99))
                accuracy[name] = float(np.mean(np.array(answers) == labels))

    branchy_bin = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bin", "branchy")
    ours = json.loads(subprocess.run(
        [branchy_bin, "eval", a.model, "--json", "--policy", ",".join(policies), "--threads", str(a.threads),
         "--test-limit", str(a.samples), "--latency-samples", str(a.samples), "--repeats", str(a.rounds),
         "--batch", str(a.batch)],
        check=True, capture_output=True, text=True).stdout)["policies"]

    print(f"{net_name} ({a.model}), {a.samples} Fashion-MNIST test images one at a time, {a.threads} thread(s), "
          f"torch {torch.__version__}")
    print(f"{'policy':8} {'torch acc':>9} {'branchy acc':>11} {'torch us':>9} {'branchy us':>10} {'speed vs torch':>14}")
    for name in policies:
        mine = ours[name]
        print(f"{name:8} {accuracy[name]:9.4f} {mine['accuracy']:11.4f} {best[name]:9.1f} {mine['latency_us']:10.1f} "
              f"{best[name] / mine['latency_us']:13.2f}x")
    mine = ours["full"]["throughput"]
    print(f"full network at batch {a.batch}: torch {torch_throughput:.0f} images/s, branchy {mine:.0f} images/s, "
          f"{mine / torch_throughput:.2f}x")
    if a.json:
        figures = {"net": net_name, "threads": a.threads, "samples": a.samples, "batch": a.batch,
                   "torch_throughput": torch_throughput, "branchy_throughput": mine, "policies": {}}
        for name in policies:
            figures["policies"][name] = {
                "torch_latency_us": best[name], "torch_latency_p99_us": p99[name],
                "branchy_latency_us": ours[name]["latency_us"], "branchy_latency_p99_us": ours[name]["latency_p99_us"],
                "branchy_predicted_latency_us": ours[name]["predicted_latency_us"],
                "exit_share": ours[name]["exit_share"], "accuracy": ours[name]["accuracy"]}
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
