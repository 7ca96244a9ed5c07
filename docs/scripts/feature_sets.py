#!/usr/bin/env python3
"""Richer cheap inputs (issue 10): which features should a predictor read?

On headroom-map models (docs/scripts/headroom_map.py, a first branch of
width W on the trained B-ResNet trunk), the gate predictors (skip-pred and
exit-pred@each) are fitted once per feature set, and exit-pred@input once
per summary of the input image; each is compared on the test split by the
share of the oracle's headroom it captures and by that share per thousand
predictor MACs. The default set is fitted again with a wider head (128
hidden units instead of 32).

    python3 docs/scripts/feature_sets.py [--runs runs/headroom] [--widths 8,12] [--threads 2] [--tables-only]

For each width W and feature set S it runs, and prints, exactly:

    bin/branchy fit-predictor RUNS/features/wW/S.safetensors --kind K --features S --hidden H --test-sweep
    bin/branchy eval RUNS/features/wW/S.safetensors --policy branchy,oracle,P... --json

where RUNS/features/wW/S.safetensors is a copy of RUNS/wW/model.safetensors
(calibrated). A set already evaluated (its S.json exists) is reused.
Writes RUNS/features/feature_sets.csv and .md.
"""
import argparse
import csv
import json
import os
import re
import shutil

from branchy_runs import BRANCHY, ROOT, run

# At each branch point: the map (C, H, W) summarised by global average or
# max pooling, or average pooling to a G x G grid, joined by "+".
POINT_SETS = ["avg", "avg+max", "grid2+max", "grid4+max", "grid7+max"]
# And a wider head (hidden units; 32 above) on the richer sets: is the input or the head the limit?
WIDER_HEADS = [("grid4+max", 128), ("grid7+max", 128)]
POINT_KINDS = {"skip": ["skip-pred"], "exit": ["exit-pred@each:trust", "exit-pred@each:fallback"]}
# Before the network runs: the input image itself, pooled to a grid.
INPUT_SETS = ["grid4", "grid7"]
INPUT_POLICIES = ["exit-pred@input:trust", "exit-pred@input:fallback"]
MAX_DROP = 0.005  # a policy counts when within 0.5 points of BranchyNet's test accuracy


def fit_and_eval(model, folder, name, features, fits, policies, threads, hidden=32):
    """Fits each (kind, placement) of `fits` with feature set `features` and `hidden` units into a copy of
    `model` (called `name`), evaluates `policies` on test, and returns eval's report with each predictor's
    MACs per point."""
    saved = os.path.join(folder, name + ".json")
    if os.path.exists(saved):
        with open(saved) as f:
            return json.load(f)
    copy = os.path.join(folder, name + ".safetensors")
    shutil.copyfile(model, copy)
    sweeps = os.path.join(folder, name)
    os.makedirs(sweeps, exist_ok=True)
    macs = {}
    for kind, placement in fits:
        out = run([BRANCHY, "fit-predictor", copy, "--kind", kind, "--placement", placement, "--features", features,
                   "--hidden", str(hidden), "--test-sweep", "--out", sweeps] + threads, capture=True)
        with open(os.path.join(sweeps, f"fit_{kind}_{placement}.log"), "w") as f:
            f.write(out)
        m = re.search(r"costs ([\d,]+) MACs per sample at each point", out)
        macs[f"{kind}@{placement}"] = int(m.group(1).replace(",", ""))
    report = json.loads(run([BRANCHY, "eval", copy, "--policy", ",".join(["branchy", "oracle"] + policies), "--json",
                             "--threads", "1", "--repeats", "1", "--latency-samples", "500"], capture=True))
    report["predictor_macs"] = macs
    with open(saved, "w") as f:
        json.dump(report, f, indent=1)
    os.remove(copy)  # the report keeps what the table needs; the sweeps stay beside it
    return report


def rows_of(width, features, report, policies, kind_of):
    rows = []
    for name in policies:
        p = report["policies"][name]
        predictor_macs = report["predictor_macs"][kind_of(name)]
        captured = p["headroom_captured"]
        rows.append({
            "width": width,
            "features": features,
            "policy": name,
            "predictor_macs_per_point": predictor_macs,
            "accuracy_change": p["accuracy_change"],
            "within_max_drop": p["accuracy_change"] >= -MAX_DROP - 1e-12,
            "headroom_captured": captured,
            "captured_per_kmac": 1000 * captured / predictor_macs,
            "held_out_change": p.get("held_out_change", ""),
            "misses_max_drop": p.get("misses_max_drop", ""),
            "headroom_share": report["headroom_share"],
        })
    return rows


def point_kind(policy):
    return "skip@each" if policy == "skip-pred" else "exit@each"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", default=os.path.join(ROOT, "runs", "headroom"))
    p.add_argument("--widths", default="8,12")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tables-only", action="store_true", help="only rebuild the tables from the saved reports")
    a = p.parse_args()
    threads = ["--threads", str(a.threads)]
    rows = []
    for w in [int(x) for x in a.widths.split(",")]:
        model = os.path.join(a.runs, f"w{w}", "model.safetensors")
        folder = os.path.join(a.runs, "features", f"w{w}")
        os.makedirs(folder, exist_ok=True)
        for features in POINT_SETS:
            if a.tables_only and not os.path.exists(os.path.join(folder, features + ".json")):
                continue
            policies = [q for k in POINT_KINDS for q in POINT_KINDS[k]]
            report = fit_and_eval(model, folder, features, features, [("skip", "each"), ("exit", "each")], policies,
                                  threads)
            rows += rows_of(w, features, report, policies, point_kind)
        for features, hidden in WIDER_HEADS:
            name = f"{features}_h{hidden}"
            if a.tables_only and not os.path.exists(os.path.join(folder, name + ".json")):
                continue
            policies = [q for k in POINT_KINDS for q in POINT_KINDS[k]]
            report = fit_and_eval(model, folder, name, features, [("skip", "each"), ("exit", "each")], policies,
                                  threads, hidden)
            rows += rows_of(w, name, report, policies, point_kind)
        for features in INPUT_SETS:
            if a.tables_only and not os.path.exists(os.path.join(folder, "input-" + features + ".json")):
                continue
            report = fit_and_eval(model, folder, "input-" + features, features, [("exit", "input")], INPUT_POLICIES,
                                  threads)
            rows += rows_of(w, "image " + features, report, INPUT_POLICIES, lambda _: "exit@input")
    out = os.path.join(a.runs, "features")
    with open(os.path.join(out, "feature_sets.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| width | features | policy | predictor MACs/point | Δacc test | captured | captured per kMAC "
             "| Δacc val |", "|---:|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        flag = " ⚠" if r["misses_max_drop"] is True else ""
        within = "" if r["within_max_drop"] else " (out)"
        held = r["held_out_change"]
        lines.append(f"| {r['width']} | {r['features']} | {r['policy']} | {r['predictor_macs_per_point']:,} "
                     f"| {100 * r['accuracy_change']:+.2f}{flag} | {100 * r['headroom_captured']:.0f}%{within} "
                     f"| {100 * r['captured_per_kmac']:.2f}% "
                     f"| {(f'{100 * held:+.2f}' if isinstance(held, float) else '–')} |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(out, "feature_sets.md"), "w") as f:
        f.write(table)
    print(table)


if __name__ == "__main__":
    main()
