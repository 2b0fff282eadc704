"""Helpers for the live-view tests (no tests here): stamped preview frames, a simulated
camera publishing them, and an MJPEG client that reads parts the way a browser does.

The gallery is served from a thread by tests.browser.ServerThread."""

from __future__ import annotations

import http.client
import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from PIL import Image, ImageDraw

from pi.contract import CameraStatus, preview_channel, save_heartbeat
from pi.redis_connection import connect
from server import live


def with_comment(jpeg: bytes, payload: bytes) -> bytes:
    """Return the JPEG with a COM segment carrying `payload` right after SOI (still a JPEG)."""
    return jpeg[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def stamp(jpeg: bytes, text: str) -> bytes:
    """Return the JPEG with a COM segment carrying `text` right after SOI (still a JPEG)."""
    return with_comment(jpeg, text.encode())


STAMP_RE = re.compile(rb"\xff\xfe..seq=(\d+) t=([0-9.]+)", re.S)


def read_stamp(jpeg: bytes) -> tuple[int, float] | None:
    """Return (seq, publish time) from a stamped frame, or None."""
    match = STAMP_RE.search(jpeg[:200])
    return (int(match.group(1)), float(match.group(2))) if match else None


def card_jpeg(index: int, width: int = 320, height: int = 180, pad: int = 0) -> bytes:
    """Return a JPEG that looks different for each index (a moving bar and a number)."""
    img = Image.new("RGB", (width, height), (30 + 20 * (index % 8), 60, 90))
    draw = ImageDraw.Draw(img)
    x = (index * 37) % width
    draw.rectangle([x, 0, x + width // 8, height], fill=(240, 200, 40))
    draw.text((10, 10), f"frame {index}", fill=(255, 255, 255), font_size=24)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    data = buf.getvalue()
    if pad:
        # A COM segment of noise makes a frame as big as a real camera's.
        filler = bytes((i * 7919) % 251 for i in range(min(pad, 65000)))
        data = with_comment(data, filler)
    return data


class SimulatedCamera:
    """Publishes preview frames as the capture daemon does: only while NUMSUB > 0.

    Also keeps the camera's heartbeat hash alive so the gallery lists it.
    """

    def __init__(self, redis_url: str, camera: str = "livecam", fps: float = 10.0,
                 width: int = 320, height: int = 180, pad: int = 0, cards: int = 8) -> None:
        self.camera = camera
        self.channel = preview_channel(camera)
        self.interval = 1.0 / fps
        self.client = connect(redis_url)
        self.cards = [card_jpeg(i, width, height, pad) for i in range(cards)]
        self.published: list[tuple[int, float]] = []  # (seq, publish time)
        self.published_bytes = 0
        self.numsub_checks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def heartbeat(self, ttl: int = 60) -> None:
        """Write the camera's heartbeat (as the daemon does)."""
        status = CameraStatus(camera=self.camera, host="test-pi", started_at=time.time())
        save_heartbeat(self.client, status, ttl)

    def start(self) -> SimulatedCamera:
        self.heartbeat()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"sim-{self.camera}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self.client.close()

    @property
    def count(self) -> int:
        return len(self.published)

    def _run(self) -> None:
        seq = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.numsub_checks += 1
                watchers = self.client.pubsub_numsub(self.channel)[0][1]
                if watchers:
                    seq += 1
                    now = time.time()
                    frame = stamp(self.cards[seq % len(self.cards)], f"seq={seq} t={now:.6f}")
                    self.client.publish(self.channel, frame)
                    self.published.append((seq, now))
                    self.published_bytes += len(frame)
            except redis.ConnectionError:
                pass  # the daemon just pauses previews while Redis is away
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> SimulatedCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def numsub(client: redis.Redis, camera: str) -> int:
    """Return how many subscriptions a camera's preview channel has."""
    return int(client.pubsub_numsub(preview_channel(camera))[0][1])


class MjpegClient:
    """Reads an MJPEG stream part by part, like a browser's <img> does."""

    def __init__(self, base_url: str, path: str, rcvbuf: int | None = None,
                 timeout: float = 10.0) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        if rcvbuf:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(timeout)
            sock.connect((host, int(port)))
            self.conn.sock = sock
        self.conn.request("GET", path)
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.content_type = self.response.getheader("Content-Type", "")
        self.bytes_read = 0
        if self.status == 200:
            self._expect_boundary()

    def _line(self) -> bytes:
        line = self.response.readline()
        if not line:
            raise EOFError("stream ended")
        self.bytes_read += len(line)
        return line

    def _expect_boundary(self) -> None:
        line = self._line()
        while line in (b"\r\n", b"\n"):
            line = self._line()
        if not line.startswith(b"--"):
            raise ValueError(f"expected a boundary, got {line[:60]!r}")

    def read_part(self) -> tuple[dict[str, str], bytes]:
        """Return the next part's headers and body."""
        headers: dict[str, str] = {}
        while True:
            line = self._line().strip()
            if not line:
                break
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        data = self.response.read(int(headers["content-length"]))
        self.bytes_read += len(data)
        self._expect_boundary()
        return headers, data

    def close(self) -> None:
        """Close the connection, as a browser does when the tab closes."""
        self.response.close()
        self.conn.close()

    def __enter__(self) -> MjpegClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_app(redis_url: str, **config: Any) -> Any:
    """Return a gallery app for `redis_url` with test settings and `config` on top."""
    from server import create_app

    settings = {"REDIS_URL": redis_url, "TESTING": True, "SECRET_KEY": "live-tests"}
    settings.update(config)
    return create_app(settings)


@contextmanager
def live_app(redis_url: str, **config: Any) -> Iterator[Any]:
    """Yield make_app(redis_url, **config); its live hub is stopped at the end of the block."""
    app = make_app(redis_url, **config)
    try:
        yield app
    finally:
        live.get_hub(app).stop()
