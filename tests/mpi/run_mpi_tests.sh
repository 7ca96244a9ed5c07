#!/usr/bin/env bash
# The MPI tests: data-parallel training and evaluation with 2 ranks on this
# machine, against 1 rank (docs/DISTRIBUTED.md). Run by `make test MPI=1`
# and `make test-mpi`; needs a branchy built with MPI=1.
#
#   tests/mpi/run_mpi_tests.sh BRANCHY COMPARE_MODELS
#
# 1. b-lenet (no batch norm), 3 steps with SGD + momentum and with Adam:
#    2 ranks end with the weights of 1 rank at the same global batch, within
#    1e-4 of each tensor's scale for SGD, 1e-2 for Adam (see TOLERANCE
#    below); 1 rank under mpirun is bit for bit the run without mpirun.
# 2. b-resnet (batch norm) with --sync-bn and SGD: the same, 2 ranks against 1.
# 3. Every epoch's line shows the ranks' parameter checksum (the trainer
#    fails when they differ); a run resumed under MPI equals an unbroken one.
# 4. eval on 2 ranks: accuracy, exit shares, MACs and agreement exactly
#    those of one process.
# 5. A rank that fails (a bad data path on rank 1) or is killed ends the job
#    with a message, not a hang, and the last checkpoint still loads.
set -euo pipefail
branchy=$(realpath "$1")
compare=$(realpath "$2")
work=$(mktemp -d /tmp/branchy-mpi-tests.XXXXXX)

