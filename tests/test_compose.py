"""docker-compose.yml (the production path) agrees with what the code expects.

No Docker engine runs here, so the file is parsed and checked, not started.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from server import embedded_redis

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_of(service: dict) -> dict[str, str]:
    return dict(item.split("=", 1) for item in service.get("environment", []))


def test_redis_stack_with_redisinsight_and_aof_in_redisdata(compose):
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis/redis-stack")
    assert {"6379:6379", "8001:8001"} <= set(redis["ports"])
    assert "./redisdata:/data" in redis["volumes"]
    assert (ROOT / "redisdata").is_dir()
    assert "--appendonly yes" in env_of(redis)["REDIS_ARGS"]


def test_memory_budget_matches_the_embedded_redis(compose):
    args = env_of(compose["services"]["redis"])["REDIS_ARGS"]
    assert f"--maxmemory {embedded_redis.DEFAULT_MAXMEMORY}" in args
    assert f"--maxmemory-policy {embedded_redis.MAXMEMORY_POLICY}" in args
    assert "ON_TIMEOUT FAIL" in env_of(compose["services"]["redis"])["REDISEARCH_ARGS"]


def test_gallery_reaches_redis_by_service_name_and_publishes_its_port(compose):
    gallery = compose["services"]["gallery"]
    env = env_of(gallery)
    assert env["REDIS_URL"] == "redis://redis:6379"
    port = env["GALLERY_PORT"]
    assert f"{port}:{port}" in gallery["ports"]
    assert env["GALLERY_HOST"] == "0.0.0.0"
    assert gallery["depends_on"]["redis"]["condition"] == "service_healthy"
    dockerfile = (ROOT / gallery["build"]["dockerfile"]).read_text()
    assert f"EXPOSE {port}" in dockerfile
    assert '"-m", "server", "serve"' in dockerfile


def test_gallery_image_gets_the_same_bulma_as_setup(compose):
    dockerfile = (ROOT / "server" / "Dockerfile").read_text()
    wanted = re.search(r"BULMA_VERSION=(\S+)", (ROOT / "scripts/fetch_assets.sh").read_text())[1]
    assert f"bulma@{wanted}" in dockerfile
    assert f"bulma-{wanted}.min.css" in dockerfile


def _interpolate(value: str) -> str:
    """Resolve ${NAME:-default} as compose does with nothing set in .env."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m[2], value)


def test_archive_profile_adds_minio_and_an_archiver_pointing_at_it(compose):
    from server.archive.settings import load_settings

    minio, archiver = compose["services"]["minio"], compose["services"]["archiver"]
    assert minio["image"].startswith("minio/minio")
    assert minio["profiles"] == archiver["profiles"] == ["archive"]  # `docker compose up -d` is unchanged
    assert minio["command"][:2] == ["server", "/data"]
    assert all(port.startswith("127.0.0.1:") for port in minio["ports"])  # S3 API and console: local only
    assert "127.0.0.1:9000:9000" in minio["ports"]
    assert any(volume.endswith(":/data") for volume in minio["volumes"])
    assert minio["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]

    env = {name: _interpolate(value) for name, value in env_of(archiver).items()}
    minio_env = {name: _interpolate(value) for name, value in env_of(minio).items()}
    assert env["ARCHIVE_S3_ENDPOINT"] == "http://minio:9000"
    assert env["AWS_ACCESS_KEY_ID"] == minio_env["MINIO_ROOT_USER"]
    assert env["AWS_SECRET_ACCESS_KEY"] == minio_env["MINIO_ROOT_PASSWORD"]
    assert env["REDIS_URL"] == env_of(compose["services"]["gallery"])["REDIS_URL"]
    settings = load_settings(env)  # the archiver would start with these
    assert settings.scheme == "s3" and settings.s3_create_bucket  # it creates its bucket
    assert archiver["depends_on"]["redis"]["condition"] == "service_healthy"
    assert archiver["depends_on"]["minio"]["condition"] == "service_healthy"
    dockerfile = (ROOT / archiver["build"]["dockerfile"]).read_text()
    assert "'.[archive]'" in dockerfile
    assert 'CMD ["python", "-m", "server.archive", "run"]' in dockerfile
