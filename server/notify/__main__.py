"""`python -m server.notify`: run the notifier until SIGTERM or Ctrl-C.

Settings come from the environment (see the README, "Notifications"); a bad one exits 2
with one line naming it. Without any target (MQTT_URL, WEBHOOK_URL, NTFY_URL) it exits 2 too.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from pi.redis_connection import connect, redact_url

from .settings import Settings, SettingsError, load_settings
from .targets import NtfyTarget, Target, TelegramTarget, WebhookTarget

logger = logging.getLogger("server.notify")


def build_targets(settings: Settings) -> list[Target]:
    """Return the configured targets, each with its rule."""
    targets: list[Target] = []
    if settings.mqtt is not None:
        from .mqtt import MqttTarget  # paho-mqtt is needed only with MQTT_URL
        targets.append(MqttTarget(settings.rules["mqtt"], settings.mqtt, settings.gallery_url))
    if settings.webhook_url is not None:
        targets.append(WebhookTarget(settings.rules["webhook"], settings.webhook_url,
                                     settings.webhook_secret, settings.http_timeout))
    if settings.ntfy_url is not None:
        targets.append(NtfyTarget(settings.rules["ntfy"], settings.ntfy_url, settings.ntfy_token,
                                  settings.http_timeout))
    if settings.telegram_token is not None and settings.telegram_chat_id is not None:
        targets.append(TelegramTarget(settings.rules["telegram"], settings.telegram_token,
                                      settings.telegram_chat_id, settings.telegram_api_url,
                                      settings.http_timeout))
    return targets


def main(argv: Sequence[str] | None = None, environ=None) -> int:
    """Run the notifier; return the exit status."""
    argparse.ArgumentParser(
        prog="python -m server.notify",
        description="Tell MQTT (with Home Assistant discovery), a webhook, ntfy and Telegram about new "
                    "pictures and cameras going offline, from the image stream in Redis.",
        epilog="All settings are environment variables: REDIS_URL, MQTT_URL, WEBHOOK_URL, NTFY_URL, "
               "TELEGRAM_BOT_TOKEN, GALLERY_URL, NOTIFY_RULE_<TARGET>, ... (see the README, "
               "'Notifications and Home Assistant').",
    ).parse_args(argv)
    try:
        settings = load_settings(environ)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not settings.targets:
        print("error: no notification target is configured: set MQTT_URL, WEBHOOK_URL, NTFY_URL or "
              "TELEGRAM_BOT_TOKEN",
              file=sys.stderr)
        return 2
    try:
        targets = build_targets(settings)
    except ImportError as exc:
        print(f"error: MQTT_URL is set but paho-mqtt is missing ({exc}): pip install '.[notify]'",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .worker import Notifier

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    client = connect(settings.redis_url, socket_timeout=10)
    logger.info("Notifier %s reading %s", settings.consumer, redact_url(settings.redis_url))
    notifier = Notifier(client, targets, consumer=settings.consumer, gallery_url=settings.gallery_url,
                        stop=stop, heartbeat_check=settings.heartbeat_check, retry_cap=settings.retry_cap)
    try:
        notifier.run()
    finally:
        client.close()
    logger.info("Notifier stopped: %d notifications sent", notifier.sent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
