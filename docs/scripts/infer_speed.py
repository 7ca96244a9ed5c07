#!/usr/bin/env python3
"""Inference speed of the five networks: batch-1 latency (mean and p99) of
the full network and of BranchyNet's early exit, and batch-256 throughput,
branchy beside PyTorch, at 1 and 2 threads. `make bench-infer` runs it.

    python3 docs/scripts/infer_speed.py [--models build/bench] [--samples 2000] [--nets ...]

It uses the models docs/scripts/train_speed.py left in MODELS/train-NET-2
(one short epoch: speed does not depend on accuracy), calibrates each
(bin/branchy calibrate), and runs tests/reference/pytorch_branchy_infer.py,
which times PyTorch and then `branchy eval` on the same images and threads.
"routing overhead" is branchy's measured early-exit latency over the
latency its segments predict for the same paths (pipeline/segment_timing.h):
what the exit machinery itself costs. Writes MODELS/infer_speed.md and .json.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BRANCHY = os.path.join(ROOT, "bin", "branchy")
SCRIPT = os.path.join(ROOT, "tests", "reference", "pytorch_branchy_infer.py")
NETS = ["b-lenet", "b-alexnet", "b-resnet", "b-resnext", "b-densenet"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", default=os.path.join(ROOT, "build", "bench"))
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--nets", default=",".join(NETS))
    a = p.parse_args()
    results = []
    for net in a.nets.split(","):
        model = os.path.join(a.models, f"train-{net}-2", "model.safetensors")
        if not os.path.exists(model):
            sys.exit(f"infer_speed: {model} is missing: run docs/scripts/train_speed.py (make bench-train) first")
        subprocess.run([BRANCHY, "calibrate", model, "--threads", "2"], check=True, capture_output=True)
        for threads in [int(t) for t in a.threads.split(",")]:
            out = os.path.join(a.models, f"infer-{net}-{threads}.json")
            subprocess.run(["/usr/bin/python3", SCRIPT, model, "--samples", str(a.samples), "--threads", str(threads),
                            "--batch", str(a.batch), "--json", out], check=True,
                           env=dict(os.environ, OPENBLAS_NUM_THREADS="1"), capture_output=True)
            with open(out) as f:
                results.append(json.load(f))
            r = results[-1]
            print(f"{net:10s} {threads} thr: full {r['policies']['full']['branchy_latency_us']:.0f} us vs "
                  f"{r['policies']['full']['torch_latency_us']:.0f} us", flush=True)
    lines = ["| network | threads | policy | exit shares | branchy mean / p99 us | PyTorch mean / p99 us | "
             "latency ratio | routing overhead |",
             "|---|---:|---|---|---:|---:|---:|---:|"]
    for r in results:
        for name, f in r["policies"].items():
            overhead = f["branchy_latency_us"] / f["branchy_predicted_latency_us"] - 1
            shares = " / ".join(f"{s:.2f}" for s in f["exit_share"])
            lines.append(f"| {r['net']} | {r['threads']} | {name} | {shares} | {f['branchy_latency_us']:.1f} / "
                         f"{f['branchy_latency_p99_us']:.1f} | {f['torch_latency_us']:.1f} / "
                         f"{f['torch_latency_p99_us']:.1f} | {f['torch_latency_us'] / f['branchy_latency_us']:.2f} | "
                         f"{overhead * 100:+.1f}% |")
    lines += ["", f"| network | threads | branchy img/s at batch {a.batch} | PyTorch img/s | ratio |",
              "|---|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['net']} | {r['threads']} | {r['branchy_throughput']:.0f} | {r['torch_throughput']:.0f} | "
                     f"{r['branchy_throughput'] / r['torch_throughput']:.2f} |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(a.models, "infer_speed.md"), "w") as f:
        f.write(table)
    with open(os.path.join(a.models, "infer_speed.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(table)


if __name__ == "__main__":
    main()
