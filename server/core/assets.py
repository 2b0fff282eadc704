"""Static files sent compressed and cached for good: WhiteNoise over a versioned copy.

At start the gallery hashes its static folder. The hash names a build folder (a copy of the
static files with a gzip and a brotli twin of each text file, made once by WhiteNoise's
Compressor) and the URL prefix `/static/v/<hash>/`. WhiteNoise serves that prefix with the
compressed twin the browser accepts (Vary: Accept-Encoding), ETags, and
`Cache-Control: max-age=31536000, immutable`: a browser fetches each file once per version.

One version for the whole folder, rather than a hash in each file name, keeps the ES
modules' relative imports (`import ... from "./api.js"`) working with no import map, which
the CSP would otherwise have to allow inline. Any change to any static file changes the
prefix, so nothing stale is ever served. Templates link with `asset_url("js/main.js")`.
Flask's own `/static/<file>` route stays (no-cache), for tools and old links.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

from flask import Flask, current_app, request
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

logger = logging.getLogger(__name__)

#: A year: the longest max-age browsers honour; `immutable` stops revalidation on reload.
MAX_AGE = 365 * 86400
#: Generated twins and editor leftovers are not part of the version.
_SKIP_SUFFIXES = (".gz", ".br", ".map", "~", ".swp")


def static_version(folder: Path) -> str:
    """Return a short hash of every file's path and bytes under `folder`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.endswith(_SKIP_SUFFIXES) or path.name.startswith("."):
            continue
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cache_root() -> Path:
    """Where built static folders live (GALLERY_ASSET_CACHE, else the user's cache folder)."""
    configured = os.environ.get("GALLERY_ASSET_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "redis-pi-camera" / "static"


def build(folder: Path, version: str, root: Path) -> Path:
    """Return the build folder for `version`, making it (copy + compressed twins) if missing."""
    target = root / version
    if (target / ".complete").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=root))
    try:
        shutil.copytree(folder, staging, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.gz", "*.br", ".*"))
        compressor = Compressor(quiet=True)
        for path in staging.rglob("*"):
            if path.is_file() and compressor.should_compress(path.name):
                for _ in compressor.compress(str(path)):
                    pass
        (staging / ".complete").write_text(version)
        try:
            staging.rename(target)
        except OSError:  # another process built it first
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("Static files %s compressed into %s", version, target)
    return target


def _headers(headers, path: str, url: str) -> None:
    headers["X-Content-Type-Options"] = "nosniff"


def init_app(app: Flask) -> None:
    """Serve the static folder under /static/v/<version>/ and add `asset_url` to templates."""
    folder = Path(app.static_folder or "static")
    version = static_version(folder)
    try:
        built = build(folder, version, cache_root())
    except OSError as exc:  # a read-only home: fall back to a temporary folder
        logger.warning("Cannot write the static cache (%s); using a temporary folder", exc)
        built = build(folder, version, Path(tempfile.gettempdir()) / "redis-pi-camera-static")
    prefix = f"/static/v/{version}/"
    app.wsgi_app = WhiteNoise(app.wsgi_app, root=str(built), prefix=prefix, max_age=MAX_AGE,  # type: ignore[method-assign]
                              allow_all_origins=False, add_headers_function=_headers,
                              immutable_file_test=lambda path, url: True)
    app.config["ASSET_VERSION"] = version

    app.jinja_env.globals["asset_url"] = asset_path


def asset_path(name: str) -> str:
    """Return the versioned URL of a static file, e.g. /static/v/3f2a9c1e0b7d/js/main.js."""
    version = current_app.config["ASSET_VERSION"]
    return f"{request.script_root}/static/v/{version}/{name.lstrip('/')}"
