#!/usr/bin/env python3
"""Benchmark: `slipway serve` - git push to a running app, and the `<app>.localhost` proxy.

Run from anywhere as `python3 bench/serve.py [--repeat N]`. Starts `slipway serve` on free
127.0.0.1 ports with a temp data dir (caches in it too), creates `examples/flask-hello` (Flask +
gunicorn) through the REST API with PIP_FIND_LINKS + PIP_NO_INDEX (local wheelhouse, no network),
pushes it twice untimed (env created; one code-only push), then, median of N code-only changes:

  1. push -> success (issue 4): `git push` wall time (the pre-receive hook holds the push until the
     deployment has finished) vs `slipway build` alone, same change and settings, built target.
     Goal: under 1 s excluding app start = push time minus the deployment log's `start` step.
  2. push -> new code answers (issue 6): from push start until `http://<app>.localhost:<port>/`
     returns the new body (polled every 5 ms through the proxy). Goal: <= 1.5 s.
  3. proxy overhead (issue 6): wrk, 10 s each, through the proxy vs straight to gunicorn's port
     (one worker: WEB_CONCURRENCY=1). Goal: 1 - proxy/direct requests per second <= 10 %.
  4. a switch under load (issue 11): wrk with 200 connections through the proxy for 15 s while two
     code-only pushes switch releases, beside the same wrk run with no push (the baseline, in the
     same process). Goal: 0 failed requests (socket errors + non-2xx); p99 beside the baseline's.
  5. rollback (issue 11): `POST /api/apps/<app>/rollback` until the previous code answers through
     the proxy. Goal: under 1 s.
  6. server memory (issue 12): the server's RSS once started (the baseline) and after 20 pushes
     in all. Goal: <= 40 MB after 20 pushes.
  7. scale to zero (issue 14): with IDLE_TIMEOUT=10s the app's web process stops; the first request
     after that waits while the proxy starts it. That request's time, beside a request to the
     running app (the baseline, same process). Goal: first request after idle < 1.5 s.
"""
import argparse
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, SLIPWAY, run, start_serve
APP = "flask-hello"
RSS_AFTER_PUSHES = 20
APP_PY = ('from flask import Flask\n\napp = Flask(__name__)\n\n\n@app.route("/")\ndef hello():\n'
          '    return "Hello from Flask on slipway! ({tag})\\n"\n')


