#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests (never for production):
#   scripts/postgres.sh start DIR [PID]   initialise a cluster in DIR (empty or missing), start it
#                                         on a free loopback port (trust authentication, no fsync)
#                                         and print its URL; with PID, stop it once PID exits
#   scripts/postgres.sh stop DIR          stop it
# As root it runs as the `postgres` user (PostgreSQL refuses root). The binaries are Debian's
# (./scripts/setup.sh installs them).
set -euo pipefail

pg_bin() {
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/$1" ]; then echo "$dir/$1"; return; fi
  done
  command -v "$1" || { echo "postgres.sh: $1 not found: run ./scripts/setup.sh" >&2; exit 1; }
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "${1:-}" in
start)
  dir=$(realpath -m "$2")
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  port=$(free_port)
  as_owner "$(pg_bin initdb)" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync >"$dir/initdb.log"
  as_owner "$(pg_bin pg_ctl)" -D "$dir/data" -l "$dir/server.log" -w -o \
    "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
  if [ -n "${3:-}" ]; then
    watched=$3
    (
      while kill -0 "$watched" 2>/dev/null; do sleep 1; done
      as_owner "$(pg_bin pg_ctl)" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
      rm -rf "$dir"
    ) </dev/null >/dev/null 2>&1 &
  fi
  echo "postgres://postgres@127.0.0.1:$port/postgres"
  ;;
stop)
  as_owner "$(pg_bin pg_ctl)" -D "$(realpath -m "$2")/data" -m immediate stop >/dev/null
  ;;
*)
  echo "usage: scripts/postgres.sh start DIR [PID] | stop DIR" >&2
  exit 2
  ;;
esac
