"""Shared fixtures: real Redis servers with the search module, started by the session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pi.redis_connection import connect
from server.embedded_redis import EmbeddedRedis, free_port

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One throw-away Redis with the search module for the session, on a free port."""
    server = EmbeddedRedis(data_dir=tmp_path_factory.mktemp("redis"), port=free_port(), maxmemory="0")
    with server:
        yield server


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> Iterator[str]:
    """The session server's URL, emptied and reset to defaults before each test."""
    client = redis_server.client()
    client.flushall()
    client.config_set("maxmemory", "0")
    client.config_set("maxmemory-policy", "volatile-ttl")
    client.close()
    yield redis_server.url


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    """A client (as the app makes them) for the emptied session server."""
    client = connect(redis_url)
    yield client
    client.close()


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator:
    """Start private Redis servers a test may stop, kill or restart; all stopped at the end."""
    started: list[EmbeddedRedis] = []

    def make(**kwargs) -> EmbeddedRedis:
        kwargs.setdefault("data_dir", tmp_path / f"redis{len(started)}")
        kwargs.setdefault("port", free_port())
        server = EmbeddedRedis(**kwargs)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests write screenshots and other files for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def chromium_available() -> bool:
    """Tell whether Debian's Chromium is installed for the browser tests."""
    return shutil.which(CHROMIUM) is not None


def pytest_report_header(config: pytest.Config) -> str:
    if chromium_available():
        return f"browser tests: {CHROMIUM}"
    return f"browser tests: SKIPPED, {CHROMIUM} is not installed (apt-get install chromium)"
