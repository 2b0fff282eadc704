"""`python -m server.archive`: settings errors in one line (exit 2), run until SIGTERM, restore."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pi import contract
from server.archive.settings import GB, SettingsError, load_settings
from server.tooling import run_stack
from tests.archive_support import S3_ENV, MotoProcess
from tests.factories import store_image

ROOT = Path(__file__).resolve().parent.parent


def archive_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ARCHIVE_", "AWS_"))}
    return subprocess.run([sys.executable, "-m", "server.archive", *args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_exit_2(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


@pytest.mark.parametrize(("env", "names"), [
    ({}, "ARCHIVE_URL is not set"),
    ({"ARCHIVE_URL": "ftp://host/x"}, "ARCHIVE_URL"),
    ({"ARCHIVE_URL": "file://relative/folder"}, "ARCHIVE_URL"),
    ({"ARCHIVE_URL": "s3://"}, "ARCHIVE_URL"),
    ({"ARCHIVE_URL": "s3://Bad_Bucket"}, "ARCHIVE_URL"),
    ({"ARCHIVE_URL": "s3://b-1/p", "ARCHIVE_S3_ENDPOINT": "minio:9000"}, "ARCHIVE_S3_ENDPOINT"),
    ({"ARCHIVE_URL": "file:///tmp/a", "ARCHIVE_MAX_AGE_DAYS": "a month"}, "ARCHIVE_MAX_AGE_DAYS"),
    ({"ARCHIVE_URL": "file:///tmp/a", "ARCHIVE_MAX_GB_PER_CAMERA": "-1"}, "ARCHIVE_MAX_GB_PER_CAMERA"),
    ({"ARCHIVE_URL": "file:///tmp/a", "ARCHIVE_CAMERA_LIMITS": "garden:7"}, "ARCHIVE_CAMERA_LIMITS"),
    ({"ARCHIVE_URL": "file:///tmp/a", "ARCHIVE_SWEEP_INTERVAL": "0"}, "ARCHIVE_SWEEP_INTERVAL"),
])
def test_a_bad_setting_is_named_in_one_line(env, names):
    with pytest.raises(SettingsError, match=names):
        load_settings(env)


def test_credentials_in_the_archive_url_are_refused_and_never_echoed():
    result = archive_cli("run", env={"ARCHIVE_URL": "s3://AKIAXYZ:supersecret@bucket-1/prefix"})
    line = assert_one_line_exit_2(result, "ARCHIVE_URL must not contain credentials", "AWS_SECRET_ACCESS_KEY")
    assert "supersecret" not in line


def test_settings_are_parsed_into_typed_values():
    settings = load_settings({"ARCHIVE_URL": "s3://camera-archive/home/pictures",
                              "ARCHIVE_S3_ENDPOINT": "http://minio:9000", "ARCHIVE_MAX_AGE_DAYS": "14",
                              "ARCHIVE_MAX_GB_PER_CAMERA": "50",
                              "ARCHIVE_CAMERA_LIMITS": "garden=90d/200GB, porch=7d"})
    assert (settings.scheme, settings.bucket, settings.prefix) == ("s3", "camera-archive", "home/pictures")
    assert settings.limits_for("door").max_age_days == 14 and settings.limits_for("door").max_bytes == 50 * GB
    assert settings.limits_for("garden").max_bytes == 200 * GB
    assert settings.limits_for("porch").max_age_days == 7 and settings.limits_for("porch").max_bytes == 0


def test_unknown_scheme_exits_2_in_one_line():
    assert_one_line_exit_2(archive_cli("run", env={"ARCHIVE_URL": "ftp://nas/pictures"}),
                           "ARCHIVE_URL", "unknown scheme", "file:///", "s3://")


def test_a_missing_bucket_exits_2_naming_the_fix(moto_s3, redis_url):
    result = archive_cli("run", env={**S3_ENV, "REDIS_URL": redis_url, "ARCHIVE_URL": "s3://not-there/x",
                                     "ARCHIVE_S3_ENDPOINT": moto_s3.endpoint})
    assert_one_line_exit_2(result, "ARCHIVE_URL", "not-there", "does not exist", "ARCHIVE_S3_CREATE_BUCKET=1")


def test_refused_credentials_exit_2_naming_the_settings_without_the_secret(redis_url):
    # moto checks access keys when told to: none is known, so every key is refused.
    strict = MotoProcess(env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    try:
        result = archive_cli("run", env={"AWS_ACCESS_KEY_ID": "AKIAWRONG",
                                         "AWS_SECRET_ACCESS_KEY": "not-it-123", "REDIS_URL": redis_url,
                                         "ARCHIVE_URL": "s3://camera-archive",
                                         "ARCHIVE_S3_ENDPOINT": strict.endpoint})
    finally:
        strict.stop()
    line = assert_one_line_exit_2(result, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "refused")
    assert "not-it-123" not in result.stderr + result.stdout and "not-it-123" not in line


def test_the_archiver_runs_until_sigterm_and_archives_what_is_captured(r, redis_url, tmp_path):
    contract.ensure_index(r)
    folder = tmp_path / "archive"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    process = subprocess.Popen([sys.executable, "-m", "server.archive", "run"], cwd=ROOT, text=True,
                               env={**env, "REDIS_URL": redis_url, "ARCHIVE_URL": folder.as_uri()},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        image_id = store_image(r, camera="garden")
        deadline = time.monotonic() + 30
        while not r.hexists(contract.image_key(image_id), contract.F_ARCHIVED):
            assert time.monotonic() < deadline and process.poll() is None, "not archived"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert "Traceback" not in output and "Archiver stopped: 1 archived" in output
    assert len(list(folder.glob("garden/*/*/*/*.jpg"))) == 1
    assert contract.read_archive_status(r).state == "stopped"


def test_restore_command_rebuilds_one_cameras_hashes(r, redis_url, tmp_path):
    from server.archive.archiver import Archiver
    from server.archive.backends import FileBackend
    from tests.archive_support import settings_for

    contract.ensure_index(r)
    garden = store_image(r, camera="garden", timestamp=time.time() - 3 * 3600)
    store_image(r, camera="porch")
    backend = FileBackend(tmp_path / "archive")
    archiver = Archiver(settings_for(backend, redis_url), r, backend)
    import threading

    for _ in range(2):
        archiver.step(threading.Event())
    r.flushall()
    env = {"REDIS_URL": redis_url, "ARCHIVE_URL": backend.url}
    dry = archive_cli("restore", "--camera", "garden", "--since", "1d", "--dry-run", env=env)
    assert dry.returncode == 0 and "Would restore: 1 restored" in dry.stdout and r.dbsize() == 0
    done = archive_cli("restore", "--camera", "garden", "--since", "1d", env=env)
    assert done.returncode == 0, done.stderr
    assert "Restored: 1 restored" in done.stdout
    assert [k.decode() for k in r.keys("image:*")] == [contract.image_key(garden)]
    bad = archive_cli("restore", "--since", "last tuesday", env=env)
    assert bad.returncode == 2 and "is not a time" in bad.stderr and "Traceback" not in bad.stderr


def test_make_run_starts_the_archiver_on_a_folder_beside_the_redis_data(tmp_path, monkeypatch):
    monkeypatch.delenv("ARCHIVE_URL", raising=False)
    children = run_stack.children_for("redis://127.0.0.1:6399", [("garden", 5.0)], "3600",
                                      tmp_path / "redisdata" / "spool")
    (archiver,) = [c for c in children if c.name == "archiver"]
    assert archiver.argv[1:] == ["-m", "server.archive", "run"]
    assert archiver.env["ARCHIVE_URL"] == (tmp_path / "redisdata" / "archive").as_uri()
    assert archiver.env["REDIS_URL"] == "redis://127.0.0.1:6399"
    load_settings({**archiver.env})  # valid settings
