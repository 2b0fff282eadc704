"""The archive's stores: a folder and a real S3 API server (moto, on loopback), same API."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import pytest

from server.archive.backends import (
    ArchiveFull,
    ArchiveSettingsError,
    ArchiveUnavailable,
    FileBackend,
    ObjectMissing,
    S3Backend,
)
from server.tooling.embedded_redis import free_port
from tests.archive_support import tiny_filesystem


def test_an_object_comes_back_byte_for_byte_with_its_size_and_type(backend):
    data = os.urandom(300_000)
    backend.put("garden/2025/11/21/21-38-58.123-3fa2.jpg", data, "image/jpeg")
    with backend.open("garden/2025/11/21/21-38-58.123-3fa2.jpg") as obj:
        assert obj.info.size == len(data) and obj.length == len(data) and obj.start == 0
        assert obj.info.content_type == "image/jpeg"
        assert obj.info.etag.startswith('"') and len(obj.info.etag) > 2
        assert b"".join(obj.iter_chunks(4096)) == data
    head = backend.head("garden/2025/11/21/21-38-58.123-3fa2.jpg")
    assert head is not None and head.size == len(data) and head.etag == obj.info.etag


def test_a_range_read_returns_exactly_those_bytes(backend):
    data = bytes(range(256)) * 1000
    backend.put("cam/a.jpg", data)
    with backend.open("cam/a.jpg", 1000, 1999) as obj:
        assert (obj.start, obj.length, obj.info.size) == (1000, 1000, len(data))
        assert obj.read() == data[1000:2000]
    with backend.open("cam/a.jpg", len(data) - 10) as tail:
        assert tail.read() == data[-10:] and tail.length == 10


def test_a_range_of_a_big_object_is_streamed_not_read_whole(backend):
    big = io.BytesIO(b"\x00" * (24 * 1024 * 1024))
    backend.put("cam/movie.mp4", big, "video/mp4")
    tracemalloc.start()
    try:
        with backend.open("cam/movie.mp4", 5 * 1024 * 1024, 9 * 1024 * 1024 - 1) as obj:
            total = sum(len(chunk) for chunk in obj.iter_chunks(64 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 4 * 1024 * 1024
    assert peak < 2 * 1024 * 1024, f"peak {peak} bytes: the range was read into memory"


def test_missing_objects_are_reported_as_missing(backend):
    assert backend.head("cam/none.jpg") is None
    with pytest.raises(ObjectMissing):
        backend.open("cam/none.jpg")


def test_listing_is_in_time_order_across_days_and_delete_removes(backend):
    keys = ["porch/2025/11/21/23-59-59.999-aaaa.jpg", "garden/2025/11/22/00-00-00.001-bbbb.json",
            "garden/2025/11/21/09-00-00.000-cccc.jpg", "garden/2025/11/22/00-00-00.001-bbbb.jpg"]
    for key in keys:
        backend.put(key, b"x" * 10)
    assert backend.cameras() == ["garden", "porch"]
    assert [o.key for o in backend.list("garden/")] == sorted(k for k in keys if k.startswith("garden/"))
    after = [o.key for o in backend.list("garden/", start_after="garden/2025/11/21/23")]
    assert after == ["garden/2025/11/22/00-00-00.001-bbbb.jpg", "garden/2025/11/22/00-00-00.001-bbbb.json"]
    backend.delete("garden/2025/11/21/09-00-00.000-cccc.jpg")
    assert [o.key for o in backend.list("garden/")][0].startswith("garden/2025/11/22/")
    assert backend.location("garden/x.jpg").endswith("/garden/x.jpg")
    assert backend.key_of(backend.location("garden/x.jpg")) == "garden/x.jpg"


def test_keys_cannot_leave_the_archive(file_backend):
    for bad in ("../escape.jpg", "/etc/passwd", "cam/../../x", ""):
        with pytest.raises(ValueError):
            file_backend.put(bad, b"x")


def test_a_full_disk_is_reported_as_full_and_leaves_no_partial_file(tmp_path):
    with tiny_filesystem(tmp_path / "small", "256k") as mount:
        backend = FileBackend(mount / "archive", min_free_bytes=0)
        backend.check()
        backend.put("cam/2025/11/21/a.jpg", b"x" * 10_000)
        with pytest.raises(ArchiveFull, match="no space left"):
            backend.put("cam/2025/11/21/b.jpg", os.urandom(600_000))
        leftovers = [p.name for p in (mount / "archive" / "cam/2025/11/21").iterdir()]
        assert leftovers == ["a.jpg"]


def test_below_the_free_space_floor_the_folder_counts_as_full(tmp_path):
    backend = FileBackend(tmp_path / "archive", min_free_bytes=10 ** 18)
    backend.check()
    with pytest.raises(ArchiveFull, match="ARCHIVE_MIN_FREE_GB"):
        backend.put("cam/a.jpg", b"x")


def test_a_folder_that_cannot_be_created_is_a_settings_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ArchiveSettingsError, match="^ARCHIVE_URL: the folder .* can't be written"):
        FileBackend(tmp_path / "file" / "archive").check()


def test_a_missing_bucket_names_the_setting_and_the_fix(moto_s3):
    backend = S3Backend("no-such-bucket-here", endpoint=moto_s3.endpoint)
    with pytest.raises(ArchiveSettingsError) as err:
        backend.check()
    assert str(err.value).startswith("ARCHIVE_URL: the bucket no-such-bucket-here does not exist")
    assert "ARCHIVE_S3_CREATE_BUCKET=1" in str(err.value)
    S3Backend("no-such-bucket-here", endpoint=moto_s3.endpoint, create_bucket=True).check()
    backend.check()  # created now


def test_an_unreachable_endpoint_is_unavailable_not_a_settings_error():
    backend = S3Backend("camera-archive", endpoint=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ArchiveUnavailable, match="unreachable"):
        backend.check()
    with pytest.raises(ArchiveUnavailable):
        backend.put("cam/a.jpg", b"x")


def test_the_archive_folder_is_plain_files_a_user_can_browse(file_backend: FileBackend):
    file_backend.put("garden/2025/11/21/21-38-58.123-3fa2.jpg", b"\xff\xd8jpeg")
    path = Path(file_backend.root, "garden", "2025", "11", "21", "21-38-58.123-3fa2.jpg")
    assert path.read_bytes() == b"\xff\xd8jpeg"
    assert file_backend.location("garden/2025/11/21/21-38-58.123-3fa2.jpg") == path.as_uri()
