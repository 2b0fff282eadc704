"""The zip stream: a valid archive, built piece by piece, reading one picture at a time."""

from __future__ import annotations

import io
import os
import zipfile

from server.gallery.zipstream import Entry, stream_zip


def test_archive_holds_every_picture_byte_for_byte_and_names_the_missing() -> None:
    datas = [os.urandom(200_000 + i) for i in range(4)]
    entries = [Entry(f"garden_{i}.jpg", 1_700_000_000 + i * 60, lambda d=d: d) for i, d in enumerate(datas)]
    entries.append(Entry("gone.jpg", 1_700_000_000, lambda: None))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(stream_zip(entries))))
    assert archive.testzip() is None
    assert archive.namelist() == [f"garden_{i}.jpg" for i in range(4)] + ["MISSING.txt"]
    assert [archive.read(f"garden_{i}.jpg") for i in range(4)] == datas
    assert archive.read("MISSING.txt").decode().splitlines()[-1] == "gone.jpg"
    assert archive.getinfo("garden_1.jpg").date_time[:3] == (2023, 11, 14)


def test_pieces_are_sent_before_later_pictures_are_read() -> None:
    reads: list[int] = []

    def reader(i: int):
        def read() -> bytes:
            reads.append(i)
            return bytes([i]) * 600_000
        return read

    stream = stream_zip(Entry(f"p{i}.jpg", 1_700_000_000, reader(i)) for i in range(50))
    first = next(stream)
    assert first and reads == [0], "the first piece must leave before the next picture is read"
    largest = max(len(piece) for piece in stream)
    assert largest < 2 * 600_000, "a piece holds about one picture, never the archive"
    assert reads == list(range(50))
