"""A bounded on-disk spool for pictures taken while Redis is unreachable.

One file per picture, named by capture time so a sorted listing is oldest first. Each is
written to a hidden temporary file, flushed to disk and renamed into place, so a crash or
power cut mid-write leaves at most a temporary file (removed at the next start), never a
half file in the listing. A file that is damaged anyway (a bad disk) is removed on read.
When the spool would pass its size limit the oldest pictures are dropped, each logged.

File format: MAGIC, a 4-byte big-endian header length, a JSON header (image id, expiry
time, the hash's text fields, the binary fields' names and lengths), then the binary fields.
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pi.contract import BINARY_FIELDS, ImageRecord

logger = logging.getLogger(__name__)

MAGIC = b"RPCSPOOL1\n"
SUFFIX = ".spool"
TMP_SUFFIX = ".tmp"
_HEADER_LEN = struct.Struct(">I")


class SpoolCorrupt(ValueError):
    """A spool file could not be read back."""


@dataclass
class SpooledImage:
    """A picture read back from the spool."""

    path: Path
    image_id: str
    expires_at: float
    record: ImageRecord

    def remaining_ttl(self, now: float | None = None) -> float:
        """Return the seconds the picture has left before its expiry (may be negative)."""
        return self.expires_at - (time.time() if now is None else now)


def encode_entry(image_id: str, record: ImageRecord, expires_at: float) -> bytes:
    """Return the bytes of a spool file for one picture."""
    fields = record.to_hash()
    text = {k: v for k, v in fields.items() if k not in BINARY_FIELDS}
    blobs = [(k, v) for k, v in fields.items() if k in BINARY_FIELDS]
    header = json.dumps({"id": image_id, "expires_at": expires_at, "fields": text,
                         "blobs": [[k, len(v)] for k, v in blobs]}).encode()
    parts = [MAGIC, _HEADER_LEN.pack(len(header)), header]
    parts.extend(v if isinstance(v, bytes) else str(v).encode() for _, v in blobs)
    return b"".join(parts)


def decode_entry(data: bytes, path: Path) -> SpooledImage:
    """Parse a spool file's bytes; raise SpoolCorrupt if they are incomplete or damaged."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _HEADER_LEN.size:
        raise SpoolCorrupt("no spool header")
    offset = len(MAGIC)
    (header_len,) = _HEADER_LEN.unpack_from(data, offset)
    offset += _HEADER_LEN.size
    try:
        header = json.loads(data[offset:offset + header_len])
        offset += header_len
        fields: dict[str, bytes | str] = dict(header["fields"])
        for name, length in header["blobs"]:
            if offset + length > len(data):
                raise SpoolCorrupt("truncated")
            fields[name] = data[offset:offset + length]
            offset += length
        if offset != len(data):
            raise SpoolCorrupt("trailing bytes")
        record = ImageRecord.from_hash(fields)
        return SpooledImage(path, str(header["id"]), float(header["expires_at"]), record)
    except (ValueError, KeyError, TypeError) as exc:
        raise SpoolCorrupt(str(exc)) from None


class Spool:
    """Pictures waiting for Redis, in a folder, oldest first, at most `max_bytes` in all."""

    def __init__(self, directory: Path | str, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.dropped = 0
        self._lock = threading.Lock()
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob("." + "*" + TMP_SUFFIX):
            logger.warning("Removing %s, a spool file whose writing was interrupted", stale.name)
            stale.unlink(missing_ok=True)
        self._sizes: dict[Path, int] = {}
        for path in sorted(self.directory.glob("*" + SUFFIX)):
            try:
                self._sizes[path] = path.stat().st_size
            except FileNotFoundError:
                continue

    def __len__(self) -> int:
        with self._lock:
            return len(self._sizes)

    @property
    def size_bytes(self) -> int:
        """Return the bytes the spooled pictures take."""
        with self._lock:
            return sum(self._sizes.values())

    def paths(self) -> list[Path]:
        """Return the spool files, oldest first."""
        with self._lock:
            return sorted(self._sizes)

    @staticmethod
    def file_name(image_id: str, timestamp: float) -> str:
        """Return the file name of a picture: capture time in ms first, so names sort by age."""
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", image_id)
        return f"{int(round(timestamp * 1000)):015d}-{safe}{SUFFIX}"

    def put(self, image_id: str, record: ImageRecord, expires_at: float) -> Path | None:
        """Write a picture durably, dropping the oldest if the spool would be too big."""
        data = encode_entry(image_id, record, expires_at)
        path = self.directory / self.file_name(image_id, record.timestamp)
        with self._lock:
            if len(data) > self.max_bytes:
                self.dropped += 1
                logger.error("Picture %s (%d bytes) is bigger than the whole spool (SPOOL_MAX_MB); "
                             "dropped it (%d dropped so far)", image_id, len(data), self.dropped)
                return None
            total = sum(self._sizes.values())
            for oldest in sorted(self._sizes):
                if total + len(data) <= self.max_bytes:
                    break
                total -= self._sizes.pop(oldest)
                oldest.unlink(missing_ok=True)
                self.dropped += 1
                logger.warning("Spool is full (%.0f MB limit): dropped the oldest spooled picture "
                               "%s (%d dropped so far)", self.max_bytes / 1e6, oldest.name, self.dropped)
            self._write_atomically(path, data)
            self._sizes[path] = len(data)
        return path

    def _write_atomically(self, path: Path, data: bytes) -> None:
        tmp = path.with_name("." + path.name + TMP_SUFFIX)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def load(self, path: Path) -> SpooledImage:
        """Read a spooled picture; raise SpoolCorrupt (and forget the file) if it's damaged."""
        try:
            return decode_entry(path.read_bytes(), path)
        except (SpoolCorrupt, OSError) as exc:
            logger.warning("Spool file %s is damaged (%s); removed it", path.name, exc)
            self.remove(path)
            raise SpoolCorrupt(str(exc)) from None

    def remove(self, path: Path) -> None:
        """Delete a spooled picture (once stored, expired or damaged)."""
        with self._lock:
            self._sizes.pop(path, None)
        path.unlink(missing_ok=True)
