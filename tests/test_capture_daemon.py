"""The capture daemon end to end on the simulated camera, against a real Redis with search."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from PIL import Image

from pi.contract import (
    CAMERAS_KEY,
    METADATA_FIELDS,
    STREAM_KEY,
    ImageRecord,
    camera_key,
    id_from_key,
)
from pi.thumbnails import THUMBNAIL_MAX_BYTES
from tests.helpers import wait_until

REPO = Path(__file__).resolve().parent.parent


def image_keys(r) -> list[str]:
    return sorted(k.decode() for k in r.scan_iter("image:*"))


def test_daemon_stores_complete_hashes_with_ttl_stream_entry_and_heartbeat(r, redis_url, run_daemon):
    d = run_daemon(redis_url, "--interval", "0.2", "--expiry", "300")
    wait_until(lambda: len(image_keys(r)) >= 3, 10.0)
    status = r.hgetall(camera_key("testcam"))  # read while running: a clean stop removes it
    heartbeat_ttl = r.ttl(camera_key("testcam"))
    d.stop()
    assert d.error is None
    assert not r.exists(camera_key("testcam"))
    keys = image_keys(r)
    assert {f"image:{i}" for i in d.daemon.recent_ids} == set(keys)
    for key in keys:
        h = r.hgetall(key)
        fields = {k.decode() for k in h}
        # All but the two a near-duplicate has (issue 9).
        expected = set(METADATA_FIELDS) - {"unchanged_since", "same_as"}
        assert expected <= fields, expected - fields
        assert "digital_gain" in fields and "focus_fom" in fields
        rec = ImageRecord.from_hash(h)
        assert rec.image_data.startswith(b"\xff\xd8") and rec.size_bytes == len(rec.image_data)
        assert (rec.camera, rec.trigger, rec.width, rec.height) == ("testcam", "interval", 320, 180)
        with Image.open(io.BytesIO(rec.image_data)) as img:
            assert img.size == (320, 180)
        with Image.open(io.BytesIO(rec.thumbnail)) as thumb:
            assert thumb.width <= 320 and thumb.height <= 320
        assert len(rec.thumbnail) <= THUMBNAIL_MAX_BYTES
        assert rec.lux is not None and rec.exposure_time > 0 and rec.analogue_gain >= 1
        assert 290 < r.ttl(key) <= 300
    announced = [entry[b"id"].decode() for _, entry in r.xrange(STREAM_KEY)]
    assert announced == [id_from_key(k) for k in keys]
    assert status[b"last_id"].decode() in announced
    assert status[b"triggers"] == b"interval"
    assert 0 < heartbeat_ttl <= 30
    assert r.zscore(CAMERAS_KEY, "testcam") is not None


def test_the_reference_readme_search_examples_find_the_pictures(r, redis_url, run_daemon):
    d = run_daemon(redis_url, "--interval", "0.2")
    wait_until(lambda: len(image_keys(r)) >= 2, 10.0)
    d.stop()
    keys = image_keys(r)
    total, *rows = r.execute_command(
        "FT.SEARCH", "idx:images", "*", "RETURN", "3", "timestamp", "mime_type", "lux",
        "SORTBY", "timestamp", "DESC", "LIMIT", "0", "9")
    assert total == len(keys)
    assert sorted(k.decode() for k in rows[0::2]) == keys
    assert rows[1][rows[1].index(b"mime_type") + 1] == b"image/jpeg"
    lux = float(r.hget(keys[0], "lux"))
    total, *_ = r.execute_command(
        "FT.SEARCH", "idx:images", f"@lux:[{lux - 0.05} {lux + 0.05}]", "RETURN", "3",
        "timestamp", "mime_type", "lux", "SORTBY", "timestamp", "DESC", "LIMIT", "0", "9")
    assert total >= 1
    total, *_ = r.execute_command("FT.SEARCH", "idx:images", "@camera:{testcam} @trigger:{interval}")
    assert total == len(keys)


def run_capture(*args: str, url: str, tmp_path: Path, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "capture.py", "--once", "--camera-backend", "simulated", "--resolution",
         "640x360", "--camera-name", "oncecam", "--spool-dir", str(tmp_path / "spool"),
         "--env-file", "", *args],
        cwd=cwd or REPO / "pi", env={"PATH": "/usr/bin:/bin", "REDIS_URL": url},
        capture_output=True, text=True, timeout=60)


def test_once_from_inside_pi_takes_one_picture_stores_it_and_exits_0(r, redis_url, tmp_path):
    result = run_capture(url=redis_url, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    [key] = image_keys(r)
    assert key.startswith("image:oncecam:")
    assert r.hget(key, "trigger") == b"manual"
    assert f"Stored {key} (" in result.stderr and " ms" in result.stderr


def test_once_with_redis_down_spools_the_picture_and_says_so(tmp_path):
    from server.tooling.embedded_redis import free_port
    url = f"redis://127.0.0.1:{free_port()}"
    result = run_capture(url=url, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "spooled" in result.stderr and "Traceback" not in result.stderr
    assert len(list((tmp_path / "spool").glob("*.spool"))) == 1


def test_a_redis_without_search_is_a_clear_fatal_error(redis_factory, tmp_path):
    server = redis_factory(with_search=False)
    result = run_capture(url=server.url, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "no search module" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_wrong_password_is_a_clear_fatal_error(redis_url, r, tmp_path):
    r.config_set("requirepass", "right")
    try:
        bad = redis_url.replace("redis://", "redis://default:wrong@")
        result = run_capture(url=bad, tmp_path=tmp_path)
    finally:
        r.execute_command("AUTH", "right")
        r.config_set("requirepass", "")
    assert result.returncode == 1
    assert "refused the credentials" in result.stderr
    assert "wrong" not in result.stderr  # the password is never printed


def test_an_unusable_spool_dir_is_a_bad_setting_that_systemd_does_not_restart(redis_url, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_capture("--spool-dir", str(blocker / "spool"), url=redis_url, tmp_path=tmp_path)
    assert result.returncode == 2  # RestartPreventExitStatus=2 in pi/capture.service
    assert "SPOOL_DIR=" in result.stderr and "Fix:" in result.stderr and "Traceback" not in result.stderr
