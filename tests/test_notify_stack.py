"""`make run` starts the notifier only when a notification target is configured."""

from __future__ import annotations

import pytest

from server.tooling import run_stack


@pytest.mark.parametrize("variable", ["MQTT_URL", "WEBHOOK_URL", "NTFY_URL", "TELEGRAM_BOT_TOKEN"])
def test_make_run_starts_the_notifier_when_a_target_is_set(monkeypatch, tmp_path, variable):
    for name in run_stack.NOTIFY_TARGET_VARS:
        monkeypatch.delenv(name, raising=False)
    names = [c.name for c in run_stack.children_for("redis://x:1", [("garden", 5.0)], "60", tmp_path)]
    assert "notifier" not in names
    monkeypatch.setenv(variable, "http://127.0.0.1:9/x")
    children = run_stack.children_for("redis://x:1", [("garden", 5.0)], "60", tmp_path)
    notifier = [c for c in children if c.name == "notifier"]
    assert len(notifier) == 1
    assert notifier[0].argv[1:] == ["-m", "server.notify"] and notifier[0].env["REDIS_URL"] == "redis://x:1"
