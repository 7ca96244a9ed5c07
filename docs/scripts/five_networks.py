#!/usr/bin/env python3
"""Trains, calibrates and evaluates the five branchy networks on
Fashion-MNIST with bin/branchy, then writes the results table.

    python3 docs/scripts/five_networks.py [--epochs 2] [--runs runs] [--threads 1] [--nets b-lenet,...]

(`make results` runs it.) For each network it runs, and prints, exactly:

    bin/branchy train --net NET --data fashion-mnist --epochs E --out RUNS/NET
    bin/branchy calibrate RUNS/NET/model.safetensors
    bin/branchy eval RUNS/NET/model.safetensors --policy full,branchy --json --repeats 5 --threads T

Training is skipped when RUNS/NET/model.safetensors exists (delete it to
retrain); calibration and evaluation always run. Writes RUNS/five_networks.csv
and RUNS/five_networks.md (the table for docs/RESULTS.md). Uses only the
Python standard library.
"""
import argparse
import csv
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BRANCHY = os.path.join(ROOT, "bin", "branchy")
NETS = ["b-lenet", "b-alexnet", "b-resnet", "b-resnext", "b-densenet"]


def metadata(path):
    """The __metadata__ of a safetensors file: 8-byte length, then a JSON header."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(size)).get("__metadata__", {})


def run(args, capture=False):
    print("$ " + " ".join(["bin/branchy"] + args[1:]), flush=True)
    done = subprocess.run(args, check=False, text=True, capture_output=capture)
    if done.returncode != 0:
        if capture:
            sys.stderr.write(done.stderr)
        sys.exit(f"five_networks: {args[1]} failed with exit status {done.returncode}")
    return done.stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--runs", default=os.path.join(ROOT, "runs"))
    p.add_argument("--threads", type=int, default=1, help="threads for the timed evaluation")
    p.add_argument("--nets", default=",".join(NETS))
    a = p.parse_args()
    rows = []
    for net in a.nets.split(","):
        folder = os.path.join(a.runs, net)
        model = os.path.join(folder, "model.safetensors")
        if not os.path.exists(model):
            run([BRANCHY, "train", "--net", net, "--data", "fashion-mnist", "--epochs", str(a.epochs), "--out", folder])
        run([BRANCHY, "calibrate", model])
        report = json.loads(run([BRANCHY, "eval", model, "--policy", "full,branchy", "--json", "--repeats", "5", "--threads",
                                 str(a.threads)], capture=True))
        meta = metadata(model)
        training, thresholds = json.loads(meta.get("training", "{}")), json.loads(meta.get("thresholds", "[]"))
        full, early = report["policies"]["full"], report["policies"]["branchy"]
        rows.append({
            "net": net,
            "epochs": training.get("epochs", ""),
            "thresholds": " ".join(f"{t:g}" for t in thresholds),
            "full_accuracy": full["accuracy"],
            "branchy_accuracy": early["accuracy"],
            "exit_share": " / ".join(f"{100 * s:.1f}" for s in early["exit_share"]),
            "full_macs": full["macs"],
            "branchy_macs": early["macs"],
            "full_latency_us": full["latency_us"],
            "branchy_latency_us": early["latency_us"],
            "full_predicted_us": full.get("predicted_latency_us", 0),
            "branchy_predicted_us": early.get("predicted_latency_us", 0),
            "speedup_measured": early["speedup_latency"],
            "speedup_macs": early["speedup_macs"],
            "speedup_segments": early["speedup_predicted"],
            "full_throughput": full["throughput"],
            "branchy_throughput": early["throughput"],
        })
    os.makedirs(a.runs, exist_ok=True)
    with open(os.path.join(a.runs, "five_networks.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| network | epochs | thresholds | full acc | branchy acc | exit share % | MACs full → branchy "
             "| latency µs full → branchy | speed-up measured | by MACs | by segment times "
             "| img/s b=64 full → branchy |",
             "|---|---:|---|---:|---:|---|---|---|---:|---:|---:|---|"]
    for r in rows:
        lines.append(
            f"| {r['net']} | {r['epochs']} | {r['thresholds']} | {100 * r['full_accuracy']:.2f}% "
            f"| {100 * r['branchy_accuracy']:.2f}% | {r['exit_share']} "
            f"| {r['full_macs'] / 1e6:.2f}M → {r['branchy_macs'] / 1e6:.2f}M "
            f"| {r['full_latency_us']:.0f} → {r['branchy_latency_us']:.0f} | {r['speedup_measured']:.2f}× "
            f"| {r['speedup_macs']:.2f}× | {r['speedup_segments']:.2f}× "
            f"| {r['full_throughput']:.0f} → {r['branchy_throughput']:.0f} |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(a.runs, "five_networks.md"), "w") as f:
        f.write(table)
    print(table)


if __name__ == "__main__":
    main()
