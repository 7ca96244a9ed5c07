#!/usr/bin/env python3
"""The headroom map (issue 10): when do exit predictors pay?

On one trained B-ResNet trunk, a first branch of each width is trained on
the frozen trunk, calibrated, given every predictor, and every policy is
compared on the test split. For each width it reports the branch's cost
against the trunk's, BranchyNet's exit shares, the oracle's headroom (the
share of BranchyNet's mean MACs a perfect router would save) and what the
best predictor policy captures of it at what accuracy change.

    python3 docs/scripts/headroom_map.py [--trunk runs/results/b-resnet/model.safetensors]
        [--widths 4,6,8,10,12] [--epochs 8] [--fit-limit 0] [--runs runs/headroom] [--threads 2]

For each width W it runs, and prints, exactly:

    bin/branchy train --net b-resnet --config branch0_width=W --init TRUNK --frozen-trunk
        --exit-weights 1,0,0 --epochs E ... --out RUNS/wW
    bin/branchy calibrate RUNS/wW/model.safetensors
    bin/branchy fit-predictor RUNS/wW/model.safetensors --kind K --test-sweep --limit L  (five kinds)
    bin/branchy fit-predictor RUNS/wW/cost.safetensors --kind K --cost-weighted --test-sweep --limit L
                                                                                       (exit@each, skip)
    bin/branchy eval RUNS/wW/model.safetensors --policy all --json
    bin/branchy eval RUNS/wW/cost.safetensors --policy all --json

(cost.safetensors is the calibrated model again, with the cost-weighted
predictors in place of the plain ones of the same kind.) Trained widths are
reused; a stopped one resumes. Writes RUNS/headroom_map.csv, .md and .svg.
"""
import argparse
import csv
import json
import os
import re
import shutil

from branchy_runs import BRANCHY, ROOT, epochs_logged, run
PREDICTORS = [["exit", "--placement", "first"], ["exit", "--placement", "input"], ["exit", "--placement", "each"],
              ["skip", "--placement", "each"], ["entropy", "--placement", "each"]]
COST_WEIGHTED = [["exit", "--placement", "each"], ["skip", "--placement", "each"]]
COST_WEIGHTED_POLICIES = ["skip-pred", "exit-pred@each:trust", "exit-pred@each:fallback"]
MAX_DROP = 0.005  # the accuracy (a fraction) a policy may lose against BranchyNet and still count


def segment_macs(model):
    """MACs per sample of each top-level segment (stage0, branch0, ...) from `branchy info`."""
    macs = {}
    for line in run([BRANCHY, "info", model], capture=True).splitlines():
        m = re.match(r"^((?:stage|branch)\d+)\.\S+\s.*\s([\d,]+)\s+[\d,]+$", line)
        if m:
            macs[m.group(1)] = macs.get(m.group(1), 0) + int(m.group(2).replace(",", ""))
    return macs


def best_policy(report, names=None):
    """The predictor policy (of `names`, when given) that captures most of the headroom within MAX_DROP of
    BranchyNet's accuracy."""
    best = None
    for name, p in predictor_policies(report, names):
        if p["accuracy_change"] < -MAX_DROP - 1e-12:
            continue
        if best is None or p["headroom_captured"] > best[1]["headroom_captured"]:
            best = (name, p)
    return best


def predictor_policies(report, names=None):
    return [(n, p) for n, p in report["policies"].items()
            if n not in ("full", "branchy", "oracle") and (not names or n in names)]


def unstable_policies(report, names=None, prefix=""):
    """Predictor policies whose knob, chosen on validation to keep MAX_DROP, loses more on test."""
    return [prefix + n for n, p in predictor_policies(report, names) if p.get("misses_max_drop") is True]


def unstable_cell(row):
    if row["unstable"] is None:
        return "not measured (fitted before eval reported it)"
    return f"{len(row['unstable'].split())} of {row['policies']}: {row['unstable'] or '–'}"


def branch0_validation_accuracy(folder):
    """Branch 0's validation accuracy at the best epoch of its training on the frozen trunk."""
    with open(os.path.join(folder, "train_log.csv")) as f:
        return max(float(r["validation_accuracy_exit0"]) for r in csv.DictReader(f))


