#!/usr/bin/env bash
# The whole suite: lint (ruff, ESLint), then pytest against real Redis servers the tests start
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
echo "==> eslint"
if [[ ! -x node_modules/.bin/eslint ]]; then
  echo "error: ESLint is not installed. Run: make setup (it installs it from the npm registry)." >&2
  exit 1
fi
node_modules/.bin/eslint --max-warnings 0 .
echo "==> pytest"
exec .venv/bin/python -m pytest "$@"
