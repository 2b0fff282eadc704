"""Where archived objects live: a local folder (file://) or S3-compatible storage (s3://).

Both backends offer the same small API, which the archiver, restore and (in phase 2) the
gallery's original and download routes call:

    backend.check()                          at start: reachable, bucket there, credentials good
    backend.put(key, body, content_type)     body: bytes or a binary file object (streamed)
    backend.open(key, start=None, end=None)  -> ArchiveObject: .info (size, etag, mtime, type),
                                                .start, .length, iter_chunks(), read(), close()
    backend.head(key)                        -> ObjectInfo | None
    backend.get(key)                         -> bytes (small objects: sidecars)
    backend.list(prefix, start_after=None)   -> ObjectInfo for every object, in key order
    backend.cameras()                        -> top-level folders
    backend.delete(*keys)
    backend.location(key) / key_of(location) the URL stored in the hash's `archived` field

Keys are relative, "/"-separated (see layout.py). A range read seeks (file) or sends an HTTP
Range header (S3) and streams in chunks: no whole object is ever read into memory for it.

Errors: ObjectMissing (no such object), ArchiveUnavailable (try again later: unreachable,
timeouts, 5xx), ArchiveFull (a kind of ArchiveUnavailable: disk or quota full), and
ArchiveSettingsError (the settings are wrong: missing bucket, refused credentials), whose
message is one line naming the setting and the fix.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from server.archive.settings import ArchiveSettings

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024


class ArchiveError(Exception):
    """Base of the archive's errors."""


class ObjectMissing(ArchiveError):
    """The object is not in the archive (never written, or deleted by retention)."""


class ArchiveUnavailable(ArchiveError):
    """The archive can't be used right now; try again later."""


class ArchiveFull(ArchiveUnavailable):
    """The archive's disk or quota is full."""


class ArchiveSettingsError(ArchiveError):
    """The archive settings are wrong; the message is one line naming the setting and the fix."""


@dataclass(frozen=True)
class ObjectInfo:
    """What the archive knows about one whole object."""

    key: str
    size: int
    etag: str  # quoted, usable as an HTTP ETag
    last_modified: float  # unix seconds
    content_type: str = "application/octet-stream"


class ArchiveObject:
    """An open object, or a byte range of one: stream it with iter_chunks() or read(), then close()."""

    def __init__(self, info: ObjectInfo, start: int, length: int, raw: BinaryIO) -> None:
        self.info, self.start, self.length = info, start, length
        self._raw = raw
        self._left = length

    def read(self, size: int = -1) -> bytes:
        """Read up to `size` bytes of the range (all that is left with -1)."""
        if self._left <= 0:
            return b""
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._raw.read(want)
        self._left -= len(data)
        return data

    def iter_chunks(self, chunk_size: int = CHUNK) -> Iterator[bytes]:
        """Yield the range in chunks of at most `chunk_size` bytes, then close."""
        try:
            while chunk := self.read(chunk_size):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        """Release the file or connection."""
        self._raw.close()

    def __enter__(self) -> ArchiveObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _content_type(key: str) -> str:
    ext = key.rsplit(".", 1)[-1].lower()
    return {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
            "json": "application/json", "mp4": "video/mp4"}.get(ext, "application/octet-stream")


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key:
        raise ValueError(f"invalid archive key {key!r}")
    return key


def _range(size: int, start: int | None, end: int | None) -> tuple[int, int]:
    """Return (start, length) of the inclusive byte range [start, end] clipped to the object."""
    first = 0 if start is None else start
    last = size - 1 if end is None else min(end, size - 1)
    if first < 0 or (size and first >= size) or last < first - 1:
        raise ValueError(f"range {start}-{end} is outside an object of {size} bytes")
    return first, max(0, last - first + 1)


# --- file:// ---------------------------------------------------------------------------


