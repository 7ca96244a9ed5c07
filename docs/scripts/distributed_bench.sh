#!/usr/bin/env bash
# distributed_bench.sh — data-parallel training speed on one machine:
# 1 process x 2 threads against 2 MPI processes x 1 thread, for b-lenet and
# b-resnet on Fashion-MNIST, and the share of the training pass that the
# 2-process run spends in gradient allreduce not hidden by backward (the
# trainer times its own allreduce calls and prints it on each epoch line).
#
#   make MPI=1 && docs/scripts/distributed_bench.sh            # about 10 minutes on 2 cores
#   docs/scripts/distributed_bench.sh --quick                  # a few seconds: checks the script works
#
# Settings (environment): BRANCHY (default bin/branchy, built with MPI=1),
# LIMIT training images (default 20000), EPOCHS (2; the last epoch's rate is
# reported, the first warms caches), BATCH (global batch, 64).
# Run it on a quiet machine with at least 2 cores: anything else running
# changes both rates. Prints a Markdown table for docs/DISTRIBUTED.md and
# keeps the logs in the folder it names.
set -euo pipefail
cd "$(dirname "$0")/../.."
branchy=${BRANCHY:-bin/branchy}
limit=${LIMIT:-20000}
epochs=${EPOCHS:-2}
batch=${BATCH:-64}
if [ "${1:-}" = --quick ]; then limit=512; epochs=1; fi
command -v mpirun > /dev/null || { echo "distributed_bench: mpirun not found (make deps MPI=1)"; exit 1; }
[ -x "$branchy" ] || { echo "distributed_bench: $branchy not found (make MPI=1)"; exit 1; }

work=$(mktemp -d /tmp/branchy-distributed-bench.XXXXXX)
as_root=()
[ "$(id -u)" = 0 ] && as_root=(--allow-run-as-root)

# run NET PROCESSES THREADS: trains, prints "img/s allreduce%" of the last epoch.
run() {
  local net=$1 processes=$2 threads=$3
  local log="$work/$net-${processes}x$threads.log"
  # One process may use both cores; two processes get a core each.
  local binding=none
  [ "$processes" -gt 1 ] && binding=core
  mpirun "${as_root[@]}" --bind-to "$binding" -np "$processes" "$branchy" train --net "$net" \
    --data fashion-mnist --limit "$limit" --validation 1000 --test-limit 1000 --epochs "$epochs" \
    --batch "$batch" --threads "$threads" --out "$work/$net-${processes}x$threads" > "$log" 2>&1 ||
    { echo "distributed_bench: $net ${processes}x$threads failed, see $log" >&2; exit 1; }
  local line rate share
  line=$(grep '^epoch .* joint ' "$log" | tail -1)
  rate=$(grep -oE '[0-9]+ img/s' <<< "$line" | tail -1 | cut -d' ' -f1)
  share=$(grep -oE '= [0-9.]+% of train time' <<< "$line" | grep -oE '[0-9.]+' || true)
  echo "$rate ${share:--}"
}

echo "| network | 1 process x 2 threads, img/s | 2 processes x 1 thread, img/s | ratio | allreduce share of train time (2 processes) |"
echo "|---|---:|---:|---:|---:|"
for net in b-lenet b-resnet; do
  read -r one_rate _ <<< "$(run "$net" 1 2)"
  read -r two_rate two_share <<< "$(run "$net" 2 1)"
  ratio=$(awk -v a="$two_rate" -v b="$one_rate" 'BEGIN { printf "%.2f", a / b }')
  echo "| $net | $one_rate | $two_rate | ${ratio}x | $two_share% |"
done
echo
echo "settings: $limit training images, epochs: $epochs (the last one reported), global batch $batch; logs in $work"
