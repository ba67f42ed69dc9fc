"""What the benchmarks share: the repository root and running a command that must succeed."""

import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd, what, cwd=None, env=None):
    """Run cmd; on failure print its output and exit 1. Returns its stdout, stripped."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"error: {what} exited {proc.returncode}: {shlex.join(map(str, cmd))}", file=sys.stderr)
        print(proc.stdout + proc.stderr, file=sys.stderr)
        sys.exit(1)
    return proc.stdout.strip()
