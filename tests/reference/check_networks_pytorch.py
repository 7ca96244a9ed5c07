#!/usr/bin/python3
"""check_networks_pytorch.py -- every network, every exit, one training step: branchy against PyTorch.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tests/reference/check_networks_pytorch.py [RUN_TESTS]

RUN_TESTS is branchy's test binary (default build/release/run_tests; `make
test-pytorch` passes its own). The script runs its hidden test "[.pytorch]"
(tests/test_network_oracle.cpp) with BRANCHY_ORACLE_DIR set to a fresh
temporary folder, which writes for each case a model file and what branchy
computed on one batch: the logits of every exit in eval and in train mode, the
joint loss, the gradient of every parameter after one joint backward (sum of
the exits' cross-entropies times the trainer's exit weights), the batch-norm
running statistics after that step, and the masks its dropout layers drew.

Here each network is rebuilt in PyTorch from its own definition
(branchy_torch.py), loaded from the model file by state_dict name, run in
float64 on the same batch (the dropout masks applied as given), and every
tensor is compared with

    relative difference = max |branchy - pytorch| / max |pytorch|   (per tensor)

PyTorch's side is float64, so the difference is branchy's float32 error
alone. Prints the largest relative difference per case and the tensor where
it is; exits 1 if any is above TOLERANCE (1e-4), 2 if the C++ side fails.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from branchy_torch import MaskedDropout, build_network, load_branchy_weights  # noqa: E402
from read_safetensors import read_safetensors  # noqa: E402

TOLERANCE = 1e-4


def relative_difference(ours, theirs):
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        return float("inf")
    scale = float(np.max(np.abs(theirs))) if theirs.size else 0.0
    difference = float(np.max(np.abs(ours - theirs))) if theirs.size else 0.0
    if scale == 0.0:
        return 0.0 if difference == 0.0 else float("inf")
    return difference / scale


def check_case(folder, label):
    model_tensors, meta = read_safetensors(os.path.join(folder, label + ".model.safetensors"))
    dump, _ = read_safetensors(os.path.join(folder, label + ".dump.safetensors"))
    model = build_network(meta["net"], json.loads(meta["config"])).double()
    load_branchy_weights(model, model_tensors)
    x = torch.from_numpy(dump["x"]).double()
    labels = torch.from_numpy(dump["labels"]).long()
    weights = [float(w) for w in dump["exit_weights"]]
    results = []  # (relative difference, what)

    model.eval()
    with torch.no_grad():
        for e, logits in enumerate(model(x)):
            results.append((relative_difference(dump[f"eval.{e}"], logits), f"eval logits of exit {e}"))

    model.train()
    for name, module in model.named_modules():
        if isinstance(module, MaskedDropout):
            module.mask = torch.from_numpy(dump["mask." + name]).double()
    model.zero_grad(set_to_none=True)
    exits = model(x)
    loss = 0.0
    for e, logits in enumerate(exits):
        results.append((relative_difference(dump[f"train.{e}"], logits.detach()), f"train logits of exit {e}"))
        if weights[e] != 0.0:  # the trainer leaves a zero-weight exit out of backward
            loss = loss + weights[e] * F.cross_entropy(logits, labels)
    loss.backward()
    results.append((relative_difference(dump["loss"], loss.detach().reshape(1)), "joint loss"))

    compared = 0
    for name, tensor in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        parameter = dict(model.named_parameters()).get(name)
        if parameter is not None:
            grad = parameter.grad if parameter.grad is not None else torch.zeros_like(parameter)
            results.append((relative_difference(dump["grad." + name], grad), "grad of " + name))
        else:
            results.append((relative_difference(dump["after." + name], tensor), name + " after the step"))
        compared += 1
    expected = sum(1 for k in dump if k.startswith("grad.") or k.startswith("after."))
    if compared != expected:
        results.append((float("inf"), f"{expected} parameters in the dump, {compared} in the model"))
    worst = max(results)
    print(f"{label:20s} {len(exits)} exits, {compared} parameters: largest relative difference "
          f"{worst[0]:.2e} ({worst[1]})")
    for value, what in results:
        if not value <= TOLERANCE:
            print(f"    above {TOLERANCE:g}: {what}: {value:.3e}")
    return worst[0]


def main():
    torch.use_deterministic_algorithms(True)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    run_tests = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build", "release", "run_tests")
    folder = tempfile.mkdtemp(prefix="branchy-oracle-")
    try:
        environment = dict(os.environ, BRANCHY_ORACLE_DIR=folder)
        done = subprocess.run([run_tests, "[.pytorch]"], env=environment, cwd=root, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout + done.stderr)
            print(f"{run_tests} [.pytorch] failed with status {done.returncode}")
            sys.exit(2)
        labels = sorted(name[: -len(".dump.safetensors")] for name in os.listdir(folder)
                        if name.endswith(".dump.safetensors"))
        if not labels:
            print(f"{run_tests} [.pytorch] wrote nothing to {folder}")
            sys.exit(2)
        worst = max(check_case(folder, label) for label in labels)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    verdict = "ok" if worst <= TOLERANCE else "FAILED"
    print(f"{len(labels)} cases, largest relative difference {worst:.2e}, tolerance {TOLERANCE:g}: {verdict}")
    sys.exit(0 if worst <= TOLERANCE else 1)


if __name__ == "__main__":
    main()
