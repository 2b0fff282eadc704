"""Notification targets: what each one is told, and the two HTTP ones (webhook, ntfy).

A target's `send_*` methods either return (delivered), raise RetryLater (the notifier
keeps the stream position and tries again after a backoff) or Rejected (the receiver
refused this one message for good: it is recorded as the target's last error and skipped,
so one bad message can't block the others forever).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlencode, urlsplit

from pi.contract import CheckedStreamEntry

from .rules import Rule

logger = logging.getLogger(__name__)

USER_AGENT = "redis-pi-camera-notifier"
SIGNATURE_HEADER = "X-Camera-Signature"
DELIVERY_HEADER = "X-Camera-Delivery"
EVENT_HEADER = "X-Camera-Event"


class RetryLater(Exception):
    """The target is unreachable or busy; try the same message again later."""


class Rejected(Exception):
    """The target refused this message for good (e.g. HTTP 400); don't send it again."""


def iso_time(timestamp: float) -> str:
    """Return a Unix time as ISO 8601 UTC with an offset (what Home Assistant's timestamp wants)."""
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="seconds")


def fmt_window(seconds: float) -> str:
    """Return a window length for people: 45 s, 5 min, 2 h."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


@dataclass
class Links:
    """URLs of the gallery (GALLERY_URL) for a picture, or None when it is not set."""

    base: str | None

    def detail(self, image_id: str) -> str | None:
        return f"{self.base}/?{urlencode({'image': image_id})}" if self.base else None

    def thumbnail(self, image_id: str) -> str | None:
        return f"{self.base}/api/images/{quote(image_id, safe=':')}/thumbnail" if self.base else None

    def camera(self, camera: str, since: float | None = None, until: float | None = None) -> str | None:
        if not self.base:
            return None
        query = {"camera": camera}
        if since is not None and until is not None:
            query.update(since=str(int(since)), until=str(int(until) + 1))
        return f"{self.base}/?{urlencode(query)}"


@dataclass
class Picture:
    """One picture to notify about: its stream entry, and its bytes loaded on demand."""

    stream_id: str
    event: CheckedStreamEntry
    load: Callable[[str], bytes | None]  # hash field -> bytes (None once the picture expired)
    links: Links
    _cache: dict[str, bytes | None] = field(default_factory=dict)

    def data(self, field_name: str) -> bytes | None:
        if field_name not in self._cache:
            self._cache[field_name] = self.load(field_name)
        return self._cache[field_name]

    def describe(self) -> str:
        e = self.event
        lux = "" if e.lux is None else f", {e.lux:g} lx"
        return f"{e.trigger or 'new'} picture on {e.camera or 'a camera'}{lux}"

    def payload(self) -> dict:
        e = self.event
        return {"event": "picture", "id": e.image_id, "camera": e.camera, "trigger": e.trigger,
                "lux": e.lux, "timestamp": e.timestamp, "time": iso_time(e.timestamp),
                "url": self.links.detail(e.image_id), "thumbnail_url": self.links.thumbnail(e.image_id)}


@dataclass
class Digest:
    """Several pictures of one camera collected over a window, told as one message."""

    camera: str
    count: int
    first: float  # picture times
    last: float
    last_id: str
    triggers: dict[str, int]
    window: float
    links: Links
    load: Callable[[str], bytes | None]

    def text(self) -> str:
        kinds = sorted(self.triggers.items(), key=lambda kv: (-kv[1], kv[0]))
        word = "picture" if self.count == 1 else "pictures"
        if len(kinds) == 1:
            what = f"{self.count} {kinds[0][0]} {word}"
        else:
            what = f"{self.count} {word} ({', '.join(f'{n} {k}' for k, n in kinds)})"
        return f"{what} on {self.camera} in the last {fmt_window(self.window)}"

    def payload(self) -> dict:
        return {"event": "digest", "camera": self.camera, "count": self.count, "triggers": self.triggers,
                "since": iso_time(self.first), "until": iso_time(self.last), "text": self.text(),
                "latest_id": self.last_id, "url": self.links.camera(self.camera, self.first, self.last),
                "thumbnail_url": self.links.thumbnail(self.last_id)}


class Target:
    """The interface the notifier drives; subclasses override what they support."""

    name = "target"

    def __init__(self, rule: Rule) -> None:
        self.rule = rule

    def start(self) -> None:
        """Connect or prepare; must not block for long."""

    def close(self) -> None:
        """Disconnect."""

    def describe(self) -> str:
        """Return where this target sends, with no secret in it."""
        return self.name

    def send_picture(self, picture: Picture) -> None:
        raise NotImplementedError

    def send_digest(self, digest: Digest) -> None:
        raise NotImplementedError

    def camera_state(self, camera: str, online: bool, changed: bool, last_seen: float | None) -> None:
        """Tell that a camera is online or offline; `changed` is False on first sight."""

    def see_camera(self, camera: str, capture: bool | None = None) -> None:
        """Note a camera from its heartbeat; `capture` tells whether it takes MQTT commands."""

    def tick(self, now: float) -> None:
        """Do timed work (the MQTT motion sensor's hold time, republishing discovery)."""


# --- HTTP ----------------------------------------------------------------------------------


def host_of(url: str) -> str:
    """Return a URL cut to its scheme and host, for logs and the status hash.

    The rest may be a secret: an ntfy topic anyone could subscribe to, the token in a
    Discord or Slack webhook's path, a password before the host.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(a URL)"
    return f"{parts.scheme}://{host}{port}/…"


def http_send(url: str, body: bytes, headers: dict[str, str], timeout: float, what: str,
              shown: str | None = None) -> int:
    """POST `body`; return the status, or raise RetryLater / Rejected (no secret in the message)."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"User-Agent": USER_AGENT, **headers})
    shown = shown or host_of(url)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only)
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise RetryLater(f"{what} {shown} answered HTTP {exc.code}") from None
        raise Rejected(f"{what} {shown} refused the message: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise RetryLater(f"{what} {shown} unreachable: {reason}") from None


def sign(secret: str, body: bytes) -> str:
    """Return the signature header's value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookTarget(Target):
    """POSTs JSON to WEBHOOK_URL, signed with WEBHOOK_SECRET (HMAC-SHA256 of the raw body)."""

    name = "webhook"

    def __init__(self, rule: Rule, url: str, secret: str | None, timeout: float = 10.0) -> None:
        super().__init__(rule)
        self.url, self.secret, self.timeout = url, secret, timeout

    def describe(self) -> str:
        return f"webhook {host_of(self.url)}" + (" (signed)" if self.secret else "")

    def _post(self, payload: dict, delivery: str) -> None:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", EVENT_HEADER: payload["event"],
                   DELIVERY_HEADER: delivery}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        http_send(self.url, body, headers, self.timeout, "Webhook")

    def send_picture(self, picture: Picture) -> None:
        self._post(picture.payload(), f"picture:{picture.stream_id}")

    def send_digest(self, digest: Digest) -> None:
        self._post(digest.payload(), f"digest:{digest.camera}:{digest.last_id}")

    def camera_state(self, camera: str, online: bool, changed: bool, last_seen: float | None) -> None:
        if not changed:
            return
        payload = {"event": "camera_online" if online else "camera_offline", "camera": camera,
                   "last_seen": None if last_seen is None else iso_time(last_seen)}
        self._post(payload, f"camera:{camera}:{payload['event']}:{int(last_seen or 0)}")


class NtfyTarget(Target):
    """Publishes to an ntfy topic (NTFY_URL): the thumbnail attached, a click to the gallery."""

    name = "ntfy"

    def __init__(self, rule: Rule, url: str, token: str | None, timeout: float = 10.0) -> None:
        super().__init__(rule)
        self.url, self.token, self.timeout = url, token, timeout

    def describe(self) -> str:
        return f"ntfy {host_of(self.url)}"

    def _publish(self, title: str, message: str, attachment: bytes | None, filename: str,
                 click: str | None, tags: str) -> None:
        headers = {"Title": title, "Tags": tags}
        if click:
            headers["Click"] = click
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if attachment:
            headers.update({"Filename": filename, "Message": message})
            body = attachment
        else:
            body = message.encode()
        http_send(self.url, body, headers, self.timeout, "ntfy")

    def send_picture(self, picture: Picture) -> None:
        e = picture.event
        when = datetime.fromtimestamp(e.timestamp).strftime("%H:%M:%S")
        message = f"{picture.describe().capitalize()} at {when}"
        self._publish(f"{e.camera or 'camera'}: {e.trigger or 'picture'}", message,
                      picture.data("thumbnail"), f"{e.image_id.replace(':', '_')}.jpg",
                      picture.links.detail(e.image_id), "camera")

    def send_digest(self, digest: Digest) -> None:
        self._publish(f"{digest.camera}: {digest.count} pictures", digest.text(), digest.load("thumbnail"),
                      f"{digest.last_id.replace(':', '_')}.jpg",
                      digest.links.camera(digest.camera, digest.first, digest.last), "camera")

    def camera_state(self, camera: str, online: bool, changed: bool, last_seen: float | None) -> None:
        if not changed:
            return
        if online:
            self._publish(f"{camera} is back", f"Camera {camera} is online again", None, "", None,
                          "white_check_mark")
        else:
            seen = "" if last_seen is None else \
                f" (last heartbeat {datetime.fromtimestamp(last_seen).strftime('%H:%M:%S')})"
            self._publish(f"{camera} is offline", f"Camera {camera} stopped sending heartbeats{seen}",
                          None, "", None, "warning")


def multipart(fields: dict[str, str], file_field: str, filename: str, data: bytes,
              mime: str = "image/jpeg") -> tuple[bytes, str]:
    """Return a multipart/form-data body with text fields and one file, and its Content-Type."""
    boundary = "----redis-pi-camera-" + secrets.token_hex(12)
    chunks = []
    for name, value in fields.items():
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                      + value.encode() + b"\r\n")
    chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                  f'filename="{filename}"\r\nContent-Type: {mime}\r\n\r\n'.encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


class TelegramTarget(Target):
    """Sends to a Telegram chat through a bot: the thumbnail with a caption, or a text message.

    The bot token is part of the Bot API's URLs, so messages show `bot***` instead.
    """

    name = "telegram"

    def __init__(self, rule: Rule, token: str, chat_id: str, api_url: str = "https://api.telegram.org",
                 timeout: float = 10.0) -> None:
        super().__init__(rule)
        self.token, self.chat_id, self.api_url, self.timeout = token, chat_id, api_url.rstrip("/"), timeout

    def describe(self) -> str:
        return f"Telegram chat {self.chat_id}"

    def _call(self, method: str, text: str, photo: bytes | None, filename: str) -> None:
        url = f"{self.api_url}/bot{self.token}/{method}"
        shown = f"{host_of(self.api_url)[:-2]}bot***/{method}"
        if photo:
            fields = {"chat_id": self.chat_id, "caption": text}
            body, content_type = multipart(fields, "photo", filename, photo)
        else:
            body = urlencode({"chat_id": self.chat_id, "text": text}).encode()
            content_type = "application/x-www-form-urlencoded"
        http_send(url, body, {"Content-Type": content_type}, self.timeout, "Telegram", shown=shown)

    def _send(self, text: str, link: str | None, photo: bytes | None, filename: str) -> None:
        text = f"{text}\n{link}" if link else text
        self._call("sendPhoto" if photo else "sendMessage", text, photo, filename)

    def send_picture(self, picture: Picture) -> None:
        e = picture.event
        when = datetime.fromtimestamp(e.timestamp).strftime("%H:%M:%S")
        self._send(f"{picture.describe().capitalize()} at {when}", picture.links.detail(e.image_id),
                   picture.data("thumbnail"), f"{e.image_id.replace(':', '_')}.jpg")

    def send_digest(self, digest: Digest) -> None:
        self._send(digest.text(), digest.links.camera(digest.camera, digest.first, digest.last),
                   digest.load("thumbnail"), f"{digest.last_id.replace(':', '_')}.jpg")

    def camera_state(self, camera: str, online: bool, changed: bool, last_seen: float | None) -> None:
        if changed:
            self._send(f"Camera {camera} is online again" if online else
                       f"Camera {camera} is offline (no heartbeat)", None, None, "")
