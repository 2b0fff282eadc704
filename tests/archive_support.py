"""Real parts for the archive's tests: moto's S3 server on loopback, tiny full filesystems."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from server.archive.archiver import Archiver
from server.archive.backends import FileBackend, S3Backend
from server.archive.settings import ArchiveSettings
from server.tooling.embedded_redis import free_port

S3_ENV = {"AWS_ACCESS_KEY_ID": "archive-test", "AWS_SECRET_ACCESS_KEY": "archive-test-secret",
          "AWS_DEFAULT_REGION": "us-east-1"}


def use_test_credentials() -> None:
    """Give boto3 an access key (moto accepts any) unless the environment has one."""
    for name, value in S3_ENV.items():
        os.environ.setdefault(name, value)


class MotoS3:
    """moto's standalone S3 server in this process, on a loopback port; can stop and start again."""

    def __init__(self, port: int | None = None) -> None:
        from moto.server import ThreadedMotoServer

        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.running = False

    def start(self) -> MotoS3:
        from moto.server import ThreadedMotoServer

        use_test_credentials()
        if not self.running:
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            self._server.start()
            self.running = True
        return self

    def stop(self) -> None:
        if self.running:
            self._server.stop()
            self.running = False


class MotoProcess:
    """moto's standalone S3 server (`moto_server`) as its own process on a loopback port."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(self.port)],
            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoProcess]:
    """One moto S3 server process for the session."""
    use_test_credentials()
    server = MotoProcess()
    yield server
    server.stop()


@pytest.fixture
def s3_backend(moto_s3: MotoProcess) -> S3Backend:
    """A backend on a fresh bucket of the session's moto server, with a prefix."""
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    backend = S3Backend(bucket, "pictures", endpoint=moto_s3.endpoint, create_bucket=True)
    backend.check()
    return backend


@pytest.fixture
def file_backend(tmp_path: Path) -> FileBackend:
    return FileBackend(tmp_path / "archive", min_free_bytes=0)


@pytest.fixture(params=["file", "s3"])
def backend(request):
    """Each archive backend in turn."""
    return request.getfixturevalue(f"{request.param}_backend")


def settings_for(backend, redis_url: str, **overrides) -> ArchiveSettings:
    """Settings matching a backend object, with fast intervals for tests."""
    if isinstance(backend, FileBackend):
        where = {"archive_url": backend.url, "scheme": "file", "folder": backend.root}
    else:
        where = {"archive_url": backend.url, "scheme": "s3", "bucket": backend.bucket,
                 "prefix": backend.prefix, "s3_endpoint": backend.endpoint}
    base = ArchiveSettings(redis_url=redis_url, consumer="test-archiver", claim_idle=60.0, min_free_bytes=0,
                           sweep_interval=3600, retention_interval=3600, status_interval=0.1, max_backoff=0.5,
                           **where)
    return replace(base, **overrides)


class RunningArchiver:
    """An Archiver running in a thread until stop()."""

    def __init__(self, archiver: Archiver) -> None:
        self.archiver = archiver
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.archiver.run(self.stop_event)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(15)
        assert not self.thread.is_alive(), "the archiver did not stop within 15 s"


@contextlib.contextmanager
def tiny_filesystem(path: Path, size: str = "256k") -> Iterator[Path]:
    """Mount a small tmpfs at `path` (needs root); skip the test where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"can't mount a small tmpfs here (not root?): {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
