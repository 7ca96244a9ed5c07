"""What the results scripts share: running bin/branchy with the command
printed first, and reading how far a run folder's training got."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BRANCHY = os.path.join(ROOT, "bin", "branchy")


def run(args, capture=False):
    """Runs a bin/branchy command, printed first; stops the script, naming it, when it fails."""
    print("$ " + " ".join(["bin/branchy"] + args[1:]), flush=True)
    done = subprocess.run(args, check=False, text=True, capture_output=capture)
    if done.returncode != 0:
        if capture:
            sys.stderr.write(done.stderr)
        script = os.path.splitext(os.path.basename(sys.argv[0]))[0]
        sys.exit(f"{script}: {args[1]} failed with exit status {done.returncode}")
    return done.stdout


def epochs_logged(folder):
    """Epoch rows in the run folder's train_log.csv (0 when there is none)."""
    try:
        with open(os.path.join(folder, "train_log.csv")) as f:
            return max(0, sum(1 for _ in f) - 1)
    except FileNotFoundError:
        return 0
