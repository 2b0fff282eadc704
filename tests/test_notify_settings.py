"""The notifier's settings and rules: bad ones stop it at start with one line naming them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pi import contract
from server.notify.rules import parse_rule
from server.notify.settings import SettingsError, load_settings
from tests.notify_support import HttpReceiver, store

ROOT = Path(__file__).resolve().parent.parent


OURS = ("MQTT_", "NOTIFY_", "WEBHOOK_", "NTFY_", "GALLERY_URL")


def run_notify(env: dict[str, str], timeout: float = 20) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    return subprocess.run([sys.executable, "-m", "server.notify"], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(("env", "named"), [
    ({"MQTT_URL": "http://ha:topsecret@broker:1883"}, "MQTT_URL"),
    ({"MQTT_URL": "mqtt://ha:topsecret@broker:port"}, "MQTT_URL"),
    ({"WEBHOOK_URL": "http://x/hook", "NOTIFY_RULE_SIGNAL": "camera=garden"}, "NOTIFY_RULE_SIGNAL"),
    ({"WEBHOOK_URL": "http://x/hook", "NOTIFY_RULE_TELEGRAM": "camera=garden"}, "NOTIFY_RULE_TELEGRAM"),
    ({"TELEGRAM_BOT_TOKEN": "123:short"}, "TELEGRAM_BOT_TOKEN"),
    ({"TELEGRAM_BOT_TOKEN": "123456:" + "A" * 35}, "TELEGRAM_CHAT_ID"),
    ({"WEBHOOK_URL": "http://x/hook", "NOTIFY_RULE_WEBHOOK": "lux_min=dark"}, "NOTIFY_RULE_WEBHOOK"),
    ({"WEBHOOK_URL": "http://x/hook", "NOTIFY_RULE_WEBHOOK": "quiet=23-7"}, "NOTIFY_RULE_WEBHOOK"),
    ({"WEBHOOK_URL": "http://x/hook", "NOTIFY_RULE_NTFY": "cooldown=5m"}, "NOTIFY_RULE_NTFY"),
    ({"NTFY_URL": "https://ntfy.sh/"}, "NTFY_URL"),
    ({"MQTT_URL": "mqtt://broker", "MQTT_ENTITIES": "camera,doorbell"}, "MQTT_ENTITIES"),
    ({"MQTT_URL": "mqtts://broker", "MQTT_CA_FILE": "/nowhere/ca.pem"}, "MQTT_CA_FILE"),
    ({}, "MQTT_URL, WEBHOOK_URL, NTFY_URL or TELEGRAM_BOT_TOKEN"),
])
def test_a_bad_setting_exits_2_with_one_line_naming_it(env, named) -> None:
    result = run_notify({"REDIS_URL": "redis://127.0.0.1:1", **env})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert "Traceback" not in result.stderr and "topsecret" not in result.stderr


def test_the_command_delivers_and_stops_cleanly_on_sigterm(r, redis_url) -> None:
    hook = HttpReceiver()
    base = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    env = {**base, "REDIS_URL": redis_url, "WEBHOOK_URL": hook.url(), "WEBHOOK_SECRET": "k",
           "NOTIFY_RULE_WEBHOOK": "trigger=motion"}
    process = subprocess.Popen([sys.executable, "-m", "server.notify"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while not r.exists(contract.NOTIFY_STATUS_KEY):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        store(r, trigger="interval")
        wanted = store(r, trigger="motion")
        [got] = hook.wait_for(1)
        assert got.json()["id"] == wanted
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
        assert process.returncode == 0, output
        assert "rule: trigger=motion" in output and "Traceback" not in output
    finally:
        if process.poll() is None:
            process.kill()
        hook.close()


def test_mqtt_url_forms() -> None:
    s = load_settings({"MQTT_URL": "mqtts://ha%40home:p%3Ass@broker.lan"}).mqtt
    assert (s.host, s.port, s.tls, s.username, s.password) == ("broker.lan", 8883, True, "ha@home", "p:ss")
    assert "p:ss" not in repr(s) and s.url_shown == "mqtts://ha%40home:***@broker.lan"
    assert load_settings({"MQTT_URL": "mqtt://broker"}).mqtt.port == 1883


def test_a_rule_for_a_target_that_is_not_configured_is_refused() -> None:
    with pytest.raises(SettingsError, match="NTFY_URL"):
        load_settings({"WEBHOOK_URL": "http://x/", "NOTIFY_RULE_NTFY": "trigger=motion"})
    assert load_settings({"WEBHOOK_URL": "http://x/", "NOTIFY_RULE_NTFY": " "}).targets == ("webhook",)


def test_rules_read_back_in_canonical_form_and_time_ranges_wrap_midnight() -> None:
    rule = parse_rule("trigger=motion  camera=porch,garden lux_max=20 hours=18:00-06:30 cooldown=600 "
                      "digest=90")
    assert rule.describe() == ("camera=garden,porch trigger=motion lux_max=20 hours=18:00-06:30 "
                               "cooldown=10m digest=90s")
    assert parse_rule(rule.describe()) == rule

    def at(hour: int, minute: int = 0) -> float:
        return time.mktime((2026, 6, 1, hour, minute, 0, 0, 0, -1))

    event = contract.CheckedStreamEntry("garden:1-abcd", at(23), "garden", "motion", 3.0)
    assert rule.matches(event)
    assert rule.matches(contract.CheckedStreamEntry("garden:1-abcd", at(6, 29), "garden", "motion", 3.0))
    assert not rule.matches(contract.CheckedStreamEntry("garden:1-abcd", at(6, 30), "garden", "motion", 3.0))
    assert not rule.matches(contract.CheckedStreamEntry("garden:1-abcd", at(23), "garden", "motion", None))
    with pytest.raises(ValueError, match="swap"):
        parse_rule("lux_min=50 lux_max=10")
    with pytest.raises(ValueError, match="unknown rule word 'colour'"):
        parse_rule("colour=red")


def test_capture_daemon_takes_mqtt_commands_only_when_enabled_and_with_a_broker() -> None:
    from pi.settings import SettingsError as CaptureSettingsError
    from pi.settings import resolve

    assert resolve({}, {}).mqtt_capture_commands is False
    with pytest.raises(CaptureSettingsError, match="MQTT_CAPTURE_COMMANDS=1 needs MQTT_URL"):
        resolve({}, {"MQTT_CAPTURE_COMMANDS": "1"})
    with pytest.raises(CaptureSettingsError, match="MQTT_URL") as caught:
        resolve({}, {"MQTT_URL": "mqtt://ha:topsecret@broker:port"})
    assert "topsecret" not in str(caught.value)
    on = resolve({}, {"MQTT_CAPTURE_COMMANDS": "1", "MQTT_URL": "mqtt://broker"})
    assert on.mqtt_capture_commands and on.mqtt_topic_prefix == "redis-pi-camera"


def test_readme_documents_every_notifier_setting() -> None:
    import re

    source = (ROOT / "server" / "notify" / "settings.py").read_text()
    names = set(re.findall(r'"((?:MQTT|NOTIFY|WEBHOOK|NTFY|TELEGRAM|GALLERY|REDIS|LOG)_[A-Z_]+)"', source))
    names -= {"NOTIFY_RULE_", "NOTIFY_RULE_MQTT", "NOTIFY_RULE_WEBHOOK", "NOTIFY_RULE_NTFY",
              "NOTIFY_RULE_TELEGRAM"}
    assert {"MQTT_URL", "WEBHOOK_SECRET", "NTFY_TOKEN", "MQTT_MOTION_HOLD", "GALLERY_URL"} <= names
    section = (ROOT / "README.md").read_text().split("## Notifications and Home Assistant", 1)[1]
    table = section.split("### Home Assistant", 1)[0]
    for name in names:
        assert f"`{name}`" in table, name
    assert "TELEGRAM_CHAT_ID" in names
    for target in ("MQTT", "WEBHOOK", "NTFY", "TELEGRAM"):
        assert f"`NOTIFY_RULE_{target}`" in table


def test_a_notifier_killed_mid_outage_sends_everything_once_after_restart(r, redis_url) -> None:
    hook = HttpReceiver(statuses=[503] * 10_000)  # the webhook is down
    base = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    env = {**base, "REDIS_URL": redis_url, "WEBHOOK_URL": hook.url(), "NOTIFY_CONSUMER": "pi4",
           "NOTIFY_RETRY_MAX": "0.3"}

    def start() -> subprocess.Popen:
        r.delete(contract.NOTIFY_STATUS_KEY)
        process = subprocess.Popen([sys.executable, "-m", "server.notify"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not r.exists(contract.NOTIFY_STATUS_KEY):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        return process

    first = start()
    try:
        ids = [store(r, timestamp=time.time() + i / 100) for i in range(3)]
        deadline = time.monotonic() + 10
        while hook.attempts < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first.kill()  # SIGKILL: no clean-up at all
        first.wait(5)
        hook.statuses.clear()  # the webhook is back
        second = start()
        try:
            hook.wait_for(3)
            time.sleep(0.8)
            assert [g.json()["id"] for g in hook.received] == ids
        finally:
            second.terminate()
            second.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
        hook.close()


def test_a_misspelt_trigger_in_a_rule_stops_the_notifier_naming_it() -> None:
    with pytest.raises(ValueError, match=r"trigger='motoin' is not a trigger .* interval, sensor, motion"):
        parse_rule("trigger=motoin")
    assert parse_rule("trigger=motion,sensor").triggers == frozenset({"motion", "sensor"})