def request(port, method, path, body=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode()
    finally:
        conn.close()


def step_timings(deployment):
    """{step: seconds}, as the deployment record reports its build's steps."""
    return {step["name"]: step["duration"] for step in deployment["steps"]}


class Server:
    def __init__(self, tmp, env):
        self.proc, self.port, self.token = start_serve(tmp / "data", tmp / "server.log", env)
        self.fresh_rss = self.rss_mb()

    def rss_mb(self):
        """The server process's resident memory, in MB (VmRSS)."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1]) / 1024

    def api(self, method, path, body=None):
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        status, text = request(self.port, method, "/api" + path, body, headers)
        if status >= 400:
            sys.exit(f"error: {method} /api{path} answered {status}: {text}")
        return json.loads(text) if text.startswith(("{", "[")) else text

    def app_log(self):
        """The running app's recent output, as text."""
        headers = {"Authorization": f"Bearer {self.token}"}
        return request(self.port, "GET", f"/api/apps/{APP}/logs/app", headers=headers)[1]

    def get_app(self, app_port=None):
        """GET / of the app through the proxy (or straight to app_port): (status, body)."""
        host = {} if app_port else {"Host": f"{APP}.localhost:{self.port}"}
        return request(app_port or self.port, "GET", "/", headers=host, timeout=5)

    def stop(self):
        """SIGTERM: the server stops the apps it runs."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


class Checkout:
    """The developer's clone of the app: edit app.py, commit, push with the real git client."""
    def __init__(self, tmp, url, env):
        self.dir, self.url, self.env, self.count, self.pushes = tmp / "work", url, env, 0, 0
        shutil.copytree(ROOT / "examples" / APP, self.dir)
        self.git("init", "-q", "-b", "main")

    def git(self, *args):
        ident = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
        return run(["git", *ident, *args], f"git {args[0]}", cwd=self.dir, env=self.env)

    def change(self):
        self.count += 1
        tag = f"change {self.count}"
        (self.dir / "app.py").write_text(APP_PY.format(tag=tag))
        self.git("add", "-A")
        self.git("commit", "-q", "-m", tag)
        return tag

    def push(self, wait=True):
        """Starts `git push`; with wait, returns its wall time (exits if it failed)."""
        start = time.perf_counter()
        self.pushes += 1
        proc = subprocess.Popen(["git", "push", "-q", self.url, "HEAD:main"], cwd=self.dir, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = proc.communicate()[0] if wait else ""  # the deployment log, as `remote:` lines
        if wait and proc.returncode != 0:
            sys.exit(f"error: git push exited {proc.returncode}:\n{out}")
        return time.perf_counter() - start if wait else proc


def wrk(url, host=None, connections=32, seconds=10):
    cmd = (["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
           + (["-H", f"Host: {host}"] if host else []) + [url])
    return parse_wrk(run(cmd, "wrk"), cmd)


def parse_wrk(out, cmd):
    """(req/s, p99 ms, errors text, command, requests, failed requests) from wrk's report."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", out, re.M).groups()
    p99_ms = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.findall(r"^\s*(Socket errors:.*|Non-2xx or 3xx responses:.*)$", out, re.M)
    requests = int(re.search(r"(\d+) requests in", out)[1])
    failed = sum(int(n) for line in errors for n in re.findall(r"\d+", line))
    return rps, p99_ms, "; ".join(errors) or "no errors", shlex.join(cmd), requests, failed


def switch_under_load(server, work):
    """Scenario 4: wrk through the proxy with no push, then again during two pushes."""
    url, host = f"http://127.0.0.1:{server.port}/", f"{APP}.localhost:{server.port}"
    baseline = wrk(url, host=host, connections=200, seconds=15)
    cmd = ["wrk", "-t2", "-c200", "-d15s", "--latency", "-H", f"Host: {host}", url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    time.sleep(3)
    for _ in range(2):
        work.change()
        work.push()
        time.sleep(2)
    out = proc.communicate()[0]
    return baseline, parse_wrk(out, cmd)


def rollback_time(server):
    """Scenario 5: rollback to the previous release until its code answers through the proxy."""
    releases = server.api("GET", f"/apps/{APP}/releases")
    previous = next(r for r in releases if not r["active"])
    tag = previous["message"]
    start = time.perf_counter()
    server.api("POST", f"/apps/{APP}/rollback", {"deployment": previous["id"]})
    while tag not in server.get_app()[1]:
        if time.perf_counter() - start > 30:
            sys.exit("error: the rolled-back code never answered")
        time.sleep(0.005)
    return time.perf_counter() - start


def wake_times(server, n):
    """Scenario 7: n times, wait for the app to go idle, then time the request that wakes it; and the
    next request, to the running app."""
    server.api("PUT", f"/apps/{APP}/settings", {"IDLE_TIMEOUT": "10s"})
    wakes, warm = [], []
    for _ in range(n):
        deadline = time.monotonic() + 60
        while server.api("GET", f"/apps/{APP}")["process"]["state"] != "idle":
            if time.monotonic() > deadline:
                sys.exit("error: the app did not go idle within 60 s of IDLE_TIMEOUT=10s")
            time.sleep(0.2)
        start = time.perf_counter()
        status, _ = server.get_app()
        wakes.append(time.perf_counter() - start)
        start = time.perf_counter()
        server.get_app()
        warm.append(time.perf_counter() - start)
        if status != 200:
            sys.exit(f"error: the request that woke the app answered {status}")
    server.api("DELETE", f"/apps/{APP}/settings/IDLE_TIMEOUT")
    return wakes, warm


def have_wrk():
    """wrk on PATH, installed with apt-get if missing (apt-get update first if that fails)."""
    for cmd in (["apt-get", "install", "-y", "-qq", "wrk"], ["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "wrk"]):
        if shutil.which("wrk"):
            break
        subprocess.run(cmd, capture_output=True)
    return shutil.which("wrk") is not None


def measure(server, work, n, env, settings, tmp):
    """Runs scenarios 1-3; returns pushes, step timings, builds, answers, failed polls, wrk results."""
    pushes, steps, builds, answers, failed_polls, proxy = [], [], [], [], 0, None
    for _ in range(n):  # 1. push -> success, and each deployment's step timings
        work.change()
        pushes.append(work.push())
        newest = server.api("GET", f"/apps/{APP}/deployments")[0]
        if newest["status"] != "success" or not newest["active"]:
            sys.exit(f"error: deployment after push: {newest}")
        steps.append(step_timings(newest))
    build = [SLIPWAY, "build", "--source", work.dir, "--target", tmp / "build-target"]
    run(build, "slipway build (untimed, first)", env={**env, **settings})
    for _ in range(n):  # 1. the same change with `slipway build` alone
        work.change()
        start = time.perf_counter()
        run(build, "slipway build", env={**env, **settings})
        builds.append(time.perf_counter() - start)
    for _ in range(n):  # 2. push -> the new code answers through the proxy
        tag = work.change()
        start = time.perf_counter()
        proc = work.push(wait=False)
        while True:
            try:
                status, body = server.get_app()
            except OSError:
                status, body = 0, ""
            failed_polls += status != 200  # a 502 or a refused connection would be a gap
            if tag in body:
                answers.append(time.perf_counter() - start)
                break
            if proc.poll() or time.perf_counter() - start > 60:
                sys.exit(f"error: the new code never answered (last answer: {status} {body!r}); git push "
                         f"exited {proc.poll()} and said:\n{proc.communicate()[0]}\n"
                         f"app: {server.api('GET', f'/apps/{APP}')}\n"
                         f"app log:\n{server.app_log()}")
            time.sleep(0.005)
        if proc.wait() != 0:
            sys.exit(f"error: git push failed:\n{proc.communicate()[0]}")
    switch = None
    if shutil.which("wrk"):  # 3. proxy vs direct; 4. a switch under load
        process = server.api("GET", f"/apps/{APP}")["process"]  # wrk reports non-2xx answers
        proxy = (process["command"], wrk(f"http://127.0.0.1:{process['port']}/"),
                 wrk(f"http://127.0.0.1:{server.port}/", host=f"{APP}.localhost:{server.port}"))
        switch = switch_under_load(server, work)
    rollbacks = [rollback_time(server) for _ in range(n)]  # 5. rollback, back and forth
    while work.pushes < RSS_AFTER_PUSHES:  # 6. the server's memory after 20 pushes
        work.change()
        work.push()
    memory = (server.fresh_rss, server.rss_mb(), work.pushes)
    wakes = wake_times(server, n)  # 7. the first request after idle
    return pushes, steps, builds, answers, failed_polls, proxy, switch, rollbacks, memory, wakes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="pushes/builds per scenario (median is reported)")
    args = parser.parse_args()
    wall_start = time.perf_counter()

    print("$ python3 bench/serve.py" + (f" --repeat {args.repeat}" if args.repeat != 5 else ""))
    run(["cargo", "build", "--release", "--quiet"], "cargo build", cwd=ROOT)
    cargo = time.perf_counter() - wall_start
    uv = ROOT / ".tools/bin/uv"
    wheelhouse = Path(os.environ.get("SLIPWAY_WHEELHOUSE", ROOT.parent / "shared/wheelhouse")).resolve()
    wrk_version = (subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[0]
                   if have_wrk() else "NOT AVAILABLE (apt-get install wrk failed): scenario 3 is skipped")
    print(f"machine: nproc={len(os.sched_getaffinity(0))}, {platform.platform()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work adds noise, to wrk most)")
    print(f"bench python: {platform.python_version()}; {run(['git', '--version'], 'git')}; "
          f"uv: {run([uv, '--version'], 'uv')}; wrk: {wrk_version}")
    print(f"cargo build --release: {cargo:.1f}s (not measured); app: examples/{APP}; "
          f"wheelhouse: {wheelhouse}; repeats: {args.repeat} (median)")

    with tempfile.TemporaryDirectory(prefix="slipway-bench-serve-") as tmp_name:
        tmp = Path(tmp_name)
        env = {k: v for k, v in os.environ.items()
               if k not in ("VIRTUAL_ENV", "PYTHON_VERSION", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")}
        env.update({"SLIPWAY_UV": str(uv), "SLIPWAY_CACHE_DIR": str(tmp / "slipway-cache"),
                    "UV_CACHE_DIR": str(tmp / "uv-cache"), "GIT_CONFIG_GLOBAL": str(tmp / "gitconfig"),
                    "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"})
        # One gunicorn worker, as before slipway set WEB_CONCURRENCY from the cores: with five on two
        # cores the proxy and wrk fight the app for CPU, and scenario 3 would measure that.
        settings = {"PIP_FIND_LINKS": str(wheelhouse), "PIP_NO_INDEX": "1", "WEB_CONCURRENCY": "1"}
        server = Server(tmp, env)
        try:
            created = server.api("POST", "/apps", {"name": APP})
            server.api("PUT", f"/apps/{APP}/settings", settings)
            work = Checkout(tmp, created["git_url"].replace("://", f"://{APP}:{created['password']}@", 1), env)
            first = [work.change() and work.push() for _ in range(2)][0]
            deploys = server.api("GET", f"/apps/{APP}/deployments")
            if [d["status"] for d in deploys] != ["success", "success"]:
                sys.exit(f"error: warm-up deployments: {deploys}")
            print(f"warm-up (untimed): first push (env created) {first:.2f}s; one code-only push")
            results = measure(server, work, args.repeat, env, settings, tmp)
            pushes, steps, builds, answers, failed_polls, proxy, switch, rollbacks, memory, wakes = results
        finally:
            server.stop()

    med, every = statistics.median, lambda xs: ", ".join(f"{x:.3f}" for x in xs)
    push, build = med(pushes), med(builds)
    no_start = med(p - s.get("start", 0.0) for p, s in zip(pushes, steps))
    middle = sorted(range(len(pushes)), key=lambda i: pushes[i])[len(pushes) // 2]
    print(f"\n1. code-only push -> deployment success (issue 4), median of {args.repeat}")
    print(f"   step timings of the median push ({pushes[middle]:.3f}s), from its deployment log:\n     "
          + ", ".join(f"{name} {seconds:.3f}s" for name, seconds in steps[middle].items()))
    print(f"   git push -> success      {push:>7.3f}s   (all: {every(pushes)})")
    print(f"   `start` step (app start) {med(s.get('start', 0.0) for s in steps):>7.3f}s\n"
          f"   push minus `start`       {no_start:>7.3f}s")
    print(f"   slipway build alone      {build:>7.3f}s   (all: {every(builds)})")
    print(f"   server overhead: push - build = {push - build:.3f}s; push / build = {push / build:.1f}x; "
          f"(push - start) / build = {no_start / build:.1f}x")
    answer = med(answers)
    print(f"\n2. push -> new code answers through the proxy (issue 6), median of {args.repeat}")
    print(f"   {answer:.3f}s   (all: {every(answers)}; non-200/failed polls during the switch: {failed_polls})")
    print("\n3. proxy vs direct to gunicorn (issue 6), wrk 10 s each")
    verdicts = [("code-only push minus app start < 1 s", no_start < 1.0, f"{no_start:.3f}s"),
                ("push -> new code answers <= 1.5 s", answer <= 1.5, f"{answer:.3f}s")]
    if proxy:
        command, direct, proxied = proxy
        overhead = 100 * (1 - proxied[0] / direct[0])
        print(f"   app command: {command}")
        for name, (rps, p99, errors, cmd, *_) in (("direct", direct), ("proxy", proxied)):
            print(f"   {name:<7}{rps:>9.0f} req/s   p99 {p99:>7.2f} ms   {errors}\n          $ {cmd}")
        print(f"   overhead: {overhead:.1f}% fewer req/s through the proxy; its p99 is {proxied[1] / direct[1]:.1f}x direct")
        verdicts.append(("proxy overhead <= 10 %", overhead <= 10.0, f"{overhead:.1f}%"))
    else:
        print("   not measured: wrk could not be installed")
    print("\n4. a switch under load (issue 11): wrk -c200 15 s through the proxy, with two pushes vs none")
    if switch:
        for name, (rps, p99, errors, cmd, requests, failed) in (("no push", switch[0]), ("2 pushes", switch[1])):
            print(f"   {name:<9}{requests:>8} requests {rps:>8.0f} req/s   p99 {p99:>7.2f} ms   failed {failed}   ({errors})")
        print(f"          $ {switch[1][3]}")
        print(f"   p99 during the switches: {switch[1][1] / switch[0][1]:.1f}x the baseline's")
        verdicts.append(("0 failed requests across 2 switches under load", switch[1][5] == 0,
                         f"{switch[1][5]} of {switch[1][4]}"))
    else:
        print("   not measured: wrk could not be installed")
    rollback = med(rollbacks)
    print(f"\n5. rollback -> the previous code answers (issue 11), median of {args.repeat}")
    print(f"   {rollback:.3f}s   (all: {every(rollbacks)})")
    verdicts.append(("rollback -> old code answers < 1 s", rollback < 1.0, f"{rollback:.3f}s"))
    fresh, after, pushed = memory
    print(f"\n6. server memory (issue 12): RSS {fresh:.1f} MB once started, {after:.1f} MB after {pushed} pushes "
          f"({after / fresh:.1f}x)")
    verdicts.append((f"server RSS after {pushed} pushes <= 40 MB", after <= 40.0, f"{after:.1f} MB"))
    wake, warm = med(wakes[0]), med(wakes[1])
    print(f"\n7. scale to zero (issue 14), median of {args.repeat}: the request that wakes an idle app "
          f"{wake:.3f}s (all: {every(wakes[0])}); a request to the running app {warm * 1000:.1f} ms "
          f"({wake / warm:.0f}x)")
    verdicts.append(("first request after idle < 1.5 s", wake < 1.5, f"{wake:.3f}s"))
    print("\n" + "\n".join(f"target {what}: {'met' if ok else 'NOT met'} ({value})" for what, ok, value in verdicts))
    print(f"\nbenchmark wall time: {time.perf_counter() - wall_start:.1f}s")


if __name__ == "__main__":
    main()
