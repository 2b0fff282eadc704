"""The on-disk spool: oldest first, bounded, and safe against interrupted writes."""

from __future__ import annotations

import logging
import time

from pi.contract import ImageRecord, image_id
from pi.spool import TMP_SUFFIX, Spool
from tests.factories import make_jpeg


def record(ts: float, size: int = 0, lux: float = 12.5) -> ImageRecord:
    data = make_jpeg(64, 36, label=str(ts)) + b"\0" * size
    return ImageRecord(timestamp=ts, image_data=data, thumbnail=make_jpeg(16, 9), lux=lux,
                       camera="cam", trigger="interval", width=64, height=36,
                       exposure_time=1000, extra={"digital_gain": "1.01"})


def test_a_spooled_picture_reads_back_unchanged(tmp_path):
    spool = Spool(tmp_path, 10_000_000)
    rec = record(1700000000.123)
    new_id = image_id("cam", rec.timestamp)
    spool.put(new_id, rec, expires_at=rec.timestamp + 300)
    [path] = spool.paths()
    item = spool.load(path)
    assert item.image_id == new_id
    assert item.expires_at == rec.timestamp + 300
    assert item.record.to_hash() == rec.to_hash()


def test_pictures_come_back_oldest_first_even_after_a_restart(tmp_path):
    spool = Spool(tmp_path, 10_000_000)
    stamps = [1700000300.0, 1700000100.0, 1700000200.0, 999999999.5]
    for ts in stamps:
        spool.put(image_id("cam", ts), record(ts), ts + 60)
    reopened = Spool(tmp_path, 10_000_000)
    assert [reopened.load(p).record.timestamp for p in reopened.paths()] == sorted(stamps)
    assert len(reopened) == 4 and reopened.size_bytes == spool.size_bytes


def test_a_full_spool_drops_the_oldest_and_logs_each_drop_with_a_count(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    one = len(Spool(tmp_path / "probe", 10**9).put("cam:1-0000", record(1.0, 4000), 2.0).read_bytes())
    spool = Spool(tmp_path / "spool", max_bytes=3 * one + one // 2)
    for i in range(5):
        ts = 1700000000.0 + i
        spool.put(image_id("cam", ts), record(ts, 4000), ts + 60)
    kept = [spool.load(p).record.timestamp for p in spool.paths()]
    assert kept == [1700000002.0, 1700000003.0, 1700000004.0]
    assert spool.dropped == 2
    drops = [r.getMessage() for r in caplog.records if "dropped the oldest" in r.getMessage()]
    assert len(drops) == 2
    assert "(1 dropped so far)" in drops[0] and "(2 dropped so far)" in drops[1]
    assert spool.size_bytes <= spool.max_bytes


def test_an_interrupted_write_leaves_no_file_that_breaks_replay(tmp_path, caplog):
    spool = Spool(tmp_path, 10_000_000)
    good = record(1700000000.0)
    spool.put("cam:1700000000000-aaaa", good, time.time() + 60)
    # A power cut mid-write leaves the temporary file; a bad disk could leave a short file.
    (tmp_path / ("." + Spool.file_name("cam:1700000000500-bbbb", 1700000000.5) + TMP_SUFFIX)
     ).write_bytes(b"RPCSPOOL1\n\0\0")
    full = (tmp_path / spool.paths()[0].name).read_bytes()
    (tmp_path / Spool.file_name("cam:1699999999000-cccc", 1699999999.0)).write_bytes(full[:-100])
    caplog.set_level(logging.WARNING)
    reopened = Spool(tmp_path, 10_000_000)
    assert not list(tmp_path.glob("*" + TMP_SUFFIX))
    loaded = []
    for path in reopened.paths():
        try:
            loaded.append(reopened.load(path).image_id)
        except ValueError:
            pass
    assert loaded == ["cam:1700000000000-aaaa"]
    assert len(reopened) == 1 and "damaged" in caplog.text


def test_remaining_ttl_counts_down_from_the_capture(tmp_path):
    spool = Spool(tmp_path, 10_000_000)
    now = time.time()
    spool.put("cam:1-0001", record(now - 100), expires_at=now - 100 + 300)
    item = spool.load(spool.paths()[0])
    assert 199 <= item.remaining_ttl() <= 200
