#!/usr/bin/env bash
# Install each picamera2 release pinned in tests/picamera2-versions.txt into
# .cache/picamera2/<version> (pip --no-deps: picamera2 is pure Python; its dependencies are
# in the dev extra, libcamera is stood in for by tests/picamera2_host). Releases already
# there are kept, so this costs nothing once done (about a second a release the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CACHE=${PICAMERA2_CACHE:-.cache/picamera2}
mkdir -p "$CACHE"
grep -v '^\s*#' tests/picamera2-versions.txt | awk 'NF {print $1}' | while read -r version; do
  [[ -f $CACHE/$version/picamera2/__init__.py ]] && continue
  echo "==> picamera2 $version into $CACHE/$version"
  rm -rf "$CACHE/.$version.partial"
  "$PY" -m pip install --quiet --no-deps --disable-pip-version-check \
    --target "$CACHE/.$version.partial" "picamera2==$version"
  mv "$CACHE/.$version.partial" "$CACHE/$version"
done