class FileBackend:
    """A folder: objects are files, written to a temporary name, fsynced, then renamed."""

    scheme = "file"

    def __init__(self, root: Path, min_free_bytes: int = 0) -> None:
        self.root = Path(root)
        self.min_free_bytes = min_free_bytes

    @property
    def url(self) -> str:
        return self.root.as_uri()

    def location(self, key: str) -> str:
        return (self.root / _check_key(key)).as_uri()

    def key_of(self, location: str) -> str | None:
        base = self.url.rstrip("/") + "/"
        return location[len(base):] if location.startswith(base) else None

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{secrets.token_hex(4)}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise ArchiveFull(f"the archive folder {self.root} is full") from None
            raise ArchiveSettingsError(
                f"ARCHIVE_URL: the folder {self.root} can't be written ({exc.strerror}): create it and "
                "give the archiver's user write access, or point ARCHIVE_URL at another folder.") from None

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def put(self, key: str, body: bytes | BinaryIO, content_type: str | None = None) -> ObjectInfo:
        path = self._path(key)
        size_hint = len(body) if isinstance(body, bytes | bytearray) else 0
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            if self.min_free_bytes and self.free_bytes() < self.min_free_bytes + size_hint:
                raise ArchiveFull(f"less than {self.min_free_bytes / 1024 ** 3:g} GB free in {self.root} "
                                  "(ARCHIVE_MIN_FREE_GB)")
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as out:
                if isinstance(body, bytes | bytearray):
                    out.write(body)
                else:
                    shutil.copyfileobj(body, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise ArchiveFull(f"no space left in {self.root}") from None
            raise ArchiveUnavailable(f"can't write {path}: {exc.strerror or exc}") from None
        return self._info(key, path.stat())

    def _info(self, key: str, st: os.stat_result) -> ObjectInfo:
        return ObjectInfo(key, st.st_size, f'"{st.st_size:x}-{st.st_mtime_ns:x}"', st.st_mtime,
                          _content_type(key))

    def head(self, key: str) -> ObjectInfo | None:
        try:
            return self._info(key, self._path(key).stat())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ArchiveUnavailable(f"can't read {self._path(key)}: {exc.strerror}") from None

    def open(self, key: str, start: int | None = None, end: int | None = None) -> ArchiveObject:
        path = self._path(key)
        try:
            raw = open(path, "rb")  # noqa: SIM115 (closed by ArchiveObject)
        except FileNotFoundError:
            raise ObjectMissing(key) from None
        except OSError as exc:
            raise ArchiveUnavailable(f"can't read {path}: {exc.strerror}") from None
        try:
            info = self._info(key, os.fstat(raw.fileno()))
            first, length = _range(info.size, start, end)
            raw.seek(first)
        except BaseException:
            raw.close()
            raise
        return ArchiveObject(info, first, length, raw)

    def get(self, key: str) -> bytes:
        with self.open(key) as obj:
            return obj.read()

    def delete(self, *keys: str) -> None:
        for key in keys:
            path = self._path(key)
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise ArchiveUnavailable(f"can't delete {path}: {exc.strerror}") from None
            # Remove day/month/year folders left empty, up to the camera's folder.
            parent = path.parent
            while parent != self.root and parent.parent != self.root:
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Yield every object under `prefix` (a folder, ending in "/", or ""), in key order."""
        yield from self._walk(self.root / prefix if prefix else self.root, prefix, start_after)

    def _walk(self, folder: Path, rel: str, start_after: str | None) -> Iterator[ObjectInfo]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ArchiveUnavailable(f"can't list {folder}: {exc.strerror}") from None
        for entry in entries:
            if entry.name.startswith("."):
                continue  # temporary files of writes in progress, probes
            key = rel + entry.name
            if entry.is_dir(follow_symlinks=False):
                if start_after is not None and key + "/\U0010ffff" <= start_after:
                    continue
                yield from self._walk(Path(entry.path), key + "/", start_after)
            elif start_after is None or key > start_after:
                yield self._info(key, entry.stat())

    def cameras(self) -> builtins.list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.root) if e.is_dir() and not e.name.startswith("."))
        except FileNotFoundError:
            return []


# --- s3:// -----------------------------------------------------------------------------

_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken",
               "ExpiredToken", "InvalidClientTokenId", "AuthorizationHeaderMalformed", "403"}
_FULL_CODES = {"XMinioStorageFull", "QuotaExceeded", "XMinioAdminBucketQuotaExceeded", "InsufficientStorage"}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class S3Backend:
    """An S3-compatible bucket (AWS, MinIO, Garage, Ceph RGW), through boto3.

    Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
    a profile, an instance role); they are never logged or put in messages.
    """

    scheme = "s3"

    def __init__(self, bucket: str, prefix: str = "", endpoint: str | None = None,
                 region: str | None = None, create_bucket: bool = False) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix, self.endpoint = bucket, prefix.strip("/"), endpoint
        self.region = region or "us-east-1"
        self.create_bucket = create_bucket
        config = Config(
            connect_timeout=3, read_timeout=20, retries={"max_attempts": 2, "mode": "standard"},
            s3={"addressing_style": "path"} if endpoint else None,
            # Checksums only where S3 requires them: MinIO, Garage and Ceph RGW releases that
            # predate boto3 1.36's default CRC checksums refuse them.
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        )
        self.client = boto3.client("s3", endpoint_url=endpoint, region_name=self.region, config=config)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def where(self) -> str:
        return self.endpoint or "AWS S3"

    def _full(self, key: str, *, is_prefix: bool = False) -> str:
        if not is_prefix:
            _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _rel(self, full: str) -> str:
        return full[len(self.prefix) + 1:] if self.prefix else full

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    def key_of(self, location: str) -> str | None:
        base = self.url.rstrip("/") + "/"
        return location[len(base):] if location.startswith(base) else None

    def _error(self, exc: Exception, what: str, key: str = "") -> ArchiveError:
        """Map a botocore exception to one of ours."""
        from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return ArchiveSettingsError(
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set: set them to an access key of "
                f"the archive's bucket {self.bucket} (see the README, \"Archive\").")
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _MISSING_CODES and key:
                return ObjectMissing(key)
            if code in ("NoSuchBucket",) or (code == "404" and not key):
                return ArchiveSettingsError(
                    f"ARCHIVE_URL: the bucket {self.bucket} does not exist at {self.where}: create it "
                    "(mc mb, aws s3 mb) or set ARCHIVE_S3_CREATE_BUCKET=1.")
            if code in _AUTH_CODES:
                return ArchiveSettingsError(
                    f"AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY were refused by {self.where} ({code}): set "
                    f"an access key allowed to read, write, list and delete in the bucket {self.bucket}.")
            if code in _FULL_CODES or status == 507:
                return ArchiveFull(f"{self.where} says the bucket {self.bucket} is full ({code})")
            return ArchiveUnavailable(f"{what} failed at {self.where}: {code or status}")
        return ArchiveUnavailable(f"{what} failed: {self.where} is unreachable ({type(exc).__name__})")

    def _call(self, what: str, fn, *args, key: str = "", **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, what, key) from None

    def check(self) -> None:
        try:
            self._call("listing the bucket", self.client.list_objects_v2, Bucket=self.bucket,
                       Prefix=self._full("", is_prefix=True), MaxKeys=1)
        except ArchiveSettingsError as exc:
            if not self.create_bucket or "does not exist" not in str(exc):
                raise
            kwargs: dict[str, Any] = ({} if self.region == "us-east-1"
                      else {"CreateBucketConfiguration": {"LocationConstraint": self.region}})
            self._call("creating the bucket", self.client.create_bucket, Bucket=self.bucket, **kwargs)
            logger.info("Created the bucket %s at %s", self.bucket, self.where)

    def put(self, key: str, body: bytes | BinaryIO, content_type: str | None = None) -> ObjectInfo:
        full = self._full(key)
        ctype = content_type or _content_type(key)
        if isinstance(body, bytes | bytearray):
            reply = self._call("uploading", self.client.put_object, Bucket=self.bucket, Key=full,
                               Body=bytes(body), ContentType=ctype)
            return ObjectInfo(key, len(body), reply.get("ETag", ""), 0.0, ctype)
        # Large files (time-lapse movies): multipart, streamed from the file object.
        self._call("uploading", self.client.upload_fileobj, body, self.bucket, full,
                   ExtraArgs={"ContentType": ctype})
        info = self.head(key)
        if info is None:
            raise ArchiveUnavailable(f"uploaded {key} but {self.where} does not list it")
        return info

    def _info_from(self, key: str, reply: dict, size: int | None = None) -> ObjectInfo:
        modified = reply.get("LastModified")
        return ObjectInfo(key, reply.get("ContentLength", 0) if size is None else size,
                          reply.get("ETag", ""), modified.timestamp() if modified else 0.0,
                          reply.get("ContentType") or _content_type(key))

    def head(self, key: str) -> ObjectInfo | None:
        try:
            reply = self._call("reading", self.client.head_object, Bucket=self.bucket,
                               Key=self._full(key), key=key)
        except ObjectMissing:
            return None
        return self._info_from(key, reply)

    def open(self, key: str, start: int | None = None, end: int | None = None) -> ArchiveObject:
        kwargs = {}
        if start is not None or end is not None:
            if start is None or start < 0 or (end is not None and end < start):
                raise ValueError(f"range {start}-{end} is not valid")
            kwargs["Range"] = f"bytes={start}-{'' if end is None else end}"
        reply = self._call("reading", self.client.get_object, Bucket=self.bucket, Key=self._full(key),
                           key=key, **kwargs)
        content_range = reply.get("ContentRange")  # "bytes 0-99/1234"
        size = int(content_range.rsplit("/", 1)[1]) if content_range else reply.get("ContentLength", 0)
        length = reply.get("ContentLength", 0)
        first = int(content_range.split()[1].split("-")[0]) if content_range else 0
        return ArchiveObject(self._info_from(key, reply, size), first, length, reply["Body"])

    def get(self, key: str) -> bytes:
        with self.open(key) as obj:
            return obj.read()

    def delete(self, *keys: str) -> None:
        for i in range(0, len(keys), 1000):
            chunk = keys[i:i + 1000]
            reply = self._call("deleting", self.client.delete_objects, Bucket=self.bucket,
                               Delete={"Objects": [{"Key": self._full(k)} for k in chunk], "Quiet": True})
            if reply.get("Errors"):
                first = reply["Errors"][0]
                raise ArchiveUnavailable(f"deleting {first.get('Key')} failed at {self.where}: "
                                         f"{first.get('Code')}")

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]:
        kwargs = {"Bucket": self.bucket, "Prefix": self._full(prefix, is_prefix=True) if prefix else
                  (self.prefix + "/" if self.prefix else "")}
        if start_after:
            kwargs["StartAfter"] = self._full(start_after, is_prefix=True)
        token = None
        while True:
            if token:
                kwargs["ContinuationToken"] = token
            reply = self._call("listing", self.client.list_objects_v2, **kwargs)
            for item in reply.get("Contents", []):
                key = self._rel(item["Key"])
                yield ObjectInfo(key, item["Size"], item.get("ETag", ""), item["LastModified"].timestamp(),
                                 _content_type(key))
            if not reply.get("IsTruncated"):
                return
            token = reply["NextContinuationToken"]

    def cameras(self) -> builtins.list[str]:
        base = self.prefix + "/" if self.prefix else ""
        names, token = [], None
        while True:
            kwargs = {"Bucket": self.bucket, "Prefix": base, "Delimiter": "/"}
            if token:
                kwargs["ContinuationToken"] = token
            reply = self._call("listing", self.client.list_objects_v2, **kwargs)
            names += [p["Prefix"][len(base):].rstrip("/") for p in reply.get("CommonPrefixes", [])]
            if not reply.get("IsTruncated"):
                return sorted(names)
            token = reply["NextContinuationToken"]


Backend = FileBackend | S3Backend


def open_backend(settings: ArchiveSettings) -> Backend:
    """Return the backend ARCHIVE_URL names (not checked yet: call check())."""
    if settings.scheme == "file":
        assert settings.folder is not None
        return FileBackend(settings.folder, settings.min_free_bytes)
    try:
        return S3Backend(settings.bucket, settings.prefix, settings.s3_endpoint, settings.s3_region,
                         settings.s3_create_bucket)
    except ImportError:
        raise ArchiveSettingsError("ARCHIVE_URL is s3:// but boto3 is not installed: "
                                   "pip install '.[archive]' (or pip install boto3).") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


__all__ = ["ArchiveError", "ArchiveFull", "ArchiveObject", "ArchiveSettingsError", "ArchiveUnavailable",
           "Backend", "FileBackend", "ObjectInfo", "ObjectMissing", "S3Backend", "open_backend"]
