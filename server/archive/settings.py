"""The archiver's settings, read once from the environment and validated.

A bad value raises SettingsError with one line naming the variable and the fix; the
command prints it and exits 2. Credentials for S3 are not settings of ours: boto3 reads
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or a profile, or an instance role) itself, and
they are never logged.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pi.contract import ARCHIVE_GROUP, CAMERA_NAME_RE, DEFAULT_REDIS_URL

GB = 1024 ** 3
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
URL_FIX = "use file:///absolute/folder or s3://bucket/optional/prefix"


class SettingsError(ValueError):
    """A setting has a value the archiver can't use; the message is one line for the user."""


@dataclass(frozen=True)
class Limits:
    """Retention of one camera's pictures in the archive: 0 means no limit."""

    max_age_days: float = 0.0
    max_bytes: int = 0


@dataclass(frozen=True)
class ArchiveSettings:
    """Everything the archiver reads at start, validated."""

    archive_url: str  # never holds credentials (refused at parse time)
    scheme: str  # "file" or "s3"
    folder: Path | None = None  # file://
    bucket: str = ""  # s3://
    prefix: str = ""  # s3://, without leading or trailing "/"
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_create_bucket: bool = False
    redis_url: str = DEFAULT_REDIS_URL
    limits: Limits = field(default_factory=Limits)
    camera_limits: dict[str, Limits] = field(default_factory=dict)
    min_free_bytes: int = GB  # file://: below this much free space the archive counts as full
    group: str = ARCHIVE_GROUP
    consumer: str = "archiver"
    claim_idle: float = 60.0
    sweep_interval: float = 600.0  # the index walk (catch-up, keep) as a safety net
    retention_interval: float = 3600.0
    status_interval: float = 5.0
    max_backoff: float = 60.0
    log_level: str = "INFO"

    def limits_for(self, camera: str) -> Limits:
        """Return the retention limits of one camera."""
        return self.camera_limits.get(camera, self.limits)


