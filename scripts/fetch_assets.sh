#!/usr/bin/env bash
# Build the gallery's front-end assets into server/static/vendor/ (ignored by git) from the
# packages scripts/setup.sh installed from the npm registry (package-lock.json):
#   - bulma-gallery.min.css: only the Bulma modules the gallery uses (server/static/scss/),
#     compiled by Sass;
#   - photoswipe/: PhotoSwipe 5's ES modules and CSS, for the full-screen viewer.
# They are served by the gallery itself (compressed, cached for good): no CDN at run time.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=server/static/vendor
SCSS=server/static/scss/bulma-gallery.scss
CSS=$DEST/bulma-gallery.min.css
if [[ ! -d node_modules/bulma || ! -d node_modules/photoswipe || ! -x node_modules/.bin/sass ]]; then
  echo "error: the front-end packages are missing. Run: make setup (it installs them with npm ci)." >&2
  exit 1
fi
mkdir -p "$DEST"
if [[ ! -f $CSS || $SCSS -nt $CSS || package-lock.json -nt $CSS ]]; then
  echo "==> Building $CSS (Bulma's Sass modules the gallery uses)"
  node_modules/.bin/sass --no-source-map --style=compressed --quiet-deps --load-path=node_modules \
    "$SCSS" "$CSS.tmp"
  mv "$CSS.tmp" "$CSS"
  cp node_modules/bulma/LICENSE "$DEST/BULMA-LICENSE"
fi
if [[ ! -f $DEST/photoswipe/photoswipe.esm.min.js || package-lock.json -nt $DEST/photoswipe/photoswipe.esm.min.js ]]; then
  echo "==> Copying PhotoSwipe into $DEST/photoswipe"
  mkdir -p "$DEST/photoswipe"
  cp node_modules/photoswipe/dist/photoswipe.esm.min.js node_modules/photoswipe/dist/photoswipe.css \
    node_modules/photoswipe/LICENSE "$DEST/photoswipe/"
fi
rm -f "$DEST"/bulma-1.*.min.css  # the whole of Bulma, fetched by earlier versions