def map_row(w, macs, report, cost_report, branch0_accuracy):
    """One point of the map: the branch's cost, BranchyNet, the headroom and the best captures."""
    trunk = sum(v for k, v in macs.items() if k.startswith("stage"))
    branchy = report["policies"]["branchy"]
    best = best_policy(report)
    cost_best = best_policy(cost_report, COST_WEIGHTED_POLICIES)
    headroom = report["headroom_share"]
    row = {
        "branch0_width": w,
        "branch0_macs": macs["branch0"],
        "trunk_macs": trunk,
        "cost_ratio": macs["branch0"] / trunk,
        "branch0_validation_accuracy": branch0_accuracy,
        "branchy_accuracy": branchy["accuracy"],
        "branchy_exit_share": " / ".join(f"{100 * s:.1f}" for s in branchy["exit_share"]),
        "branchy_macs": branchy["macs"],
        "headroom_pct": 100 * headroom,
        "best_policy": best[0] if best else "none",
        "best_captured": best[1]["headroom_captured"] if best else 0.0,
        "best_accuracy_change": best[1]["accuracy_change"] if best else 0.0,
        "captured_pct": 100 * headroom * best[1]["headroom_captured"] if best else 0.0,
        "cost_best_policy": cost_best[0] if cost_best else "none",
        "cost_best_captured": cost_best[1]["headroom_captured"] if cost_best else 0.0,
        "cost_best_accuracy_change": cost_best[1]["accuracy_change"] if cost_best else 0.0,
        "cost_captured_pct": 100 * headroom * cost_best[1]["headroom_captured"] if cost_best else 0.0,
        # Stability: the best policy's change on the validation samples that chose its knob, and every
        # policy that misses its max drop on test (cw: the cost-weighted fits).
        "best_held_out_change": best[1].get("held_out_change", "") if best else "",
        "unstable": " ".join(unstable_policies(report) + unstable_policies(cost_report, COST_WEIGHTED_POLICIES, "cw:"))
        if any("misses_max_drop" in p for _, p in predictor_policies(report)) else None,
        "policies": len(predictor_policies(report)) + len(predictor_policies(cost_report, COST_WEIGHTED_POLICIES)),
    }
    row["target"] = ("met" if row["best_captured"] >= 0.5 or row["cost_best_captured"] >= 0.5 else "missed") \
        if row["headroom_pct"] >= 15 else "n/a (headroom < 15%)"
    return row