def _number(name: str, text: str, *, minimum: float = 0.0, accepts: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not valid: use {accepts}.") from None
    if not value >= minimum or value == float("inf"):
        raise SettingsError(f"{name}={text!r} is not valid: use {accepts}.")
    return value


def parse_archive_url(text: str) -> dict:
    """Split ARCHIVE_URL into scheme, folder or bucket and prefix; refuse anything else."""
    parts = urlsplit(text.strip())
    if parts.username or parts.password:
        # Never echo it: it holds a secret.
        raise SettingsError("ARCHIVE_URL must not contain credentials: put them in AWS_ACCESS_KEY_ID "
                            "and AWS_SECRET_ACCESS_KEY.")
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise SettingsError(f"ARCHIVE_URL={text!r} is not valid: a folder needs an absolute path, "
                                "e.g. file:///srv/camera-archive (three slashes).")
        return {"scheme": "file", "folder": Path(parts.path)}
    if parts.scheme == "s3":
        bucket, prefix = parts.netloc, parts.path.strip("/")
        if not bucket:
            raise SettingsError(f"ARCHIVE_URL={text!r} names no bucket: use s3://bucket/optional/prefix.")
        if not BUCKET_RE.match(bucket) or ".." in bucket:
            raise SettingsError(f"ARCHIVE_URL={text!r}: {bucket!r} is not a valid bucket name (3-63 "
                                "lowercase letters, digits, '.' and '-').")
        if parts.query or parts.fragment or "//" in prefix:
            raise SettingsError(f"ARCHIVE_URL={text!r} is not valid: {URL_FIX}.")
        return {"scheme": "s3", "bucket": bucket, "prefix": prefix}
    shown = parts.scheme or text
    raise SettingsError(f"ARCHIVE_URL={text!r} has an unknown scheme ({shown!r}): {URL_FIX}.")


def _limits(name: str, text: str) -> Limits:
    """Parse "30d/50GB", "30d", "50GB" (days, and gigabytes per camera)."""
    age, size = 0.0, 0
    accepts = "days and/or gigabytes such as 30d/50GB, 7d or 20GB"
    for part in filter(None, (p.strip() for p in text.lower().split("/"))):
        if part.endswith("d"):
            age = _number(name, part[:-1], accepts=accepts)
        elif part.endswith("gb"):
            size = int(_number(name, part[:-2], accepts=accepts) * GB)
        else:
            raise SettingsError(f"{name}={text!r} is not valid: use {accepts}.")
    return Limits(age, size)


def _camera_limits(text: str) -> dict[str, Limits]:
    out = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        camera, sep, spec = item.partition("=")
        if not sep or not CAMERA_NAME_RE.match(camera.strip()):
            raise SettingsError(f"ARCHIVE_CAMERA_LIMITS={text!r} is not valid: use camera=limits pairs "
                                "separated by commas, e.g. garden=90d/200GB,porch=7d.")
        out[camera.strip()] = _limits("ARCHIVE_CAMERA_LIMITS", spec)
    return out


def load_settings(environ: Mapping[str, str] | None = None) -> ArchiveSettings:
    """Read and validate the archiver's settings from the environment."""
    env = os.environ if environ is None else environ

    def get(name: str, default: str = "") -> str:
        return (env.get(name) or default).strip()

    url = get("ARCHIVE_URL")
    if not url:
        raise SettingsError("ARCHIVE_URL is not set: set it to file:///absolute/folder or "
                            "s3://bucket/prefix (make run uses file://<REDIS_DATA_DIR>/archive, e.g. "
                            "ARCHIVE_URL=file://$PWD/redisdata/archive; see the README, "
                            "\"Archive of originals\").")
    where: dict[str, Any] = dict(parse_archive_url(url))
    endpoint = get("ARCHIVE_S3_ENDPOINT") or None
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            raise SettingsError("ARCHIVE_S3_ENDPOINT is not valid: use the S3 API's address without "
                                "credentials, e.g. http://minio:9000 or https://s3.example.com.")
    if endpoint and where["scheme"] != "s3":
        raise SettingsError("ARCHIVE_S3_ENDPOINT is set but ARCHIVE_URL is not s3://...: unset one of them.")
    create = get("ARCHIVE_S3_CREATE_BUCKET", "0").lower()
    if create not in ("0", "1", "true", "false", "yes", "no"):
        raise SettingsError(f"ARCHIVE_S3_CREATE_BUCKET={create!r} is not valid: use 1 or 0.")
    age = _number("ARCHIVE_MAX_AGE_DAYS", get("ARCHIVE_MAX_AGE_DAYS", "30"),
                  accepts="a number of days, 0 for no age limit")
    size = _number("ARCHIVE_MAX_GB_PER_CAMERA", get("ARCHIVE_MAX_GB_PER_CAMERA", "0"),
                   accepts="a number of gigabytes, 0 for no size limit")
    min_free = _number("ARCHIVE_MIN_FREE_GB", get("ARCHIVE_MIN_FREE_GB", "1"),
                       accepts="a number of gigabytes, e.g. 1 (0 to fill the disk)")
    intervals: dict[str, Any] = {
        name: _number(var, get(var, default), minimum=0.001, accepts="a number of seconds greater than 0")
        for name, var, default in (("claim_idle", "ARCHIVE_CLAIM_IDLE", "60"),
                                   ("sweep_interval", "ARCHIVE_SWEEP_INTERVAL", "600"),
                                   ("retention_interval", "ARCHIVE_RETENTION_INTERVAL", "3600"),
                                   ("status_interval", "ARCHIVE_STATUS_INTERVAL", "5"),
                                   ("max_backoff", "ARCHIVE_MAX_BACKOFF", "60"))
    }
    level = get("LOG_LEVEL", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"LOG_LEVEL={level!r} is not valid: use DEBUG, INFO, WARNING or ERROR.")
    consumer = get("ARCHIVE_CONSUMER", socket.gethostname() or "archiver")
    if not re.match(r"^[A-Za-z0-9_.:-]{1,64}$", consumer):
        raise SettingsError(f"ARCHIVE_CONSUMER={consumer!r} is not valid: use letters, digits, '.', ':', "
                            "'-' and '_' (a stable name per archiver, e.g. its host name).")
    return ArchiveSettings(
        archive_url=url, s3_endpoint=endpoint,
        s3_region=get("AWS_DEFAULT_REGION") or get("AWS_REGION") or None,
        s3_create_bucket=create in ("1", "true", "yes"), redis_url=get("REDIS_URL", DEFAULT_REDIS_URL),
        limits=Limits(age, int(size * GB)), camera_limits=_camera_limits(get("ARCHIVE_CAMERA_LIMITS")),
        min_free_bytes=int(min_free * GB), consumer=consumer, log_level=level, **intervals, **where,
    )
