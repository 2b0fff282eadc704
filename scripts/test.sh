#!/usr/bin/env bash
# The whole suite: lint, then pytest against real Redis servers the tests start
# themselves. Browser tests need /usr/bin/chromium (Debian's `chromium` package);
# without it they are skipped, and this says so loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [[ ! -x $CHROMIUM ]]; then
  echo "############################################################################" >&2
  echo "# WARNING: $CHROMIUM not found: the browser tests of the gallery WILL BE SKIPPED." >&2
  echo "# Install it with: sudo apt-get install -y chromium" >&2
  echo "############################################################################" >&2
fi

echo "==> ruff"
.venv/bin/ruff check pi server tests bench scripts
echo "==> mypy"
.venv/bin/mypy
echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