def svg_plot(rows, path):
    """Headroom and captured saving (% of BranchyNet's MACs) against branch cost / trunk cost."""
    width, height, left, bottom, top, right = 700, 400, 60, 50, 30, 170
    xs = [r["cost_ratio"] for r in rows]
    series = [("oracle headroom", "headroom_pct", "#444"), ("best predictor", "captured_pct", "#d62728"),
              ("best cost-weighted", "cost_captured_pct", "#1f77b4")]
    ys = [r[key] for _, key, _ in series for r in rows]
    x_max = max(xs) * 1.1
    y_min, y_max = min(0.0, min(ys)), max(ys) * 1.15 + 1
    px = lambda x: left + (width - left - right) * x / x_max
    py = lambda y: height - bottom - (height - top - bottom) * (y - y_min) / (y_max - y_min)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="12">', f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="14">B-ResNet: saving on BranchyNet\'s mean MACs against branch 0\'s '
           f'cost</text>']
    out.append(f'<line x1="{left}" y1="{py(0)}" x2="{width - right}" y2="{py(0)}" stroke="#999"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#000"/>')
    out.append(f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#000"/>')
    for i in range(6):
        y = y_min + (y_max - y_min) * i / 5
        out.append(f'<text x="{left - 6}" y="{py(y) + 4}" text-anchor="end">{y:.0f}%</text>')
    for x in xs:
        out.append(f'<text x="{px(x)}" y="{height - bottom + 16}" text-anchor="middle">{x:.2f}</text>')
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">branch 0 MACs / trunk '
               f'MACs</text>')
    out.append(f'<text x="14" y="{(top + height - bottom) / 2}" transform="rotate(-90 14 {(top + height - bottom) / 2})" '
               f'text-anchor="middle">% of BranchyNet\'s MACs saved</text>')
    for k, (label, key, colour) in enumerate(series):
        points = " ".join(f"{px(r['cost_ratio']):.1f},{py(r[key]):.1f}" for r in rows)
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for r in rows:
            out.append(f'<circle cx="{px(r["cost_ratio"]):.1f}" cy="{py(r[key]):.1f}" r="3" fill="{colour}"/>')
        out.append(f'<line x1="{width - right + 10}" y1="{top + 20 * k}" x2="{width - right + 30}" '
                   f'y2="{top + 20 * k}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{width - right + 35}" y="{top + 20 * k + 4}">{label}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trunk", default=os.path.join(ROOT, "runs", "results", "b-resnet", "model.safetensors"))
    p.add_argument("--widths", default="4,6,8,10,12")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--runs", default=os.path.join(ROOT, "runs", "headroom"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tables-only", action="store_true",
                   help="rebuild the tables and plot from each width's policies.json, running nothing")
    p.add_argument("--fit-limit", type=int, default=0,
                   help="training images that label the predictors (0: all 55,000)")
    a = p.parse_args()
    threads = ["--threads", str(a.threads)]
    rows = []
    for w in [int(x) for x in a.widths.split(",")]:
        folder = os.path.join(a.runs, f"w{w}")
        model, cost_model = os.path.join(folder, "model.safetensors"), os.path.join(folder, "cost.safetensors")
        if a.tables_only:
            with open(os.path.join(folder, "policies.json")) as f:
                saved = json.load(f)
            rows.append(map_row(w, segment_macs(model), saved["plain"], saved["cost_weighted"],
                                branch0_validation_accuracy(folder)))
            continue
        done = epochs_logged(folder)
        if done < a.epochs or not os.path.exists(model):
            command = [BRANCHY, "train", "--net", "b-resnet", "--config", f"branch0_width={w}", "--init", a.trunk,
                       "--frozen-trunk", "--exit-weights", "1,0,0", "--epochs", str(a.epochs), "--lr", "0.002",
                       "--schedule", "cosine", "--batch", "128", "--crop", "2", "--flip", "--quiet", "--out",
                       folder] + threads
            if done > 0 and os.path.exists(os.path.join(folder, "last.safetensors")):
                command.append("--resume")
            run(command)
        run([BRANCHY, "calibrate", model] + threads)
        shutil.copyfile(model, cost_model)
        fit = ["--limit", str(a.fit_limit), "--test-sweep"] + threads
        cost_folder = os.path.join(folder, "cost")  # the cost-weighted fits' sweep files
        os.makedirs(cost_folder, exist_ok=True)
        for kind in PREDICTORS:
            run([BRANCHY, "fit-predictor", model, "--kind"] + kind + fit)
        for kind in COST_WEIGHTED:
            run([BRANCHY, "fit-predictor", cost_model, "--kind"] + kind + ["--cost-weighted", "--out", cost_folder] + fit)
        evaluate = ["--policy", "all", "--json", "--threads", "1", "--repeats", "1", "--latency-samples", "500"]
        report = json.loads(run([BRANCHY, "eval", model] + evaluate, capture=True))
        cost_report = json.loads(run([BRANCHY, "eval", cost_model] + evaluate, capture=True))
        with open(os.path.join(folder, "policies.json"), "w") as f:
            json.dump({"plain": report, "cost_weighted": cost_report}, f, indent=1)
        rows.append(map_row(w, segment_macs(model), report, cost_report, branch0_validation_accuracy(folder)))
    os.makedirs(a.runs, exist_ok=True)
    with open(os.path.join(a.runs, "headroom_map.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| branch0_width | branch 0 / trunk MACs | branch 0 alone, val % | BranchyNet test % | exit share % "
             "| headroom | best policy (captured, Δacc) | best cost-weighted (captured, Δacc) | ≥ 50% where ≥ 15% "
             "| ⚠ miss 0.5 on test |",
             "|---:|---:|---:|---:|---|---:|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['branch0_width']} | {r['cost_ratio']:.3f} | {100 * r['branch0_validation_accuracy']:.2f} "
            f"| {100 * r['branchy_accuracy']:.2f} | {r['branchy_exit_share']} | {r['headroom_pct']:.1f}% "
            f"| {r['best_policy']} ({100 * r['best_captured']:.0f}%, {100 * r['best_accuracy_change']:+.2f}) "
            f"| {r['cost_best_policy']} ({100 * r['cost_best_captured']:.0f}%, "
            f"{100 * r['cost_best_accuracy_change']:+.2f}) | {r['target']} "
            f"| {unstable_cell(r)} |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(a.runs, "headroom_map.md"), "w") as f:
        f.write(table)
    svg_plot(rows, os.path.join(a.runs, "headroom_map.svg"))
    print(table)


if __name__ == "__main__":
    main()
