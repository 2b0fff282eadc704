"""MQTT with Home Assistant discovery: each camera appears as a device with its entities.

Topics (`P` = MQTT_TOPIC_PREFIX, default redis-pi-camera; `D` = MQTT_DISCOVERY_PREFIX,
default homeassistant), all retained except `event`:

    P/status                  online / offline: the notifier itself (offline is its last will)
    P/<camera>/availability   online / offline: the camera's heartbeat
    P/<camera>/picture        the latest picture, JPEG bytes (thumbnail, or full size)
    P/<camera>/lux            light level of the latest picture, e.g. 132.5
    P/<camera>/last_capture   time of the latest picture, ISO 8601 UTC
    P/<camera>/motion         ON with a motion picture, OFF after MQTT_MOTION_HOLD seconds
    P/<camera>/event          JSON of each picture (not retained), for automations
    P/<camera>/capture        command: any payload takes a picture now (the daemon listens
                              when MQTT_CAPTURE_COMMANDS=1; see pi/mqtt_trigger.py)

Discovery configs go to `D/<component>/<unique_id>/config`, retained, and again whenever
Home Assistant announces itself on `D/status` (its birth message) or the broker
connection comes back.
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from pi.contract import F_IMAGE_DATA, F_THUMBNAIL
from pi.mqtt_trigger import capture_topic

from .rules import Rule
from .settings import MqttSettings
from .targets import Digest, Picture, RetryLater, Target, iso_time

logger = logging.getLogger(__name__)

ONLINE, OFFLINE = "online", "offline"
ON, OFF = "ON", "OFF"
PRESS = "PRESS"


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("redis-pi-camera")
    except Exception:  # not installed as a package (run from a checkout)
        return "0"


#: Who publishes the configs, as Home Assistant's discovery documentation asks.
ORIGIN = {"name": "redis-pi-camera", "sw_version": _version()}


class MqttTarget(Target):
    """Publishes each picture's state for Home Assistant, and the discovery configs."""

    name = "mqtt"

    def __init__(self, rule: Rule, settings: MqttSettings, gallery_url: str | None = None,
                 publish_timeout: float = 5.0) -> None:
        super().__init__(rule)
        self.s = settings
        self.gallery_url = gallery_url
        self.publish_timeout = publish_timeout
        self.status_topic = f"{settings.topic_prefix}/status"
        self.cameras: dict[str, bool] = {}  # camera -> does it take MQTT capture commands
        self.availability: dict[str, str] = {}
        #: What each camera's availability topic last got on this connection: a retained
        #: message stays on the broker, so the same state is not published twice in a row.
        self._availability_sent: dict[str, str] = {}
        self.motion_off_at: dict[str, float] = {}
        self._announced: dict[str, bool] = {}  # camera -> capture flag its discovery was sent with
        self._lock = threading.Lock()
        self._rediscover = threading.Event()
        self._closing = False
        self._last_reason = "not connected yet"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=settings.client_id,
                             protocol=mqtt.MQTTv311)
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            client.tls_set(ca_certs=settings.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        client.will_set(self.status_topic, OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        self.client = client

    def describe(self) -> str:
        return f"MQTT {self.s.url_shown}"

    # --- Connection (paho's network thread) ---------------------------------------------

    def start(self) -> None:
        self.client.connect_async(self.s.host, self.s.port, keepalive=30)
        self.client.loop_start()

    def close(self) -> None:
        self._closing = True
        try:
            if self.client.is_connected():
                self.client.publish(self.status_topic, OFFLINE, qos=1, retain=True).wait_for_publish(2)
        except (RuntimeError, ValueError):
            pass  # disconnected meanwhile: the broker sends the last will instead
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            reason = f"broker refused the connection: {reason_code}"
            if reason != self._last_reason:  # once, not on every reconnect attempt
                logger.error("MQTT %s refused the connection: %s (check the user and password in "
                             "MQTT_URL)", self.s.url_shown, reason_code)
            self._last_reason = reason
            return
        logger.info("MQTT connected to %s", self.s.url_shown)
        self._last_reason = "connected"
        client.publish(self.status_topic, ONLINE, qos=1, retain=True)
        client.subscribe(f"{self.s.discovery_prefix}/status", qos=1)
        self._availability_sent.clear()  # a broker restarted meanwhile may have lost them
        self._rediscover.set()

    def _on_connect_fail(self, client, userdata) -> None:
        # paho calls this inside its `except OSError`, so the error is at hand.
        error = sys.exc_info()[1]
        reason = f"cannot connect ({error or 'unreachable'})"
        if reason != self._last_reason:
            logger.warning("MQTT %s: %s; retrying", self.s.url_shown, reason)
        self._last_reason = reason

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._closing or self._last_reason.startswith("broker refused"):
            return
        self._last_reason = f"disconnected ({reason_code})"
        logger.warning("MQTT connection to %s lost (%s); reconnecting", self.s.url_shown, reason_code)

    def _on_message(self, client, userdata, message) -> None:
        if message.topic == f"{self.s.discovery_prefix}/status" and message.payload == b"online":
            logger.info("Home Assistant came online; sending the discovery configs again")
            self._rediscover.set()

    def is_connected(self) -> bool:
        return self.client.is_connected()

    def _publish(self, topic: str, payload: bytes | str, retain: bool = True) -> None:
        if not self.client.is_connected():
            raise RetryLater(f"MQTT {self.s.url_shown}: {self._last_reason}")
        try:
            info = self.client.publish(topic, payload, qos=1, retain=retain)
            info.wait_for_publish(self.publish_timeout)
        except (RuntimeError, ValueError) as exc:
            raise RetryLater(f"MQTT {self.s.url_shown}: publish failed ({exc})") from None
        if not info.is_published():
            raise RetryLater(f"MQTT {self.s.url_shown}: no acknowledgement within {self.publish_timeout:g} s")

    # --- Discovery ------------------------------------------------------------------------

    def topic(self, camera: str, leaf: str) -> str:
        return f"{self.s.topic_prefix}/{camera}/{leaf}"

    def unique_id(self, camera: str, entity: str) -> str:
        return f"{self.s.topic_prefix.replace('/', '_')}_{camera}_{entity}"

    def discovery_configs(self, camera: str, capture: bool) -> dict[str, dict]:
        """Return {discovery topic: config} for one camera's selected entities."""
        device = {"identifiers": [self.unique_id(camera, "device")], "name": camera,
                  "manufacturer": "redis-pi-camera", "model": "Raspberry Pi camera",
                  "sw_version": ORIGIN["sw_version"]}
        if self.gallery_url:
            device["configuration_url"] = f"{self.gallery_url}/?camera={camera}"
        availability = [{"topic": self.topic(camera, "availability")}, {"topic": self.status_topic}]
        common = {"device": device, "origin": ORIGIN, "availability": availability,
                  "availability_mode": "all"}
        entities: dict[str, tuple[str, dict]] = {
            "camera": ("camera", {"name": "Latest picture", "topic": self.topic(camera, "picture")}),
            "lux": ("sensor", {"name": "Light level", "state_topic": self.topic(camera, "lux"),
                               "device_class": "illuminance", "unit_of_measurement": "lx",
                               "state_class": "measurement"}),
            "last_capture": ("sensor", {"name": "Last capture", "device_class": "timestamp",
                                        "state_topic": self.topic(camera, "last_capture")}),
            "motion": ("binary_sensor", {"name": "Motion", "device_class": "motion",
                                         "state_topic": self.topic(camera, "motion"),
                                         "payload_on": ON, "payload_off": OFF,
                                         "off_delay": int(self.s.motion_hold)}),
        }
        if capture:
            entities["capture"] = ("button", {"name": "Take picture", "payload_press": PRESS,
                                              "command_topic": capture_topic(self.s.topic_prefix, camera)})
        out = {}
        for entity, (component, config) in entities.items():
            if entity not in self.s.entities:
                continue
            uid = self.unique_id(camera, entity)
            avail = availability[:1] if entity == "capture" else availability
            out[f"{self.s.discovery_prefix}/{component}/{uid}/config"] = {
                **common, "availability": avail, **config, "unique_id": uid}
        return out

    def _announce(self, camera: str) -> None:
        capture = self.cameras.get(camera, False)
        for topic, config in self.discovery_configs(camera, capture).items():
            self._publish(topic, json.dumps(config, sort_keys=True))
        if not capture and self._announced.get(camera):
            # The camera stopped taking commands: remove its button (an empty retained config).
            self._publish(f"{self.s.discovery_prefix}/button/{self.unique_id(camera, 'capture')}/config", "")
        if camera not in self._announced and camera not in self.motion_off_at:
            self._publish(self.topic(camera, "motion"), OFF)
        if camera in self.availability:  # unknown until the heartbeat check: HA shows unavailable
            self._send_availability(camera)
        self._announced[camera] = capture

    def tick(self, now: float) -> None:
        if not self.client.is_connected():
            return
        try:
            if self._rediscover.is_set():
                self._rediscover.clear()
                self._announced.clear()
            for camera in list(self.cameras):
                if self._announced.get(camera) != self.cameras[camera]:
                    self._announce(camera)
            for camera, off_at in list(self.motion_off_at.items()):
                if now >= off_at:
                    self._publish(self.topic(camera, "motion"), OFF)
                    del self.motion_off_at[camera]
        except RetryLater as exc:
            self._rediscover.set()
            logger.debug("MQTT discovery deferred: %s", exc)

    def _send_availability(self, camera: str) -> None:
        state = self.availability[camera]
        if self._availability_sent.get(camera) != state:
            self._publish(self.topic(camera, "availability"), state)
            self._availability_sent[camera] = state

    def see_camera(self, camera: str, capture: bool | None = None) -> None:
        """Note a camera (from its heartbeat or a picture); discovery is sent by the next tick."""
        if capture is None:
            capture = self.cameras.get(camera, False)
        self.cameras[camera] = capture

    # --- Messages ------------------------------------------------------------------------

    def send_picture(self, picture: Picture) -> None:
        e = picture.event
        if e.camera is None:
            return
        self.see_camera(e.camera)
        if self._announced.get(e.camera) is None and self.client.is_connected():
            self._announce(e.camera)
        entities = self.s.entities
        if "camera" in entities:
            data = picture.data(F_IMAGE_DATA if self.s.full_size else F_THUMBNAIL)
            if data:  # None once expired, or a reference hash without a thumbnail: keep the last one
                self._publish(self.topic(e.camera, "picture"), data)
        if "lux" in entities and e.lux is not None:
            self._publish(self.topic(e.camera, "lux"), f"{e.lux:g}")
        if "last_capture" in entities:
            self._publish(self.topic(e.camera, "last_capture"), iso_time(e.timestamp))
        if "motion" in entities and e.trigger == "motion":
            off_at = e.timestamp + self.s.motion_hold
            if off_at > time.time():  # a late motion picture no longer means motion now
                self._publish(self.topic(e.camera, "motion"), ON)
                self.motion_off_at[e.camera] = off_at
        self._publish(self.topic(e.camera, "event"), json.dumps(picture.payload(), sort_keys=True),
                      retain=False)

    def send_digest(self, digest: Digest) -> None:
        self._publish(self.topic(digest.camera, "event"), json.dumps(digest.payload(), sort_keys=True),
                      retain=False)

    def camera_state(self, camera: str, online: bool, changed: bool, last_seen: float | None) -> None:
        self.availability[camera] = ONLINE if online else OFFLINE
        self.see_camera(camera)
        if self.client.is_connected():
            try:
                self._send_availability(camera)
            except RetryLater:
                self._rediscover.set()  # published again with the discovery after reconnecting
        else:
            self._rediscover.set()
