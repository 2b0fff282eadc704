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


def test_notifier_reads_redis_by_service_name_and_its_settings_are_the_notifiers(compose):
    from server.notify.settings import load_settings

    notifier = compose["services"]["notifier"]
    env = env_of(notifier)
    assert interpolate(env["REDIS_URL"], {"REDIS_PASSWORD": "pw"}) == "redis://:pw@redis:6379"
    assert notifier["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "notify" in notifier["profiles"]  # optional: nothing to notify without a target
    dockerfile = (ROOT / notifier["build"]["dockerfile"]).read_text()
    assert '"-m", "server.notify"' in dockerfile
    assert re.search(r"pip install .*'\.\[[a-z,]*notify[a-z,]*\]'", dockerfile)
    # Every variable passed is one the notifier reads; with the defaults filled in it starts.
    given = {"REDIS_PASSWORD": "pw", "MQTT_URL": "mqtt://mosquitto:1883"}
    settings = load_settings({k: interpolate(v, given) for k, v in env.items()})
    assert settings.targets == ("mqtt",) and settings.mqtt.host == "mosquitto"
    assert settings.redis_url == "redis://:pw@redis:6379"


def test_optional_mosquitto_in_the_mqtt_profile_with_the_notifier(compose):
    broker = compose["services"]["mosquitto"]
    assert broker["profiles"] == ["mqtt"] and "mqtt" in compose["services"]["notifier"]["profiles"]
    # Anonymous, so on loopback unless the user opts in (as Redis is).
    assert {interpolate(p, {}) for p in broker["ports"]} == {"127.0.0.1:1883:1883"}
    assert {interpolate(p, {"MQTT_BIND": "0.0.0.0"}) for p in broker["ports"]} == {"0.0.0.0:1883:1883"}
    assert "gallery" in compose["services"] and "profiles" not in compose["services"]["gallery"]


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

    env = {name: interpolate(value, {"REDIS_PASSWORD": "pw"}) for name, value in env_of(archiver).items()}
    minio_env = {name: interpolate(value, {"REDIS_PASSWORD": "pw"}) for name, value in env_of(minio).items()}
    assert env["ARCHIVE_S3_ENDPOINT"] == "http://minio:9000"
    assert env["AWS_ACCESS_KEY_ID"] == minio_env["MINIO_ROOT_USER"]
    assert env["AWS_SECRET_ACCESS_KEY"] == minio_env["MINIO_ROOT_PASSWORD"]
    gallery_url = env_of(compose["services"]["gallery"])["REDIS_URL"]
    assert env["REDIS_URL"] == interpolate(gallery_url, {"REDIS_PASSWORD": "pw"})
    settings = load_settings(env)  # the archiver would start with these
    assert settings.scheme == "s3" and settings.s3_create_bucket  # it creates its bucket
    assert archiver["depends_on"]["redis"]["condition"] == "service_healthy"
    assert archiver["depends_on"]["minio"]["condition"] == "service_healthy"
    dockerfile = (ROOT / archiver["build"]["dockerfile"]).read_text()
    assert "'.[archive]'" in dockerfile
    assert 'CMD ["python", "-m", "server.archive", "run"]' in dockerfile


def test_the_gallery_serves_archived_originals_from_the_archivers_minio_when_asked(compose):
    from server.core.settings import finalize, from_env

    gallery, archiver = compose["services"]["gallery"], compose["services"]["archiver"]
    dotenv = {"REDIS_PASSWORD": "pw", "GALLERY_PASSWORD": "g"}
    # By default the gallery has no archive: `docker compose up -d` (no MinIO) is unchanged.
    env = {name: interpolate(value, dotenv) for name, value in env_of(gallery).items()}
    assert finalize(from_env(env))[1].archive is None
    # With GALLERY_ARCHIVE_URL in .env it reads the archiver's bucket at the archiver's MinIO.
    dotenv["GALLERY_ARCHIVE_URL"] = "s3://camera-archive/originals"
    env = {name: interpolate(value, dotenv) for name, value in env_of(gallery).items()}
    archive = finalize(from_env(env))[1].archive
    theirs = {name: interpolate(value, dotenv) for name, value in env_of(archiver).items()}
    assert archive.archive_url == theirs["ARCHIVE_URL"]
    assert archive.s3_endpoint == theirs["ARCHIVE_S3_ENDPOINT"]
    assert env["AWS_ACCESS_KEY_ID"] == theirs["AWS_ACCESS_KEY_ID"]
    assert "'.[server,archive]'" in (ROOT / gallery["build"]["dockerfile"]).read_text()
