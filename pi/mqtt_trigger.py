"""Take a picture when an MQTT command arrives (Home Assistant's "Take picture" button).

With MQTT_CAPTURE_COMMANDS=1 the daemon subscribes to `<MQTT_TOPIC_PREFIX>/<camera>/capture`
on the broker of MQTT_URL; any message there takes a picture with the trigger "manual".
The notifier (server/notify) publishes the matching button to Home Assistant when the
camera's heartbeat lists the `mqtt` trigger. paho-mqtt is imported only when this is used.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from pi.redis_connection import redact_url

logger = logging.getLogger(__name__)

DEFAULT_TOPIC_PREFIX = "redis-pi-camera"


def parse_mqtt_url(text: str) -> tuple[str, int, bool, str | None, str | None]:
    """Return host, port, tls, username, password of mqtt(s)://[user[:password]@]host[:port].

    Raises ValueError with what is accepted (and never the password).
    """
    what = "a URL such as mqtt://user:password@host:1883 or mqtts://host:8883"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ValueError(what) from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(what)
    tls = parts.scheme == "mqtts"
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return parts.hostname, port or (8883 if tls else 1883), tls, user, password


def redact(url: str) -> str:
    """Return a URL with its password replaced by ***, even when the URL is malformed."""
    try:
        return redact_url(url)
    except ValueError:  # e.g. a port that is not a number
        return re.sub(r"(//[^:/@]*):[^@]*@", r"\1:***@", url)


def capture_topic(topic_prefix: str, camera: str) -> str:
    """Return the command topic that takes a picture now on a camera."""
    return f"{topic_prefix.strip('/')}/{camera}/capture"


class MqttCaptureCommands:
    """Subscribes to a camera's capture topic and calls `fire("manual")` per message."""

    def __init__(self, url: str, topic_prefix: str, camera: str, fire: Callable[[str], None]) -> None:
        self.url_shown = redact(url)
        self.host, self.port, self.tls, self.username, self.password = parse_mqtt_url(url)
        self.topic = capture_topic(topic_prefix, camera)
        self.fire = fire
        self.camera = camera
        self.received = 0
        self._client: Any = None

    def start(self) -> None:
        """Connect in the background (paho reconnects by itself) and subscribe on each connect."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"redis-pi-camera-{self.camera}",
                             protocol=mqtt.MQTTv311)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.connect_async(self.host, self.port, keepalive=30)
        client.loop_start()
        self._client = client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            logger.error("MQTT %s refused the connection: %s", self.url_shown, reason_code)
            return
        client.subscribe(self.topic, qos=1)
        logger.info("Taking a picture on each MQTT message to %s (%s)", self.topic, self.url_shown)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if message.retain:  # someone's retained command: old, and it would fire on every reconnect
            logger.warning("Ignored a retained MQTT message on %s; send capture commands without "
                           "the retain flag", message.topic)
            return
        self.received += 1
        logger.info("MQTT command on %s: taking a picture", message.topic)
        self.fire("manual")

    def close(self) -> None:
        """Disconnect and stop paho's thread."""
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
