"""The notifier's settings, read once from the environment and validated.

A bad value raises SettingsError with one line naming the variable (the command exits 2).
Secrets (the password in MQTT_URL, WEBHOOK_SECRET, NTFY_TOKEN) never appear in messages.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from pi.contract import CAMERA_NAME_RE, DEFAULT_REDIS_URL
from pi.mqtt_trigger import DEFAULT_TOPIC_PREFIX, parse_mqtt_url, redact

from .rules import Rule, parse_rule

TARGETS = ("mqtt", "webhook", "ntfy", "telegram")
ENTITIES = ("camera", "lux", "last_capture", "motion", "capture")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_TOPIC_RE = re.compile(r"^[A-Za-z0-9_/-]{1,100}$")


class SettingsError(ValueError):
    """A setting has a value the notifier can't use; the message is one line for the user."""


@dataclass(frozen=True)
class MqttSettings:
    """Where the broker is and what to publish there."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None = field(repr=False)
    url_shown: str  # the URL with the password replaced by ***
    discovery_prefix: str = "homeassistant"
    topic_prefix: str = DEFAULT_TOPIC_PREFIX
    entities: frozenset[str] = frozenset(ENTITIES)
    full_size: bool = False  # the camera entity shows full-size pictures, not thumbnails
    motion_hold: float = 60.0
    client_id: str = ""
    ca_file: str | None = None  # CA certificate(s) for mqtts:// with a private CA


@dataclass(frozen=True)
class Settings:
    """Everything the notifier reads at start."""

    redis_url: str
    consumer: str
    gallery_url: str | None
    rules: Mapping[str, Rule]
    mqtt: MqttSettings | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    ntfy_url: str | None = None
    ntfy_token: str | None = field(default=None, repr=False)
    telegram_token: str | None = field(default=None, repr=False)
    telegram_chat_id: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    heartbeat_check: float = 5.0
    retry_cap: float = 60.0
    http_timeout: float = 10.0
    log_level: str = "INFO"

    @property
    def targets(self) -> tuple[str, ...]:
        """Return the names of the configured targets, in a fixed order."""
        configured = {"mqtt": self.mqtt is not None, "webhook": self.webhook_url is not None,
                      "ntfy": self.ntfy_url is not None, "telegram": self.telegram_token is not None}
        return tuple(name for name in TARGETS if configured[name])


def _http_url(name: str, text: str, example: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name}={_shown(text)} is not valid: use an http(s) URL, e.g. {example}")
    return text


def _shown(text: str) -> str:
    return repr(redact(text) if "://" in text else text)


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise SettingsError(f"{name}={text!r} is not valid: use a number from {low:g} to {high:g}")
    return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings; raise SettingsError naming the first bad variable."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = (env.get(name) or "").strip()
        return value or None

    redis_url = get("REDIS_URL") or DEFAULT_REDIS_URL
    if not re.match(r"^(redis|rediss|unix)://", redis_url):
        raise SettingsError(f"REDIS_URL={_shown(redis_url)} is not valid: use a URL such as "
                            "redis://localhost:6379")
    consumer = get("NOTIFY_CONSUMER") or socket.gethostname().split(".")[0] or "notifier"
    if not CAMERA_NAME_RE.match(consumer):
        raise SettingsError(f"NOTIFY_CONSUMER={consumer!r} is not valid: use 1 to 32 letters, digits, "
                            "- or _")
    gallery_url = get("GALLERY_URL")
    if gallery_url is not None:
        gallery_url = _http_url("GALLERY_URL", gallery_url, "http://gallery.local:5000").rstrip("/")

    mqtt = None
    if (mqtt_url := get("MQTT_URL")) is not None:
        try:
            host, port, tls, user, password = parse_mqtt_url(mqtt_url)
        except ValueError as exc:
            raise SettingsError(f"MQTT_URL={_shown(mqtt_url)} is not valid: use {exc}") from None
        prefixes = {}
        for name, default in (("MQTT_DISCOVERY_PREFIX", "homeassistant"),
                              ("MQTT_TOPIC_PREFIX", DEFAULT_TOPIC_PREFIX)):
            value = (get(name) or default).strip("/")
            if not _TOPIC_RE.match(value):
                raise SettingsError(f"{name}={value!r} is not valid: use letters, digits, -, _ and /, "
                                    f"e.g. {default}")
            prefixes[name] = value
        entities_text = get("MQTT_ENTITIES")
        entities = frozenset(ENTITIES)
        if entities_text is not None:
            chosen = [e.strip().lower() for e in entities_text.split(",") if e.strip()]
            if not chosen or any(e not in ENTITIES for e in chosen):
                raise SettingsError(f"MQTT_ENTITIES={entities_text!r} is not valid: use a comma-separated "
                                    f"list of {', '.join(ENTITIES)}")
            entities = frozenset(chosen)
        picture = (get("MQTT_CAMERA_PICTURE") or "thumbnail").lower()
        if picture not in ("thumbnail", "full"):
            raise SettingsError(f"MQTT_CAMERA_PICTURE={picture!r} is not valid: use thumbnail or full")
        client_id = get("MQTT_CLIENT_ID") or f"pi-notify-{consumer}"
        ca_file = get("MQTT_CA_FILE")
        if ca_file is not None and not os.path.isfile(ca_file):
            raise SettingsError(f"MQTT_CA_FILE={ca_file!r} is not valid: use the path of a PEM file with "
                                "the certificate of the CA that signed the broker's certificate")
        if ca_file is not None and not tls:
            raise SettingsError("MQTT_CA_FILE is set but MQTT_URL is not mqtts://: use mqtts://host:8883, "
                                "or unset MQTT_CA_FILE")
        mqtt = MqttSettings(
            host=host, port=port, tls=tls, username=user, password=password,
            url_shown=redact(mqtt_url), discovery_prefix=prefixes["MQTT_DISCOVERY_PREFIX"],
            topic_prefix=prefixes["MQTT_TOPIC_PREFIX"], entities=entities, full_size=picture == "full",
            motion_hold=_number(env, "MQTT_MOTION_HOLD", 60.0, 1, 86400), client_id=client_id,
            ca_file=ca_file)

    webhook_url = get("WEBHOOK_URL")
    if webhook_url is not None:
        webhook_url = _http_url("WEBHOOK_URL", webhook_url, "https://example.com/hooks/camera")
    webhook_secret = get("WEBHOOK_SECRET")
    if webhook_secret is not None and webhook_url is None:
        raise SettingsError("WEBHOOK_SECRET is set but WEBHOOK_URL is not: set WEBHOOK_URL too, or unset "
                            "WEBHOOK_SECRET")
    ntfy_url = get("NTFY_URL")
    if ntfy_url is not None:
        ntfy_url = _http_url("NTFY_URL", ntfy_url, "https://ntfy.sh/my-garden-camera")
        if urlsplit(ntfy_url).path.strip("/") == "":
            raise SettingsError(f"NTFY_URL={_shown(ntfy_url)} is not valid: it needs the topic, e.g. "
                                "https://ntfy.sh/my-garden-camera")

    telegram_token, telegram_chat = get("TELEGRAM_BOT_TOKEN"), get("TELEGRAM_CHAT_ID")
    if telegram_token is not None and not re.match(r"^\d{1,20}:[A-Za-z0-9_-]{20,100}$", telegram_token):
        raise SettingsError("TELEGRAM_BOT_TOKEN is not valid: use the token BotFather gave, e.g. "
                            "123456789:AA... (digits, a colon, then letters)")
    if (telegram_token is None) != (telegram_chat is None):
        missing = "TELEGRAM_CHAT_ID" if telegram_chat is None else "TELEGRAM_BOT_TOKEN"
        raise SettingsError(f"{missing} is not set: Telegram needs both TELEGRAM_BOT_TOKEN and "
                            "TELEGRAM_CHAT_ID (a number such as 123456789, or @channelname)")
    if telegram_chat is not None and not re.match(r"^(-?\d{1,20}|@[A-Za-z0-9_]{5,32})$", telegram_chat):
        raise SettingsError(f"TELEGRAM_CHAT_ID={telegram_chat!r} is not valid: use the chat's number, "
                            "e.g. 123456789 or -1001234567890, or @channelname")
    telegram_api = _http_url("TELEGRAM_API_URL", get("TELEGRAM_API_URL") or "https://api.telegram.org",
                             "https://api.telegram.org")

    settings = Settings(redis_url=redis_url, consumer=consumer, gallery_url=gallery_url, rules={},
                        mqtt=mqtt, webhook_url=webhook_url, webhook_secret=webhook_secret,
                        ntfy_url=ntfy_url, ntfy_token=get("NTFY_TOKEN"),
                        telegram_token=telegram_token, telegram_chat_id=telegram_chat,
                        telegram_api_url=telegram_api,
                        heartbeat_check=_number(env, "NOTIFY_HEARTBEAT_CHECK", 5.0, 0.1, 3600),
                        retry_cap=_number(env, "NOTIFY_RETRY_MAX", 60.0, 0.1, 3600),
                        http_timeout=_number(env, "NOTIFY_HTTP_TIMEOUT", 10.0, 0.1, 300),
                        log_level=(get("LOG_LEVEL") or "INFO").upper())
    if settings.log_level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL={settings.log_level!r} is not valid: use one of "
                            f"{', '.join(LOG_LEVELS)}")

    rules: dict[str, Rule] = {name: Rule() for name in settings.targets}
    for name in sorted(env):
        if not name.startswith("NOTIFY_RULE_") or not (env.get(name) or "").strip():
            continue  # an empty rule is no rule, as an empty setting is an unset one
        target = name[len("NOTIFY_RULE_"):].lower()
        if target not in TARGETS:
            raise SettingsError(f"{name}: unknown target {target!r}; the targets are "
                                f"{', '.join(TARGETS)} (NOTIFY_RULE_MQTT, NOTIFY_RULE_WEBHOOK, "
                                "NOTIFY_RULE_NTFY, NOTIFY_RULE_TELEGRAM)")
        if target not in rules:
            needs = {"mqtt": "MQTT_URL", "webhook": "WEBHOOK_URL", "ntfy": "NTFY_URL",
                     "telegram": "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID"}[target]
            raise SettingsError(f"{name} is set but the {target} target is not configured: set {needs}, "
                                f"or unset {name}")
        try:
            rules[target] = parse_rule(env[name] or "")
        except ValueError as exc:
            raise SettingsError(f"{name} is not valid: {exc}") from None
    return replace(settings, rules=rules)
