"""A zip archive written as it is sent: never whole in memory, never on disk.

`stream_zip(entries)` yields the archive in pieces while it reads one picture at a time, so
a download of thousands of pictures holds about one picture in memory. Pictures are stored
(JPEG does not compress further), with a data descriptor after each, as a stream needs.
Flask-free; the archive routes (`archive.py`) feed it from Redis.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, cast

#: Bytes collected before a piece is handed to the server (waitress sends it on).
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Entry:
    """One file of the archive: its name, time (Unix seconds) and a function reading its bytes.

    `read` returns None when the picture went away meanwhile (expired or deleted): it is
    left out and named in the archive's MISSING.txt, never silently dropped.
    """

    name: str
    timestamp: float
    read: Callable[[], bytes | None]


class _Pipe:
    """A write-only, unseekable file whose writes are collected until taken."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.offset = 0

    def write(self, data: bytes) -> int:
        if data:
            self.parts.append(bytes(data))
            self.size += len(data)
            self.offset += len(data)
        return len(data)

    def tell(self) -> int:  # zipfile asks where it is; it never seeks
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts, self.size = [], 0
        return out


def _zip_time(ts: float) -> tuple[int, int, int, int, int, int]:
    t = time.gmtime(max(ts, 315532800))  # zip times start in 1980
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def stream_zip(entries: Iterable[Entry]) -> Iterator[bytes]:
    """Yield a zip archive of `entries`, piece by piece, reading each entry only when it is due."""
    pipe = _Pipe()
    missing: list[str] = []
    with zipfile.ZipFile(cast(IO[bytes], pipe), mode="w", compression=zipfile.ZIP_STORED,
                         allowZip64=True) as archive:
        for entry in entries:
            data = entry.read()
            if data is None:
                missing.append(entry.name)
                continue
            info = zipfile.ZipInfo(entry.name, date_time=_zip_time(entry.timestamp))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with archive.open(info, mode="w", force_zip64=len(data) >= 0xFFFFFFFF) as out:
                for start in range(0, len(data), CHUNK):
                    out.write(data[start:start + CHUNK])
                    if pipe.size >= CHUNK:
                        yield pipe.take()
            del data
            if pipe.size >= CHUNK:
                yield pipe.take()
        if missing:
            note = ("These pictures expired or were deleted while the archive was made:\n"
                    + "\n".join(missing) + "\n").encode()
            archive.writestr(zipfile.ZipInfo("MISSING.txt", date_time=_zip_time(time.time())), note)
    yield pipe.take()
