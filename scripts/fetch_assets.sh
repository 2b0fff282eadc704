#!/usr/bin/env bash
# Fetch the gallery's front-end libraries from the npm registry into server/static/vendor/
# (ignored by git). They are served by the gallery itself: no CDN at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

BULMA_VERSION=1.0.4
DEST=server/static/vendor
[[ -f $DEST/bulma-$BULMA_VERSION.min.css ]] && exit 0

if ! command -v npm >/dev/null; then
  echo "error: npm is needed once, to fetch Bulma $BULMA_VERSION from the npm registry." >&2
  echo "       Install Node.js (Debian: sudo apt-get install -y npm) and run this again." >&2
  exit 1
fi
echo "==> Fetching Bulma $BULMA_VERSION from the npm registry"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "bulma@$BULMA_VERSION" >/dev/null 2>&1)
tar -xzf "$tmp/bulma-$BULMA_VERSION.tgz" -C "$tmp" package/css/bulma.min.css package/LICENSE
mkdir -p "$DEST"
rm -f "$DEST"/bulma-*.min.css
cp "$tmp/package/css/bulma.min.css" "$DEST/bulma-$BULMA_VERSION.min.css"
cp "$tmp/package/LICENSE" "$DEST/BULMA-LICENSE"
