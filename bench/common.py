"""What the benchmarks share: the repository root and running a command that must succeed."""

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLIPWAY = ROOT / "target/release/slipway"


def run(cmd, what, cwd=None, env=None):
    """Run cmd; on failure print its output and exit 1. Returns its stdout, stripped."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"error: {what} exited {proc.returncode}: {shlex.join(map(str, cmd))}", file=sys.stderr)
        print(proc.stdout + proc.stderr, file=sys.stderr)
        sys.exit(1)
    return proc.stdout.strip()


def start_serve(data, out, env):
    """Starts `slipway serve` on free loopback ports with its data in `data` and its output in
    `out`; returns (process, HTTP port, admin token) once it listens (exits if it does not)."""
    with open(out, "w") as f:
        proc = subprocess.Popen([SLIPWAY, "serve", "--http", "127.0.0.1:0", "--ftp", "127.0.0.1:0",
                                 "--data-dir", data], stdout=f, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while not (m := re.search(r"slipway listening on http://[\d.]+:(\d+)", out.read_text())):
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("error: slipway serve did not start:\n" + out.read_text())
        time.sleep(0.02)
    return proc, int(m[1]), (data / "admin-token").read_text().strip()