mpirun_args=(--oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && mpirun_args+=(--allow-run-as-root)
# N ranks, each with one thread; a job that hangs is a failure, not a wait.
ranks() { local n=$1; shift; timeout 600 mpirun "${mpirun_args[@]}" -np "$n" "$@"; }

# Summation order: 2 ranks each sum their half of the batch's gradient and
# then add the halves, 1 rank sums all rows at once (and batch norm's sums
# likewise); float32 rounding then differs by ~1e-7 relative after one step.
# Only the first few steps can be compared: training a ReLU network is
# chaotic at the scale of rounding. Once two runs' weights differ by 1e-7, a
# pre-activation within that distance of zero (or a max-pool window with two
# near-equal values) lands on different sides in the two runs, its whole
# gradient passes in one and not in the other, and the difference jumps to
# 1e-4..1e-3 in one step and grows from there. Measured per step (sum of
# |gradient| per tensor, the worst tensor): b-lenet agreed to 1e-7..3e-7 over
# its first 7 steps for 8 seeds (one seed jumped to 1e-4 at step 8); the
# 4-channel b-resnet with --sync-bn to 1e-7..5e-6 over its first 3 steps for
# 8 seeds, then 5 of the 8 jumped to 1e-4..2e-3 at steps 4-6 and reached
# O(1) within 20 steps. One process on 1 thread against 2 threads parts the
# same way (seed 2: 2e-3 at step 4, O(1) at step 6), so that is not the ranks.
# Hence 3 steps, one batch per epoch (the epoch boundary, the shuffle and the
# momentum carried over are then all crossed), and 1e-4 leaves 20x room while
# staying far below a real fault (a wrong scale or a missed bucket moves a
# tensor's gradient by 0.5 or more at the first step).
TOLERANCE=1e-4
# Adam divides each update by sqrt(v): where a gradient is near zero the
# update is a ratio of two tiny numbers, and the rounding difference in the
# gradient becomes a larger one in the step; where it flips the sign of a
# near-zero gradient, the step flips too, by up to the learning rate. After
# 20 steps the difference was 2.3e-5 on an Intel Xeon and 3.4e-3 on an AMD
# EPYC (whose kernels round differently), with the epoch losses and
# accuracies of 1 and 2 ranks identical to 4 digits on both. A tensor whose
# gradient is not summed over the ranks is caught first by the ranks'
# checksums after every epoch (check 3); a wrong gradient scale, which Adam
# does not see, is the SGD checks' to catch. For the same reason the batch-norm check
# runs SGD: with Adam, b-resnet's 4-channel batch-norm biases moved by 2.5e-3
# on the EPYC.
ADAM_TOLERANCE=1e-2

# logged LOG COMMAND...: runs a step the checks below read, or stops here with its log.
logged() {
  local log=$1; shift
  "$@" >> "$log" 2>&1 || { echo "mpi tests: this step failed (log $log): $*"; tail -20 "$log"; exit 1; }
}

passed=0
failed=0
check() {  # check NAME COMMAND...: runs it, counts and reports the outcome
  local name=$1; shift
  if "$@" > "$work/check.log" 2>&1; then
    echo "mpi test passed: $name"; passed=$((passed + 1))
  else
    echo "mpi test FAILED: $name"; sed 's/^/    /' "$work/check.log" | tail -20; failed=$((failed + 1))
  fi
}

# 3 steps each: 3 epochs of one batch (64 samples, 32 for b-resnet).
data=(--data fashion-mnist --validation 256 --test-limit 512)
epochs=3
lenet=(train --net b-lenet "${data[@]}" --limit 64 --epochs $epochs --batch 64 --threads 1)
resnet=(train --net b-resnet --config depth=8,base_channels=4,branch0_width=4,branch1_width=4
        "${data[@]}" --limit 32 --epochs $epochs --batch 32 --threads 1)

echo "mpi tests: training with 1 and 2 ranks in $work"
logged "$work/lenet-plain.log" "$branchy" "${lenet[@]}" --optimizer sgd --lr 0.05 --out "$work/lenet-plain"
logged "$work/lenet-1.log" ranks 1 "$branchy" "${lenet[@]}" --optimizer sgd --lr 0.05 --out "$work/lenet-1"
logged "$work/lenet-2.log" ranks 2 "$branchy" "${lenet[@]}" --optimizer sgd --lr 0.05 --out "$work/lenet-2"
logged "$work/lenet-adam-1.log" ranks 1 "$branchy" "${lenet[@]}" --out "$work/lenet-adam-1"
logged "$work/lenet-adam-2.log" ranks 2 "$branchy" "${lenet[@]}" --out "$work/lenet-adam-2"
logged "$work/resnet-1.log" ranks 1 "$branchy" "${resnet[@]}" --optimizer sgd --lr 0.05 --sync-bn --out "$work/resnet-1"
logged "$work/resnet-2.log" ranks 2 "$branchy" "${resnet[@]}" --optimizer sgd --lr 0.05 --sync-bn --out "$work/resnet-2"
logged "$work/resnet-local.log" ranks 2 "$branchy" "${resnet[@]}" --out "$work/resnet-local"

check "1 rank under mpirun is bit for bit the plain run" \
  "$compare" "$work/lenet-plain/last.safetensors" "$work/lenet-1/last.safetensors" 0
check "b-lenet, SGD: 2 ranks end with the weights of 1 rank" \
  "$compare" "$work/lenet-1/last.safetensors" "$work/lenet-2/last.safetensors" $TOLERANCE
check "b-lenet, Adam: 2 ranks end with the weights of 1 rank" \
  "$compare" "$work/lenet-adam-1/last.safetensors" "$work/lenet-adam-2/last.safetensors" $ADAM_TOLERANCE
check "b-resnet with --sync-bn: 2 ranks end with the weights (and running statistics) of 1 rank" \
  "$compare" "$work/resnet-1/last.safetensors" "$work/resnet-2/last.safetensors" $TOLERANCE

every_epoch_checked() {  # the epoch lines of a 2-rank log each carry the compared checksum
  [ "$(grep -c '^epoch .*\[2 ranks: allreduce .* checksum [0-9a-f]\{16\}\]' "$1")" = "$2" ]
}
check "after every epoch the ranks' parameters were compared (b-lenet)" every_epoch_checked "$work/lenet-2.log" $epochs
check "after every epoch the ranks' parameters were compared (b-resnet)" every_epoch_checked "$work/resnet-2.log" $epochs
check "per-rank batch norm: running statistics averaged, ranks equal after every epoch" \
  every_epoch_checked "$work/resnet-local.log" $epochs
check "the checkpoint records the ranks and their seeds" grep -aq '\\"rank_seeds\\":\[' "$work/lenet-2/last.safetensors"
check "rank 0 alone wrote the log: one row per epoch" \
  test "$(wc -l < "$work/lenet-2/train_log.csv")" = $((epochs + 1))

# Resume: 1 epoch, then --resume to the last, all on 2 ranks, equals the unbroken run.
logged "$work/lenet-resumed.log" ranks 2 "$branchy" "${lenet[@]}" --optimizer sgd --lr 0.05 --epochs 1 --out "$work/lenet-resumed"
logged "$work/lenet-resumed.log" ranks 2 "$branchy" "${lenet[@]}" --optimizer sgd --lr 0.05 --resume --out "$work/lenet-resumed"
check "a run resumed under MPI ends as the unbroken run" \
  "$compare" "$work/lenet-2/last.safetensors" "$work/lenet-resumed/last.safetensors" 0
check "the resumed run's log has every epoch" test "$(wc -l < "$work/lenet-resumed/train_log.csv")" = $((epochs + 1))

# eval: the JSON's figures per policy, flattened to one line each.
figures() {
  tr -d ' \n' < "$1" | grep -oE '"(accuracy|exit_share|exit_accuracy|macs|agreement|accuracy_change|samples)":(\[[^]]*\]|[^,}]*)'
}
evaluate=(eval "$work/lenet-2/model.safetensors" --policy full,branchy,oracle --thresholds 0.5 --json
          --latency-samples 5 --repeats 1 --threads 1 "${data[@]}")
logged "$work/eval-1.json" "$branchy" "${evaluate[@]}"
logged "$work/eval-2.json" ranks 2 "$branchy" "${evaluate[@]}"
same_figures() { diff <(figures "$work/eval-1.json") <(figures "$work/eval-2.json") && [ -n "$(figures "$work/eval-1.json")" ]; }
check "eval on 2 ranks: accuracy, exit shares, MACs and agreement exactly as on 1" same_figures

# A rank that fails: rank 1 reads a missing folder. The job ends (no hang),
# non-zero, with rank 1's one-line error.
failing_rank() {
  ! ranks 2 bash -c 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then data=/nonexistent/folder; else data=fashion-mnist; fi
                     exec "$0" train --net b-lenet --data "$data" --limit 1280 --validation 256 --epochs 1 \
                       --threads 1 --quiet --out "$1"' "$branchy" "$work/failing" 2> "$work/failing.err" &&
    grep "branchy train (rank 1 of 2): error: .*nonexistent" "$work/failing.err"
}
check "a rank that fails ends the job with its one-line error" failing_rank

# A rank killed (SIGKILL) once the first checkpoint exists: the job ends,
# non-zero, and that checkpoint loads.
killed_rank() {
  ! ranks 2 bash -c 'if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then
                       (while [ ! -f "$1/last.safetensors" ]; do sleep 0.2; done; sleep 1; kill -9 $$) &
                     fi
                     exec "$0" train --net b-lenet --data fashion-mnist --limit 4096 --validation 256 --epochs 20 \
                       --threads 1 --quiet --out "$1"' "$branchy" "$work/killed" > /dev/null 2>&1 &&
    "$branchy" info "$work/killed/last.safetensors"
}
check "a killed rank ends the job and the last checkpoint stays loadable" killed_rank

echo "mpi tests: $passed passed, $failed failed"
[ "$failed" = 0 ] || { echo "mpi tests: runs kept in $work"; exit 1; }
rm -rf "$work"

