"""docker-compose.yml (the production path) agrees with what the code expects.

No Docker engine runs here, so the file is parsed and checked, not started.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from server.tooling import embedded_redis

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_of(service: dict) -> dict[str, str]:
    return dict(item.split("=", 1) for item in service.get("environment", []))


def interpolate(text: str, env: dict[str, str]) -> str:
    """Expand ${VAR}, ${VAR:-default} and ${VAR:?error} as docker compose does."""
    def one(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise LookupError(f"{name}: {arg}")
        return arg or ""
    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, text)


def test_redis_stack_with_redisinsight_and_aof_in_redisdata(compose):
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis/redis-stack")
    ports = {interpolate(p, {}) for p in redis["ports"]}
    assert {"127.0.0.1:6379:6379", "127.0.0.1:8001:8001"} <= ports
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
    assert interpolate(env["REDIS_URL"], {"REDIS_PASSWORD": "pw"}) == "redis://:pw@redis:6379"
    port = env["GALLERY_PORT"]
    assert f"0.0.0.0:{port}:{port}" in {interpolate(p, {}) for p in gallery["ports"]}
    assert env["GALLERY_HOST"] == "0.0.0.0"
    assert gallery["depends_on"]["redis"]["condition"] == "service_healthy"
    dockerfile = (ROOT / gallery["build"]["dockerfile"]).read_text()
    assert f"EXPOSE {port}" in dockerfile
    assert '"-m", "server", "serve"' in dockerfile


def test_gallery_image_builds_the_same_assets_as_setup(compose):
    dockerfile = (ROOT / "server" / "Dockerfile").read_text()
    # The same locked packages and the same build script as `make setup`.
    assert "COPY package.json package-lock.json" in dockerfile and "npm ci" in dockerfile
    assert "bash scripts/fetch_assets.sh" in dockerfile
    assert "server/static/vendor" in dockerfile


def test_compose_is_safe_by_default_and_names_the_missing_secret(compose):
    redis, gallery = compose["services"]["redis"], compose["services"]["gallery"]
    # Without a .env, compose stops and names the setting (docker compose shows the message).
    with pytest.raises(LookupError, match="REDIS_PASSWORD in .env"):
        interpolate(env_of(redis)["REDIS_ARGS"], {})
    with pytest.raises(LookupError, match="GALLERY_PASSWORD in .env"):
        interpolate(env_of(gallery)["GALLERY_PASSWORD"], {})
    secrets = {"REDIS_PASSWORD": "s3cret", "GALLERY_PASSWORD": "pw"}
    assert "--requirepass s3cret" in interpolate(env_of(redis)["REDIS_ARGS"], secrets)
    assert interpolate(env_of(redis)["REDISCLI_AUTH"], secrets) == "s3cret"  # the healthcheck logs in
    # Redis and RedisInsight are published on loopback unless the user opts in.
    assert all(interpolate(p, {}).startswith("127.0.0.1:") for p in redis["ports"])
    opted_in = {interpolate(p, {"REDIS_BIND": "0.0.0.0"}) for p in redis["ports"]}
    assert "0.0.0.0:6379:6379" in opted_in and "127.0.0.1:8001:8001" in opted_in
    # The gallery listens beyond loopback, so its login is required.
    assert interpolate(env_of(gallery)["GALLERY_PASSWORD"], secrets) == "pw"
    assert "REDIS_PASSWORD" in (ROOT / "README.md").read_text()
