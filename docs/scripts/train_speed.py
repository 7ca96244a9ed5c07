#!/usr/bin/env python3
"""Training images/s of the five networks: bin/branchy beside PyTorch running
the same layers (tests/reference/pytorch_train_speed.py), alternated, at 1 and
2 threads; prints a markdown table with the ratios (and writes it, with a CSV,
into --out). `make bench-train` runs it.

    python3 docs/scripts/train_speed.py [--images 4096] [--repeats 2] [--nets b-resnet,...] [--out build/bench]

Both sides train --images Fashion-MNIST images (the first ones) with their
default recipe: Adam 1e-3, batch 64, every exit's loss. branchy's number is
the images_per_second of its training log (the epoch's training steps only);
PyTorch's is the timed loop of the script, after 4 untimed batches. Each pair
is run --repeats times, branchy then PyTorch, and the best of each is kept
(the least disturbed). Run it on a quiet machine: load average under 1.5.
"""
import argparse
import csv
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BRANCHY = os.path.join(ROOT, "bin", "branchy")
TORCH_SCRIPT = os.path.join(ROOT, "tests", "reference", "pytorch_train_speed.py")
NETS = ["b-lenet", "b-alexnet", "b-resnet", "b-resnext", "b-densenet"]
VALIDATION = 500  # branchy holds the last N of --limit out; the rest are the training images


def branchy_speed(net, images, threads, folder):
    args = [BRANCHY, "train", "--net", net, "--epochs", "1", "--limit", str(images + VALIDATION),
            "--validation", str(VALIDATION), "--test-limit", "100", "--threads", str(threads), "--quiet",
            "--out", folder]
    done = subprocess.run(args, text=True, capture_output=True, check=False)
    if done.returncode != 0:
        sys.exit(f"train_speed: {' '.join(args)} failed: {done.stderr.strip()}")
    with open(os.path.join(folder, "train_log.csv"), newline="") as f:
        return float(list(csv.DictReader(f))[-1]["images_per_second"])


def torch_speed(model, images, threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    args = ["/usr/bin/python3", TORCH_SCRIPT, "--model", model, "--images", str(images), "--threads", str(threads)]
    done = subprocess.run(args, text=True, capture_output=True, check=False, env=env)
    if done.returncode != 0:
        sys.exit(f"train_speed: {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return float(done.stdout.split()[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--nets", default=",".join(NETS))
    p.add_argument("--out", default=os.path.join(ROOT, "build", "bench"))
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for net in a.nets.split(","):
        for threads in [int(t) for t in a.threads.split(",")]:
            folder = os.path.join(a.out, f"train-{net}-{threads}")
            ours, theirs = [], []
            for _ in range(a.repeats):  # alternated, so both see the same machine
                ours.append(branchy_speed(net, a.images, threads, folder))
                theirs.append(torch_speed(os.path.join(folder, "model.safetensors"), a.images, threads))
            row = {"net": net, "threads": threads, "branchy_images_per_second": max(ours),
                   "pytorch_images_per_second": max(theirs), "ratio": max(ours) / max(theirs)}
            rows.append(row)
            print(f"{net:10s} {threads} thr: branchy {row['branchy_images_per_second']:8.0f} img/s  "
                  f"PyTorch {row['pytorch_images_per_second']:8.0f} img/s  ratio {row['ratio']:.2f}", flush=True)
    with open(os.path.join(a.out, "train_speed.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    by_net = {}
    for r in rows:
        by_net.setdefault(r["net"], {})[r["threads"]] = r
    lines = ["| network | threads | branchy img/s | PyTorch img/s | branchy / PyTorch | branchy 2 thr / 1 thr |",
             "|---|---:|---:|---:|---:|---:|"]
    for net, by_threads in by_net.items():
        for threads, r in sorted(by_threads.items()):
            scaling = ""
            if threads == 2 and 1 in by_threads:
                scaling = f"{r['branchy_images_per_second'] / by_threads[1]['branchy_images_per_second']:.2f}"
            lines.append(f"| {net} | {threads} | {r['branchy_images_per_second']:.0f} | "
                         f"{r['pytorch_images_per_second']:.0f} | {r['ratio']:.2f} | {scaling} |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(a.out, "train_speed.md"), "w") as f:
        f.write(table)
    print(table)


if __name__ == "__main__":
    main()
