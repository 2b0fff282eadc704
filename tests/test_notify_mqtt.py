"""MQTT with Home Assistant discovery, on a real mosquitto: what Home Assistant would see."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from datetime import datetime

import pytest

from pi import contract
from server.notify.__main__ import build_targets
from server.notify.settings import load_settings
from tests.notify_support import THUMB, Mosquitto, Subscriber, store, wait_until

# Home Assistant's documented MQTT discovery keys (home-assistant.io/integrations/<component>.mqtt
# and /integrations/mqtt, "Discovery messages"), for the components we publish.
COMMON = {"availability", "availability_mode", "device", "origin", "name", "unique_id", "icon",
          "default_entity_id", "enabled_by_default", "entity_category", "qos", "encoding"}
SCHEMA = {
    "camera": {"required": {"topic"}, "optional": {"image_encoding"}},
    "sensor": {"required": {"state_topic"},
               "optional": {"device_class", "unit_of_measurement", "state_class", "value_template",
                            "expire_after", "force_update"}},
    "binary_sensor": {"required": {"state_topic"},
                      "optional": {"device_class", "payload_on", "payload_off", "off_delay",
                                   "expire_after", "value_template"}},
    "button": {"required": {"command_topic"}, "optional": {"payload_press", "retain"}},
}
DEVICE_KEYS = {"identifiers", "connections", "name", "manufacturer", "model", "sw_version", "hw_version",
               "configuration_url", "suggested_area", "via_device", "serial_number", "model_id"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}


def mqtt_env(url: str, **more: str) -> dict[str, str]:
    return {"MQTT_URL": url, "MQTT_MOTION_HOLD": "1", "NOTIFY_CONSUMER": "test", **more}


def mqtt_targets(url: str, **more: str):
    settings = load_settings(mqtt_env(url, **more))
    return build_targets(settings), settings


@pytest.fixture
def subscriber(mosquitto):
    sub = Subscriber(mosquitto.port, ["homeassistant/#", "redis-pi-camera/#"])
    yield sub
    sub.close()


def configs(sub: Subscriber) -> dict[str, dict]:
    return {m.topic: json.loads(m.payload) for m in sub.drain(0.05)
            if m.topic.startswith("homeassistant/") and m.topic.endswith("/config") and m.payload}


def test_each_camera_appears_in_home_assistant_with_documented_discovery_configs(
        r, mosquitto, subscriber, run_notifier) -> None:
    contract.save_heartbeat(r, contract.CameraStatus(camera="garden", triggers="interval,mqtt"), ttl=30)
    targets, _ = mqtt_targets(mosquitto.url, GALLERY_URL="http://gallery.test")
    run_notifier(targets)
    subscriber.wait_for("homeassistant/button/redis-pi-camera_garden_capture/config")
    found = configs(subscriber)
    assert {t.split("/")[1] for t in found} == {"camera", "sensor", "binary_sensor", "button"}
    assert len(found) == 5
    unique_ids = set()
    for topic, config in found.items():
        prefix, component, object_id, leaf = topic.split("/")
        assert prefix == "homeassistant" and leaf == "config"
        assert object_id == config["unique_id"]  # HA's best practice: <object_id> = unique_id
        schema = SCHEMA[component]
        assert schema["required"] <= set(config), topic
        assert set(config) <= COMMON | schema["required"] | schema["optional"], topic
        assert set(config["device"]) <= DEVICE_KEYS and set(config["origin"]) <= ORIGIN_KEYS
        assert config["device"]["identifiers"] == ["redis-pi-camera_garden_device"]
        assert config["device"]["configuration_url"] == "http://gallery.test/?camera=garden"
        topics = [a["topic"] for a in config["availability"]]
        assert "redis-pi-camera/garden/availability" in topics
        unique_ids.add(config["unique_id"])
    assert len(unique_ids) == 5
    by_name = {c["name"]: c for c in found.values()}
    assert by_name["Light level"]["device_class"] == "illuminance"
    assert by_name["Light level"]["unit_of_measurement"] == "lx"
    assert by_name["Last capture"]["device_class"] == "timestamp"
    assert by_name["Motion"]["device_class"] == "motion" and by_name["Motion"]["off_delay"] == 1
    assert by_name["Take picture"]["command_topic"] == "redis-pi-camera/garden/capture"
    # Configs and availability are retained, so Home Assistant gets them whenever it subscribes.
    late = Subscriber(mosquitto.port, ["homeassistant/#", "redis-pi-camera/#"])
    try:
        late.wait_for("homeassistant/sensor/redis-pi-camera_garden_lux/config", retained=True)
        late.wait_for("redis-pi-camera/garden/availability", b"online", retained=True)
        late.wait_for("redis-pi-camera/status", b"online", retained=True)
    finally:
        late.close()


def test_a_picture_updates_the_camera_lux_last_capture_and_motion_which_turns_off_after_the_hold(
        r, mosquitto, subscriber, run_notifier) -> None:
    targets, _ = mqtt_targets(mosquitto.url)
    run_notifier(targets)
    taken = time.time()
    new_id = store(r, lux=12.5, timestamp=taken)
    picture = subscriber.wait_for("redis-pi-camera/garden/picture")
    assert picture.payload == THUMB
    assert subscriber.wait_for("redis-pi-camera/garden/lux").payload == b"12.5"
    stamp = subscriber.wait_for("redis-pi-camera/garden/last_capture").payload.decode()
    assert abs(datetime.fromisoformat(stamp).timestamp() - int(taken)) < 1.01
    on = subscriber.wait_for("redis-pi-camera/garden/motion", b"ON")
    event = json.loads(subscriber.wait_for("redis-pi-camera/garden/event").payload)
    assert event["id"] == new_id and event["trigger"] == "motion"
    off = subscriber.wait_for("redis-pi-camera/garden/motion", b"OFF", timeout=5, after=on)
    assert off.timestamp - on.timestamp > 0.5  # held on for MQTT_MOTION_HOLD=1 s from the picture
    # Retained: Home Assistant starting now still gets the latest picture and light level.
    late = Subscriber(mosquitto.port, ["redis-pi-camera/garden/#"])
    try:
        assert late.wait_for("redis-pi-camera/garden/picture", retained=True).payload == THUMB
        assert late.wait_for("redis-pi-camera/garden/lux", retained=True).payload == b"12.5"
    finally:
        late.close()


def test_full_size_pictures_when_chosen(r, mosquitto, subscriber, run_notifier) -> None:
    targets, _ = mqtt_targets(mosquitto.url, MQTT_CAMERA_PICTURE="full", MQTT_ENTITIES="camera")
    run_notifier(targets)
    store(r, trigger="interval")
    assert subscriber.wait_for("redis-pi-camera/garden/picture").payload == b"\xff\xd8full\xff\xd9"
    subscriber.drain(0.3)
    assert subscriber.on("redis-pi-camera/garden/lux") == []  # not selected
    assert [t for t in configs(subscriber) if "sensor" in t] == []


def test_availability_follows_the_heartbeat(r, mosquitto, subscriber, run_notifier) -> None:
    status = contract.CameraStatus(camera="porch")
    contract.save_heartbeat(r, status, ttl=30)
    targets, _ = mqtt_targets(mosquitto.url)
    running = run_notifier(targets)
    subscriber.wait_for("redis-pi-camera/porch/availability", b"online")
    contract.clear_heartbeat(r, "porch")
    subscriber.wait_for("redis-pi-camera/porch/availability", b"offline")
    contract.save_heartbeat(r, status, ttl=30)
    online = [m for m in subscriber.drain(1.0) if m.topic == "redis-pi-camera/porch/availability"]
    assert online[-1].payload == b"online"
    running.stop()  # the notifier itself going away makes every entity unavailable
    subscriber.wait_for("redis-pi-camera/status", b"offline")


def test_discovery_is_sent_again_when_home_assistant_comes_online(
        r, mosquitto, subscriber, run_notifier) -> None:
    contract.save_heartbeat(r, contract.CameraStatus(camera="garden"), ttl=30)
    targets, _ = mqtt_targets(mosquitto.url)
    run_notifier(targets)
    topic = "homeassistant/camera/redis-pi-camera_garden_camera/config"
    subscriber.wait_for(topic)
    before = len(subscriber.on(topic))
    subscriber.client.publish("homeassistant/status", b"online", qos=1).wait_for_publish(2)
    wait_until(lambda: len(subscriber.on(topic)) > before, timeout=5)


def test_broker_outage_delays_messages_but_loses_and_repeats_none(
        r, tmp_path, run_notifier, caplog) -> None:
    broker = Mosquitto(tmp_path / "broker").start()
    try:
        targets, _ = mqtt_targets(broker.url, NOTIFY_RETRY_MAX="0.5")
        run_notifier(targets, retry_cap=0.5)
        sub = Subscriber(broker.port, ["redis-pi-camera/+/event"])
        first = store(r, trigger="interval")
        sub.wait_for("redis-pi-camera/garden/event")
        sub.close()
        broker.stop()
        during = [store(r, trigger="interval", timestamp=time.time() + i / 100) for i in range(3)]
        wait_until(lambda: r.hget(contract.notify_target_key("mqtt"), "state") == b"retrying")
        broker.start()
        sub = Subscriber(broker.port, ["redis-pi-camera/+/event"])
        try:
            wait_until(lambda: len(sub.drain(0.1)) >= 3, timeout=20)
            sub.drain(0.5)
            ids = [json.loads(m.payload)["id"] for m in sub.seen]
            assert ids == during and first not in ids
        finally:
            sub.close()
    finally:
        broker.stop()


def test_broker_with_a_password_and_the_password_is_never_logged(
        r, tmp_path, run_notifier, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    passwords = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "ha", "pa55-word"], check=True,
                   capture_output=True)
    broker = Mosquitto(tmp_path / "auth", password_file=passwords).start()
    try:
        targets, settings = mqtt_targets(f"mqtt://ha:pa55-word@127.0.0.1:{broker.port}")
        assert "pa55-word" not in repr(settings)
        good = run_notifier(targets)
        sub = Subscriber(broker.port, ["redis-pi-camera/#"], username="ha", password="pa55-word")
        try:
            store(r)
            sub.wait_for("redis-pi-camera/garden/picture")
        finally:
            sub.close()
        good.stop()
        wrong, _ = mqtt_targets(f"mqtt://ha:not-it@127.0.0.1:{broker.port}", NOTIFY_CONSUMER="other")
        run_notifier(wrong, consumer="other")
        store(r, timestamp=time.time() + 1)
        wait_until(lambda: r.hget(contract.notify_target_key("mqtt"), "state") == b"retrying")
        error = r.hget(contract.notify_target_key("mqtt"), "last_error").decode()
        assert "***" in error and "not-it" not in error
    finally:
        broker.stop()
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "pa55-word" not in logged and "not-it" not in logged
    assert "mqtt://ha:***@127.0.0.1" in logged


def test_a_picture_before_any_heartbeat_never_announces_the_camera_offline(
        r, mosquitto, subscriber, run_notifier) -> None:
    targets, _ = mqtt_targets(mosquitto.url)
    run_notifier(targets)
    store(r, trigger="interval")
    subscriber.wait_for("redis-pi-camera/garden/picture")
    contract.save_heartbeat(r, contract.CameraStatus(camera="garden"), ttl=30)
    subscriber.wait_for("redis-pi-camera/garden/availability", b"online")
    assert [m.payload for m in subscriber.on("redis-pi-camera/garden/availability")] == [b"online"]


def test_mqtts_with_a_private_ca_verifies_the_broker(r, tmp_path, run_notifier) -> None:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
            "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "broker.key",
            "-out", "broker.csr")
    (tmp_path / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.cnf", "-out", "broker.pem")
    broker = Mosquitto(tmp_path / "tls", tls=(tmp_path / "broker.pem", tmp_path / "broker.key")).start()
    try:
        url = f"mqtts://127.0.0.1:{broker.port}"
        targets, settings = mqtt_targets(url, MQTT_CA_FILE=str(tmp_path / "ca.pem"))
        assert settings.mqtt.tls
        running = run_notifier(targets)
        wait_until(lambda: targets[0].is_connected())
        running.stop()
        # Without our CA the broker's certificate is not trusted: nothing is sent to it.
        untrusted, _ = mqtt_targets(url)
        run_notifier(untrusted)
        store(r)
        wait_until(lambda: r.hget(contract.notify_target_key("mqtt"), "state") == b"retrying")
        assert not untrusted[0].is_connected()
        assert b"CERTIFICATE_VERIFY_FAILED" in r.hget(contract.notify_target_key("mqtt"), "last_error")
    finally:
        broker.stop()
