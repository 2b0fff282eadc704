"""End to end: capture daemon on a simulated camera -> stream -> notifier -> mosquitto -> "Home
Assistant" (a subscriber), including its Take picture button going back to the daemon."""

from __future__ import annotations

import json

from pi import contract
from server.notify.__main__ import build_targets
from server.notify.settings import load_settings
from server.notify.worker import as_jpeg
from tests.notify_support import Subscriber


def test_home_assistant_sees_the_picture_and_motion_and_its_button_takes_a_picture(
        r, redis_url, mosquitto, run_daemon, run_notifier) -> None:
    settings = load_settings({"MQTT_URL": mosquitto.url, "MQTT_MOTION_HOLD": "30", "NOTIFY_CONSUMER": "e2e"})
    run_notifier(build_targets(settings), consumer="e2e")
    ha = Subscriber(mosquitto.port, ["homeassistant/#", "redis-pi-camera/#"])
    try:
        daemon = run_daemon(redis_url, "--interval", "3600", "--preview-fps", "0",
                            "--mqtt-url", mosquitto.url, "--mqtt-capture-commands", "1")
        first = json.loads(ha.wait_for("redis-pi-camera/testcam/event").payload)
        assert first["trigger"] == "interval" and first["camera"] == "testcam"
        ha.wait_for("redis-pi-camera/testcam/availability", b"online")
        config = ha.wait_for("homeassistant/button/redis-pi-camera_testcam_capture/config")
        button = json.loads(config.payload)

        # The user presses "Take picture" in Home Assistant.
        ha.client.publish(button["command_topic"], button["payload_press"], qos=1).wait_for_publish(2)
        message = ha.wait_for("redis-pi-camera/testcam/event")
        while json.loads(message.payload)["trigger"] != "manual":
            message = ha.wait_for("redis-pi-camera/testcam/event", after=message)
        manual = json.loads(message.payload)
        picture = ha.wait_for("redis-pi-camera/testcam/picture")
        stored = r.hget(contract.image_key(manual["id"]), contract.F_THUMBNAIL)
        # The daemon's WebP thumbnail reaches Home Assistant as a JPEG (its MQTT camera's format).
        sent = as_jpeg(stored)
        assert stored[:4] == b"RIFF" and sent[:2] == b"\xff\xd8"
        assert ha.wait_for("redis-pi-camera/testcam/picture", sent).payload == sent
        assert picture.payload[:2] == b"\xff\xd8"

        # Motion on the camera turns Home Assistant's motion sensor on.
        daemon.daemon.request_capture("motion")
        ha.wait_for("redis-pi-camera/testcam/motion", b"ON")
        assert r.hget(contract.image_key(manual["id"]), contract.F_TRIGGER) == b"manual"
    finally:
        ha.close()


def test_a_retained_capture_command_does_not_fire_on_every_connect(
        r, redis_url, mosquitto, run_daemon) -> None:
    import time

    ha = Subscriber(mosquitto.port, [])
    try:
        ha.client.publish("redis-pi-camera/testcam/capture", b"PRESS", qos=1, retain=True).wait_for_publish(2)
        daemon = run_daemon(redis_url, "--interval", "3600", "--preview-fps", "0",
                            "--mqtt-url", mosquitto.url, "--mqtt-capture-commands", "1")
        deadline = time.monotonic() + 10
        while daemon.daemon.mqtt_commands is None or not daemon.daemon.recent_ids:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(1.0)  # connected, subscribed, and the retained message delivered by now
        triggers = {r.hget(contract.image_key(i), contract.F_TRIGGER) for i in daemon.daemon.recent_ids}
        assert triggers == {b"interval"}
        ha.client.publish("redis-pi-camera/testcam/capture", b"PRESS", qos=1).wait_for_publish(2)
        while len(daemon.daemon.recent_ids) < 2:
            assert time.monotonic() < deadline + 5
            time.sleep(0.05)
        assert r.hget(contract.image_key(daemon.daemon.recent_ids[-1]), contract.F_TRIGGER) == b"manual"
    finally:
        ha.close()
