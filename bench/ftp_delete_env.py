#!/usr/bin/env python3
"""Benchmark: deleting a real env recursively over FTP with lftp (the seed's option 1).

Run from anywhere as `python3 bench/ftp_delete_env.py [--repeat N]`.

It starts a release `slipway serve` in a temp data dir, creates an app, pushes a
repository whose requirements.txt lists `flask django` (installed from the local
wheelhouse, no network), so that `site/wwwroot/env` is a real virtual environment
with thousands of files. Then, N times (median reported):

  1. lftp rm -r   - `lftp -c "open -u APP,PASSWORD -p PORT 127.0.0.1; rm -r /site/wwwroot/env"`,
                    the way a user deletes env with an FTP client (list, then DELE/RMD bottom-up)
  2. VFS API      - `DELETE /api/apps/APP/vfs/site/wwwroot/env?recursive=true`, the API twin
  3. local rm -rf - on the server's disk, the floor nothing can beat

env is restored from a copy (`cp -a`) before each run. Plain FTP on loopback.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REQUIREMENTS = ["flask", "django"]
APP = "bench"

PLAIN_APP = """import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common import ROOT, run

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def api(base, token, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read() or b"null")


def count(env):
    files = dirs = 0
    for _, dirnames, filenames in os.walk(env):
        dirs += len(dirnames)
        files += len(filenames)  # symlinks to files count as files, as FTP lists them
    return files, dirs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repeats per method (median is reported)")
    args = parser.parse_args()

    print("$ python3 bench/ftp_delete_env.py" + (f" --repeat {args.repeat}" if args.repeat != 3 else ""))
    if not shutil.which("lftp"):
        sys.exit("error: lftp is not installed: run ./scripts/setup.sh")
    run(["cargo", "build", "--release", "--quiet"], "cargo build", cwd=ROOT)
    slipway = ROOT / "target/release/slipway"
    uv = ROOT / ".tools/bin/uv"
    wheelhouse = Path(os.environ.get("SLIPWAY_WHEELHOUSE", ROOT.parent / "shared/wheelhouse")).resolve()
    print(f"machine: nproc={len(os.sched_getaffinity(0))}, {platform.platform()}")
    print(f"lftp: {run(['lftp', '--version'], 'lftp').splitlines()[0]}")

    with tempfile.TemporaryDirectory(prefix="slipway-ftp-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env_vars = dict(os.environ, SLIPWAY_UV=str(uv), UV_CACHE_DIR=str(tmp / "uv-cache"),
                        SLIPWAY_CACHE_DIR=str(tmp / "slipway-cache"), NO_COLOR="1", RUST_LOG="warn")
        for var in ("PIP_FIND_LINKS", "PIP_NO_INDEX", "VIRTUAL_ENV"):
            env_vars.pop(var, None)
        server = subprocess.Popen([slipway, "serve", "--http", "127.0.0.1:0", "--ftp", "127.0.0.1:0",
                                   "--data-dir", tmp / "data"], env=env_vars, stdout=subprocess.PIPE,
                                  stderr=open(tmp / "server.log", "w"), text=True)
        try:
            ftp_addr = base = None
            for line in server.stdout:
                if line.startswith("slipway ftp listening on ftp://"):
                    ftp_addr = line.split("ftp://", 1)[1].strip()
                if line.startswith("slipway listening on "):
                    base = line.split()[3]
                    break
            if not (ftp_addr and base):
                sys.exit(f"error: slipway serve did not start: {(tmp / 'server.log').read_text()}")
            port = ftp_addr.rsplit(":", 1)[1]
            token = (tmp / "data/admin-token").read_text().strip()
            password = api(base, token, "POST", "/api/apps", {"name": APP})["password"]
            api(base, token, "PUT", f"/api/apps/{APP}/settings", {"PIP_FIND_LINKS": str(wheelhouse), "PIP_NO_INDEX": "1"})

            repo = tmp / "repo"
            repo.mkdir()
            (repo / "app.py").write_text(PLAIN_APP)
            (repo / "requirements.txt").write_text("\n".join(REQUIREMENTS) + "\n")
            (repo / "runtime.txt").write_text("python-3.12\n")
            git_env = dict(env_vars, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
                           GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com", GIT_TERMINAL_PROMPT="0")
            for cmd in (["init", "--quiet", "--initial-branch=main"], ["add", "-A"], ["commit", "--quiet", "-m", "bench"]):
                run(["git", *cmd], "git " + cmd[0], cwd=repo, env=git_env)
            url = base.replace("http://", f"http://{APP}:{password}@") + f"/git/{APP}.git"
            start = time.perf_counter()
            run(["git", "push", url, "main"], "git push (deployment)", cwd=repo, env=git_env)
            print(f"deployed {' '.join(REQUIREMENTS)} on Python 3.12 with uv in {time.perf_counter() - start:.1f}s")

            env = tmp / f"data/apps/{APP}/site/wwwroot/env"
            backup = tmp / "env-backup"
            run(["cp", "-a", env, backup], "cp -a env")
            files, dirs = count(env)
            du = run(["du", "-sh", env], "du").split()[0]
            print(f"env: {files} files, {dirs} folders, {du} (site-packages: "
                  + ", ".join(sorted(p.name.split("-")[0] for p in env.glob("lib/python3*/site-packages/*.dist-info"))) + ")")

            lftp_cmd = f"set ftp:ssl-allow no; open -u {APP},{password} -p {port} 127.0.0.1; rm -r /site/wwwroot/env"
            shown_lftp = f'lftp -c "set ftp:ssl-allow no; open -u {APP},PASSWORD -p {port} 127.0.0.1; rm -r /site/wwwroot/env"'

            def restore():
                if env.exists():
                    shutil.rmtree(env)
                run(["cp", "-a", backup, env], "restore env")
                assert count(env) == (files, dirs)

            def via_lftp():
                run(["lftp", "-c", lftp_cmd], "lftp rm -r")

            def via_api():
                api(base, token, "DELETE", f"/api/apps/{APP}/vfs/site/wwwroot/env?recursive=true")

            def via_rm():
                run(["rm", "-rf", env], "rm -rf")

            methods = [("lftp rm -r (FTP)", via_lftp, shown_lftp),
                       ("VFS API DELETE", via_api, f"curl -X DELETE -H 'Authorization: Bearer TOKEN' {base}/api/apps/{APP}/vfs/site/wwwroot/env?recursive=true"),
                       ("local rm -rf", via_rm, "rm -rf .../site/wwwroot/env")]
            print(f"repeats: {args.repeat} (median); env restored with cp -a before each run\n")
            print(f"{'method':<20} {'median s':>9} {'min s':>7} {'files/s':>9}   command")
            medians = {}
            for name, fn, shown in methods:
                times = []
                for _ in range(args.repeat):
                    restore()
                    start = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - start)
                    if env.exists():
                        sys.exit(f"error: {name} left env in place")
                median = medians[name] = statistics.median(times)
                print(f"{name:<20} {median:>9.2f} {min(times):>7.2f} {files / median:>9.0f}   {shown}")
            print(f"\nresult: lftp deleted env ({files} files, {dirs} folders) over FTP in "
                  f"{medians['lftp rm -r (FTP)']:.2f}s (median of {args.repeat})")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
