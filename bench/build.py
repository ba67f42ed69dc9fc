#!/usr/bin/env python3
"""Benchmark: `slipway build` against the Kudu-style baseline.

Run from anywhere as `python3 bench/build.py [--repeat N]`.

What it measures (wall-clock seconds, median of N repeats) for an app whose
requirements.txt lists `flask gunicorn django requests fastapi uvicorn`:

  1. clean build    - into an empty target
  2. no-op rebuild  - same source, same target, nothing changed
  3. add a package  - append `six` to requirements.txt and rebuild
  4. toggle runtime - rebuild a Python 3.12 target with Python 3.11 (env recreated)

The baseline is what Kudu (Azure App Service's build engine) does for a Python
app: `python -m venv env` then `env/bin/pip install -r requirements.txt`, every
deployment. Its no-op rebuild is pip re-running over an installed env; its
runtime toggle is `rm -rf env` plus a new venv and a full install.

Both sides install from the local wheelhouse only (PIP_FIND_LINKS + PIP_NO_INDEX),
so no network is involved. uv's and pip's caches live in the run's temp dir and
are warmed by one untimed build on each side (3.12 and 3.11) before timing.
The targets: clean build >= 20x faster, no-op rebuild >= 10x faster.
"""
import argparse
import glob
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, run

REQUIREMENTS = ["flask", "gunicorn", "django", "requests", "fastapi", "uvicorn"]
TARGETS = {"clean build": 20.0, "no-op rebuild": 10.0}


def find_python(version):
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python"))
    if not found:
        sys.exit(f"error: no Python {version} under {pyenv_root}/versions")
    return found[-1]


def timed(*cmds, what):
    start = time.perf_counter()
    for cmd in cmds:
        run(cmd, what)
    return time.perf_counter() - start


