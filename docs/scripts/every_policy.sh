#!/usr/bin/env bash
# Every policy on all five networks from the command line: a short training on
# 3,000 images, calibration, the five predictors, then `eval --policy all` with
# a trace. It checks the paths end to end, not accuracy (the exits of models
# this small rarely mix). About 15 minutes on 2 cores.
#   docs/scripts/every_policy.sh [OUT_DIR]   (default runs/every_policy)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/every_policy}
branchy=./bin/branchy
small=(--validation 1000 --limit 3000 --test-limit 1000 --threads 1)
for net in b-lenet b-alexnet b-resnet b-resnext b-densenet; do
  dir=$out/$net
  mkdir -p "$dir"
  echo "== $net"
  $branchy train --net "$net" --data fashion-mnist --epochs 1 --quiet --out "$dir" "${small[@]}"
  $branchy calibrate "$dir/model.safetensors" --latency-samples 50 "${small[@]}" > "$dir/calibrate.txt"
  for kind in "exit --placement first" "exit --placement input" "exit --placement each" \
              "skip --placement each" "entropy --placement each"; do
    # shellcheck disable=SC2086  # the kind and its placement are two options
    $branchy fit-predictor "$dir/model.safetensors" --kind $kind --epochs 3 "${small[@]}" > "$dir/fit.txt" 2>&1
  done
  $branchy eval "$dir/model.safetensors" --policy all --latency-samples 50 --repeats 1 --trace "$dir/trace.jsonl" \
      "${small[@]}" 2> /dev/null | tee "$dir/eval.txt" | grep -cE "^(full|branchy|oracle|.*-pred)" |
      xargs -I{} echo "$net: {} policies evaluated"
done
