#!/usr/bin/env bash
# Installs what slipway needs at run time and in tests, into ./.tools (nothing global but apt packages):
#   - uv, pinned, from PyPI (slipway's default installer)
#   - checks that the pyenv interpreters the tests use (3.11, 3.12, 3.13) are present
#   - lftp, openssl, curl, pebble, postgresql (apt), for the tests, and bubblewrap, the apps'
#     sandbox, when missing
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
TOOLS="$PWD/.tools"
PYENV_ROOT="${PYENV_ROOT:-$HOME/.pyenv}"

say() { printf 'setup: %s\n' "$*" >&2; }

missing=()
for v in 3.11 3.12 3.13; do
  if ! compgen -G "$PYENV_ROOT/versions/$v.*/bin/python" >/dev/null; then missing+=("$v"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  say "warning: no pyenv interpreter for Python ${missing[*]} under $PYENV_ROOT/versions (tests need 3.11, 3.12 and 3.13)"
fi

bootstrap_python() {
  for p in "$PYENV_ROOT"/versions/3.1[123].*/bin/python python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import venv' 2>/dev/null; then echo "$p"; return; fi
  done
  say "error: no Python 3 interpreter with venv found (looked in $PYENV_ROOT/versions and PATH)"; exit 1
}

if [ "$("$TOOLS/uv/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  say "installing uv $UV_VERSION into $TOOLS/uv"
  rm -rf "$TOOLS/uv"
  "$(bootstrap_python)" -m venv "$TOOLS/uv"
  "$TOOLS/uv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
mkdir -p "$TOOLS/bin"
ln -sf "$TOOLS/uv/bin/uv" "$TOOLS/bin/uv"
say "uv: $("$TOOLS/bin/uv" --version)"

if ! command -v git >/dev/null 2>&1; then
  say "installing git"
  apt-get update -qq && apt-get install -y -qq git >/dev/null
fi

# The tests drive real clients: lftp (FTP), curl (the <app>.localhost proxy), and openssl makes
# the self-signed certificates of the TLS tests; pebble is the ACME server the HTTPS tests get
# certificates from. bubblewrap (bwrap) is the sandbox every app and build runs in when slipway
# runs as root.
missing=()
for tool in lftp:lftp openssl:openssl curl:curl bwrap:bubblewrap pebble:pebble; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
# PostgreSQL: `serve --database` keeps the store there; the tests run a throwaway cluster of it
# (scripts/postgres.sh) with Debian's server binaries and psql.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || ! command -v psql >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