class Bench:
    def __init__(self, tmp, slipway, pythons):
        self.tmp, self.slipway, self.pythons = tmp, slipway, pythons
        self.src = tmp / "src"
        self.src.mkdir()
        self.write_requirements(REQUIREMENTS)

    def write_requirements(self, names):
        (self.src / "requirements.txt").write_text("\n".join(names) + "\n")

    def slipway_build(self, target, version="3.12"):
        cmd = [self.slipway, "build", "--source", self.src, "--target", target, "--python", version]
        return timed(cmd, what="slipway build")

    def venv_cmds(self, app, version):
        return [[self.pythons[version], "-m", "venv", app / "env"]]

    def pip_cmd(self, app):
        return [app / "env/bin/pip", "install", "--disable-pip-version-check", "-q",
                "-r", app / "requirements.txt"]

    def baseline_build(self, app, version="3.12"):
        """Kudu: fresh venv + pip install -r (app is a copy of the source)."""
        app.mkdir(exist_ok=True)
        shutil.copy(self.src / "requirements.txt", app)
        shutil.rmtree(app / "env", ignore_errors=True)
        return timed(*self.venv_cmds(app, version), self.pip_cmd(app), what="baseline build")

    def baseline_pip(self, app):
        shutil.copy(self.src / "requirements.txt", app)
        return timed(self.pip_cmd(app), what="baseline pip install")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repeats per scenario (median is reported)")
    args = parser.parse_args()
    wall_start = time.perf_counter()

    print("$ python3 bench/build.py" + (f" --repeat {args.repeat}" if args.repeat != 3 else ""))
    run(["cargo", "build", "--release", "--quiet"], "cargo build", cwd=ROOT)
    slipway = ROOT / "target/release/slipway"
    uv = ROOT / ".tools/bin/uv"
    wheelhouse = Path(os.environ.get("SLIPWAY_WHEELHOUSE", ROOT.parent / "shared/wheelhouse")).resolve()
    pythons = {v: find_python(v) for v in ("3.12", "3.11")}

    print(f"machine: nproc={len(os.sched_getaffinity(0))}, {platform.platform()}")
    print(f"bench python: {platform.python_version()}; app pythons: "
          + ", ".join(run([p, "-c", "import platform; print(platform.python_version())"], "python")
                      for p in pythons.values()))
    print(f"uv: {run([uv, '--version'], 'uv')}; pip: "
          + run([pythons['3.12'], "-m", "pip", "--version"], "pip").split(" from ")[0])
    print(f"wheelhouse: {wheelhouse}; requirements: {' '.join(REQUIREMENTS)}; repeats: {args.repeat} (median)")

    with tempfile.TemporaryDirectory(prefix="slipway-bench-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ.update({
            "SLIPWAY_UV": str(uv), "SLIPWAY_CACHE_DIR": str(tmp / "slipway-cache"),
            "UV_CACHE_DIR": str(tmp / "uv-cache"), "PIP_CACHE_DIR": str(tmp / "pip-cache"),
            "PIP_FIND_LINKS": str(wheelhouse), "PIP_NO_INDEX": "1",
        })
        for var in ("VIRTUAL_ENV", "PYTHON_VERSION", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
            os.environ.pop(var, None)
        b = Bench(tmp, slipway, pythons)

        # Warm-up (untimed): fills uv's cache (slipway) and pip's cache, for 3.12 and 3.11.
        for version in ("3.12", "3.11"):
            b.slipway_build(tmp / "warm-slipway", version)
            b.baseline_build(tmp / "warm-baseline", version)
        print("caches: uv's cache is warm (one untimed slipway build per Python); "
              "pip's cache is warm too (one untimed pip run per Python)")

        results = {}
        n = range(args.repeat)

        # 1. Clean build: a fresh, empty target every repeat.
        results["clean build"] = ([b.slipway_build(tmp / f"t{i}") for i in n],
                                  [b.baseline_build(tmp / f"b{i}") for i in n])
        target, app = tmp / "t0", tmp / "b0"
        run([target / "env/bin/python", "-c", "import flask, django, fastapi"], "sanity import")

        # 2. No-op rebuild: same source, same target.
        results["no-op rebuild"] = ([b.slipway_build(target) for _ in n],
                                    [b.baseline_pip(app) for _ in n])

        # 3. Add one package: base state rebuilt untimed, then `six` appended and timed.
        s3 = ([], [])
        for _ in n:
            b.write_requirements(REQUIREMENTS)
            b.slipway_build(target)
            run([app / "env/bin/pip", "uninstall", "-y", "-q", "six"], "pip uninstall")
            b.write_requirements(REQUIREMENTS + ["six"])
            s3[0].append(b.slipway_build(target))
            s3[1].append(b.baseline_pip(app))
        results["add one package"] = s3
        b.write_requirements(REQUIREMENTS)
        b.slipway_build(target)  # back to the base set (the baseline recreates its env below)

        # 4. Toggle runtime 3.12 -> 3.11 (timed), then back to 3.12 untimed.
        s4 = ([], [])
        for _ in n:
            s4[0].append(b.slipway_build(target, "3.11"))
            s4[1].append(b.baseline_build(app, "3.11"))
            b.slipway_build(target, "3.12")
            b.baseline_build(app, "3.12")
        results["toggle runtime"] = s4

    print()
    print(f"{'scenario':<18}{'slipway s':>11}{'baseline s':>12}{'ratio':>9}")
    ratios = {}
    for name, (ours, theirs) in results.items():
        ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
        ratios[name] = theirs_s / ours_s
        print(f"{name:<18}{ours_s:>11.3f}{theirs_s:>12.3f}{ratios[name]:>8.1f}x")
    print()
    for name, goal in TARGETS.items():
        verdict = "met" if ratios[name] >= goal else "NOT met"
        print(f"target {name} >= {goal:.0f}x faster: {verdict} ({ratios[name]:.1f}x)")
    print(f"\nbenchmark wall time: {time.perf_counter() - wall_start:.1f}s")


if __name__ == "__main__":
    main()
