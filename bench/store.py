#!/usr/bin/env python3
"""Benchmark: the store on PostgreSQL (`serve --database`) against the embedded SQLite store.

Run from anywhere as `python3 bench/store.py [--requests N]` after `cargo build --release`.
Starts `slipway serve` twice in temp data dirs — on SQLite (the baseline) and on a throwaway
PostgreSQL cluster (`scripts/postgres.sh`) — creates 20 apps with a few settings and runs each,
then, for each store, times N sequential API requests of three kinds that are all store reads:

  - `GET /api/apps` (every app, with its deployments and state)
  - `GET /api/apps/<app>/settings`
  - `PUT /api/apps/<app>/settings?restart=false` (a write, in one transaction)

and prints the median and p95 of each, with PostgreSQL's as a ratio of SQLite's. Numbers are
for one machine, loopback PostgreSQL, fsync off (the test cluster): they show the query layer's
cost per request, not a tuned database's.
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, SLIPWAY, run, start_serve
APPS = 20


class Server:
    def __init__(self, tmp, database=None):
        env = dict(os.environ)
        env.pop("SLIPWAY_DATABASE", None)
        if database:
            env["SLIPWAY_DATABASE"] = database
        self.proc, self.port, self.token = start_serve(tmp / "data", tmp / "server.log", env)

    def api(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        conn.request(method, "/api" + path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        text = response.read().decode()
        conn.close()
        if response.status >= 400:
            sys.exit(f"error: {method} /api{path} answered {response.status}: {text}")
        return text

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def timed(server, requests, method, path, body=None):
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        server.api(method, path, body)
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def measure(server, requests):
    for n in range(APPS):
        server.api("POST", "/apps", {"name": f"app-{n:02}"})
        server.api("PUT", f"/apps/app-{n:02}/settings?restart=false", {"GREETING": "hello", "DEBUG": "0"})
    return {
        "GET /api/apps": timed(server, requests, "GET", "/apps"),
        "GET settings": timed(server, requests, "GET", "/apps/app-07/settings"),
        "PUT settings": timed(server, requests, "PUT", "/apps/app-07/settings?restart=false", {"N": "1"}),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests of each kind per store")
    args = parser.parse_args()
    if not SLIPWAY.exists():
        sys.exit(f"error: {SLIPWAY} is missing: run `cargo build --release` first")
    with tempfile.TemporaryDirectory(prefix="slipway-bench-store-") as tmp:
        tmp = Path(tmp)
        # Right under /tmp: PostgreSQL runs as its own user, which cannot enter this private dir.
        cluster = Path(tempfile.mkdtemp(prefix="slipway-bench-pg-"))
        url = run([ROOT / "scripts/postgres.sh", "start", cluster], "scripts/postgres.sh start")
        try:
            results = {}
            for store, database in [("sqlite", None), ("postgres", url)]:
                (tmp / store).mkdir()
                server = Server(tmp / store, database)
                try:
                    results[store] = measure(server, args.requests)
                finally:
                    server.stop()
        finally:
            run([ROOT / "scripts/postgres.sh", "stop", cluster], "scripts/postgres.sh stop")
            subprocess.run(["rm", "-rf", cluster], check=False)
    print(f"{args.requests} sequential requests of each kind, {APPS} apps; median / p95 in ms")
    print(f"{'request':<16}{'SQLite':>16}{'PostgreSQL':>16}{'ratio (median)':>16}")
    for kind, (median, p95) in results["sqlite"].items():
        pg_median, pg_p95 = results["postgres"][kind]
        print(f"{kind:<16}{median * 1e3:>8.2f} /{p95 * 1e3:>6.2f}{pg_median * 1e3:>8.2f} /{pg_p95 * 1e3:>6.2f}"
              f"{pg_median / median:>15.2f}x")


if __name__ == "__main__":
    main()
