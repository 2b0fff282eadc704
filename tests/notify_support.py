"""Real parts for the notifier's tests: a mosquitto broker, an HTTP receiver, an MQTT subscriber."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from pi import contract
from server.notify.worker import Notifier
from server.tooling.embedded_redis import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Mosquitto:
    """Debian's mosquitto on a free loopback port, its config in a temporary folder."""

    def __init__(self, directory: Path, password_file: Path | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.directory = directory
        self.port = free_port()
        self.password_file = password_file
        self.tls = tls  # (certificate, key): the listener speaks TLS only
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "persistence false"]
        if os.geteuid() == 0:  # started as root, mosquitto would become `mosquitto` and lose tmp access
            lines.append("user root")
        if self.tls is not None:
            lines += [f"certfile {self.tls[0]}", f"keyfile {self.tls[1]}"]
        if self.password_file is None:
            lines.append("allow_anonymous true")
        else:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        conf.write_text("\n".join(lines) + "\n")
        self.log = open(self.directory / "mosquitto.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        import socket
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError((self.directory / "mosquitto.log").read_text()) from None
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)
        self.log.close()


class Subscriber:
    """An MQTT client that records every message, as Home Assistant would subscribe."""

    def __init__(self, url_port: int, topics: list[str], username: str | None = None,
                 password: str | None = None) -> None:
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.seen: list[mqtt.MQTTMessage] = []
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{time.monotonic_ns()}")
        if username:
            self.client.username_pw_set(username, password)
        self.topics = topics

        def on_connect(client, userdata, flags, reason_code, properties):
            for topic in topics:
                client.subscribe(topic, qos=1)
            self.connected.set()

        self.client.on_connect = on_connect
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.connect("127.0.0.1", url_port)
        self.client.loop_start()
        assert self.connected.wait(5)
        time.sleep(0.2)  # the SUBACKs

    def wait_for(self, topic: str, payload: bytes | None = None, timeout: float = 10.0,
                 retained: bool | None = None, after: mqtt.MQTTMessage | None = None) -> mqtt.MQTTMessage:
        """Return the first message (seen or new, later than `after`) on `topic` (with `payload`)."""
        deadline = time.monotonic() + timeout
        while True:
            start = 0 if after is None else self.seen.index(after) + 1
            for message in self.seen[start:]:
                if message.topic == topic and (payload is None or message.payload == payload) \
                        and (retained is None or bool(message.retain) == retained):
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                topics = sorted({m.topic for m in self.seen})
                raise AssertionError(f"no message on {topic} (payload {payload!r}); saw {topics}")
            try:
                self.seen.append(self.messages.get(timeout=min(left, 0.2)))
            except queue.Empty:
                pass

    def drain(self, seconds: float = 0.3) -> list[mqtt.MQTTMessage]:
        """Collect what arrives within `seconds`; return all seen so far."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.seen.append(self.messages.get(timeout=left))
            except queue.Empty:
                break
        return self.seen

    def on(self, topic: str) -> list[mqtt.MQTTMessage]:
        return [m for m in self.drain(0.05) if m.topic == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def clear_retained(port: int) -> None:
    """Delete every retained message on a broker (an empty retained payload deletes one)."""
    sweeper = Subscriber(port, ["#"])
    for message in sweeper.drain(0.3):
        if message.retain and message.payload:
            sweeper.client.publish(message.topic, b"", qos=1, retain=True).wait_for_publish(2)
    sweeper.close()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """A real HTTP server in the test process: records POSTs, answers `statuses` in turn, then 200."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    attempts: int = 0

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.attempts += 1
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                if status == 200:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} requests received, wanted {count}")
            time.sleep(0.02)
        return self.received

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


THUMB = b"\xff\xd8\xff\xe0thumbnail-bytes\xff\xd9"


def store(r, camera: str = "garden", trigger: str = "motion", lux: float | None = 12.5,
          timestamp: float | None = None) -> str:
    """Store a picture as the capture daemon does (hash + stream entry); return its id."""
    timestamp = time.time() if timestamp is None else timestamp
    record = contract.ImageRecord(timestamp=timestamp, image_data=b"\xff\xd8full\xff\xd9", camera=camera,
                                  trigger=trigger, lux=lux, thumbnail=THUMB)
    new_id = contract.image_id(camera, timestamp)
    contract.save_image(r, record, 3600, new_id)
    return new_id


class Running:
    """A Notifier running in a thread, as `python -m server.notify` runs it."""

    def __init__(self, r, targets, **kwargs) -> None:
        kwargs.setdefault("consumer", "test")
        kwargs.setdefault("retry_cap", 0.2)
        kwargs.setdefault("block", 0.05)
        kwargs.setdefault("heartbeat_check", 0.1)
        self.notifier = Notifier(r, targets, stop=threading.Event(), **kwargs)
        self.thread = threading.Thread(target=self.notifier.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.notifier.stop.set()
        self.thread.join(5)
        assert not self.thread.is_alive()


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
