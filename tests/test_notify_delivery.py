"""The notifier delivers each picture once to each target: webhooks and ntfy on a real HTTP
server, rules, retries with backoff, restarts, and malformed stream entries."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator

import pytest

from pi import contract
from server.notify.rules import parse_rule
from server.notify.targets import NtfyTarget, WebhookTarget
from tests.notify_support import THUMB, HttpReceiver, store, wait_until

SECRET = "s3cret-for-tests"
@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


def webhook(receiver: HttpReceiver, rule: str = "", secret: str | None = SECRET) -> WebhookTarget:
    return WebhookTarget(parse_rule(rule), receiver.url("/hook"), secret, timeout=2)


def ntfy(receiver: HttpReceiver, rule: str = "") -> NtfyTarget:
    return NtfyTarget(parse_rule(rule), receiver.url("/garden-alerts"), "tk_test", timeout=2)


def test_an_ntfy_topic_is_never_shown_in_errors(r, run_notifier) -> None:
    push = HttpReceiver(statuses=[503] * 100)
    try:
        run_notifier([ntfy(push)])
        store(r)
        wait_until(lambda: r.hexists(contract.notify_target_key("ntfy"), "last_error"))
        status = r.hgetall(contract.notify_target_key("ntfy"))
        assert b"HTTP 503" in status[b"last_error"]
        assert b"garden-alerts" not in b"".join(status.values())
    finally:
        push.close()


def test_webhook_gets_signed_json_with_gallery_links(r, run_notifier, hook) -> None:
    run_notifier([webhook(hook)], gallery_url="http://gallery.test:5000")
    new_id = store(r, lux=3.5)
    [got] = hook.wait_for(1)
    body = got.json()
    assert body["id"] == new_id and body["camera"] == "garden" and body["trigger"] == "motion"
    assert body["lux"] == 3.5 and body["event"] == "picture" and body["time"].endswith("+00:00")
    assert body["url"] == f"http://gallery.test:5000/?image={new_id.replace(':', '%3A')}"
    assert body["thumbnail_url"] == f"http://gallery.test:5000/api/images/{new_id}/thumbnail"
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Camera-Signature"] == expected
    assert got.headers["Content-Type"] == "application/json"


def test_unreachable_webhook_is_retried_with_backoff_and_gets_each_picture_once_in_order(
        r, run_notifier, hook) -> None:
    hook.statuses = [503, 503, 500]
    running = run_notifier([webhook(hook)])
    ids = [store(r, timestamp=time.time() + i / 100) for i in range(3)]
    got = hook.wait_for(3)
    time.sleep(0.5)  # nothing more arrives
    assert [g.json()["id"] for g in hook.received] == ids
    assert hook.attempts == 6
    status = r.hgetall(contract.notify_target_key("webhook"))
    assert b"HTTP 503" in status[b"last_error"] or b"HTTP 500" in status[b"last_error"]
    assert status[b"state"] == b"ok" and int(status[b"sent"]) == 3
    wait_until(lambda: running.notifier.group.pending_count() == 0)
    assert got[0].json()["id"] == ids[0]


def test_restart_neither_repeats_nor_loses_a_notification(r, run_notifier, hook) -> None:
    push = HttpReceiver(statuses=[503] * 1000)  # ntfy is down for the first run
    try:
        first = run_notifier([webhook(hook), ntfy(push)])
        ids = [store(r, timestamp=time.time() + i / 100) for i in range(4)]
        hook.wait_for(4)
        wait_until(lambda: push.attempts >= 2)
        first.stop()
        assert push.received == []
        push.statuses.clear()  # ntfy is back
        run_notifier([webhook(hook), ntfy(push)])
        more = store(r, timestamp=time.time() + 1)
        push.wait_for(5)
        hook.wait_for(5)
        time.sleep(0.5)
        assert [g.json()["id"] for g in hook.received] == [*ids, more]  # none twice
        assert len(push.received) == 5
        assert r.xpending(contract.STREAM_KEY, "notifier")["pending"] == 0
        assert r.keys("notify:done:*") == []
    finally:
        push.close()


def test_a_target_that_refuses_a_message_records_the_error_and_goes_on(r, run_notifier, hook) -> None:
    hook.statuses = [400]
    run_notifier([webhook(hook)])
    store(r)
    second = store(r, timestamp=time.time() + 1)
    [got] = hook.wait_for(1)
    assert got.json()["id"] == second
    status = r.hgetall(contract.notify_target_key("webhook"))
    assert b"HTTP 400" in status[b"last_error"] and status[b"rejected"] == b"1"


def test_malformed_entries_are_logged_once_and_acknowledged(r, run_notifier, hook, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="server.notify.worker")
    running = run_notifier([webhook(hook)])
    r.xadd(contract.STREAM_KEY, {"id": "../../etc", "timestamp": "1"})
    r.xadd(contract.STREAM_KEY, {"id": "garden:1-abcd", "timestamp": "soon"})
    r.xadd(contract.STREAM_KEY, {"nothing": "here"})
    good = store(r)
    [got] = hook.wait_for(1)
    assert got.json()["id"] == good
    wait_until(lambda: running.notifier.group.pending_count() == 0)
    malformed = [rec for rec in caplog.records if "malformed" in rec.getMessage()]
    assert len(malformed) == 3
    assert "invalid image id" in malformed[0].getMessage()


def test_filter_cooldown_and_quiet_hours_keep_the_noise_down(r, run_notifier, hook) -> None:
    run_notifier([webhook(hook, "camera=garden trigger=motion lux_max=20 cooldown=10m")])
    t = time.time()
    store(r, camera="porch", timestamp=t)             # other camera
    store(r, trigger="interval", timestamp=t + 0.01)  # other trigger
    store(r, lux=500, timestamp=t + 0.02)             # too bright
    fired = store(r, timestamp=t + 0.03)
    store(r, timestamp=t + 60)                         # within the cooldown
    store(r, timestamp=t - 3600)                       # older than the last one told (a late spool)
    later = store(r, timestamp=t + 601)
    hook.wait_for(2)
    time.sleep(0.4)
    assert [g.json()["id"] for g in hook.received] == [fired, later]
    status = r.hgetall(contract.notify_target_key("webhook"))
    assert status[b"skipped_filter"] == b"3" and status[b"skipped_cooldown"] == b"2"


def test_quiet_hours_skip_pictures_taken_then(r, run_notifier, hook) -> None:
    now = time.localtime()
    start = f"{now.tm_hour:02d}:00"
    end = f"{(now.tm_hour + 1) % 24:02d}:00"
    run_notifier([webhook(hook, f"quiet={start}-{end}")])
    store(r)
    loud = store(r, timestamp=time.time() - 3 * 3600)  # three hours ago: not quiet
    [got] = hook.wait_for(1)
    time.sleep(0.3)
    assert got.json()["id"] == loud and len(hook.received) == 1


def test_digest_sends_one_message_per_camera_and_window(r, run_notifier, hook) -> None:
    push = HttpReceiver()
    try:
        run_notifier([ntfy(push, "digest=1s")], gallery_url="http://gallery.test")
        t = time.time()
        ids = [store(r, timestamp=t + i / 100) for i in range(12)]
        store(r, camera="porch", trigger="sensor", timestamp=t)
        got = push.wait_for(2, timeout=5)
        time.sleep(0.3)
        assert len(push.received) == 2
        by_title = {g.headers["Title"]: g for g in got}
        garden = by_title["garden: 12 pictures"]
        assert garden.headers["Message"] == "12 motion pictures on garden in the last 1 s"
        assert garden.body == THUMB  # the latest picture's thumbnail is attached
        assert garden.headers["Click"].startswith("http://gallery.test/?camera=garden&since=")
        assert garden.headers["Filename"] == ids[-1].replace(":", "_") + ".jpg"
        assert by_title["porch: 1 pictures"].headers["Message"] == "1 sensor picture on porch in the last 1 s"
    finally:
        push.close()


def test_ntfy_push_has_the_thumbnail_a_click_url_and_the_token(r, run_notifier) -> None:
    push = HttpReceiver()
    try:
        run_notifier([ntfy(push, "trigger=motion lux_max=50")], gallery_url="https://cam.example")
        store(r, lux=500)  # bright: filtered out
        dark = store(r, lux=2, timestamp=time.time() + 1)
        [got] = push.wait_for(1)
        time.sleep(0.3)
        assert len(push.received) == 1
        assert got.path == "/garden-alerts" and got.body == THUMB
        assert got.headers["Click"] == f"https://cam.example/?image={dark.replace(':', '%3A')}"
        assert got.headers["Authorization"] == "Bearer tk_test"
        assert got.headers["Title"] == "garden: motion"
        assert got.headers["Message"].startswith("Motion picture on garden, 2 lx at ")
    finally:
        push.close()


def test_camera_going_offline_and_back_is_told_once_each(r, run_notifier) -> None:
    push = HttpReceiver()
    try:
        status = contract.CameraStatus(camera="garden", host="pi", started_at=time.time())
        contract.save_heartbeat(r, status, ttl=30)
        running = run_notifier([ntfy(push)])
        wait_until(lambda: r.hget(contract.NOTIFY_CAMERAS_KEY, "garden") == b"online")
        assert push.received == []  # first sight is not news
        contract.clear_heartbeat(r, "garden")
        [offline] = push.wait_for(1)
        assert offline.headers["Title"] == "garden is offline"
        contract.save_heartbeat(r, status, ttl=30)
        back = push.wait_for(2)[1]
        assert back.headers["Title"] == "garden is back"
        running.stop()
        run_notifier([ntfy(push)])  # a restart does not tell it again
        time.sleep(0.5)
        assert len(push.received) == 2
    finally:
        push.close()


def test_status_hash_lists_each_target_with_its_rule(r, run_notifier, hook) -> None:
    run_notifier([webhook(hook, "trigger=motion cooldown=60")])
    store(r)
    hook.wait_for(1)
    wait_until(lambda: r.hexists(contract.notify_target_key("webhook"), "last_fired"))
    status = r.hgetall(contract.notify_target_key("webhook"))
    assert status[b"rule"] == b"trigger=motion cooldown=1m"
    assert status[b"kind"] == b"webhook" and status[b"state"] == b"ok"
    assert abs(float(status[b"last_fired"]) - time.time()) < 10
    assert SECRET.encode() not in b"".join(status.values())
    # The path of a webhook URL may be its secret (Discord, Slack): only the host is shown.
    port = hook.server.server_address[1]
    assert status[b"describe"].decode() == f"webhook http://127.0.0.1:{port}/… (signed)"
    notifier = r.hgetall(contract.NOTIFY_STATUS_KEY)
    assert notifier[b"targets"] == b"webhook" and notifier[b"consumer"] == b"test"


def test_webhook_payload_is_json_verifiable_by_the_readme_recipe(r, run_notifier, hook) -> None:
    run_notifier([webhook(hook)])
    store(r)
    [got] = hook.wait_for(1)
    # The README's recipe: HMAC-SHA256 of the raw body with the secret, compared in constant time.
    header = got.headers["X-Camera-Signature"]
    digest = hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(header, f"sha256={digest}")
    tampered = got.body.replace(b"garden", b"porch")
    assert not hmac.compare_digest(header, "sha256=" + hmac.new(SECRET.encode(), tampered,
                                                                 hashlib.sha256).hexdigest())
    assert json.loads(got.body)["camera"] == "garden"


def test_the_notifier_rides_out_a_redis_restart_and_misses_nothing(redis_factory, hook) -> None:
    from pi.redis_connection import connect
    from tests.helpers import kill_server
    from tests.notify_support import Running

    server = redis_factory()
    client = connect(server.url, retries=1, socket_timeout=2)
    running = Running(client, [webhook(hook)])
    try:
        wait_until(lambda: running.notifier.group_ready)
        before = store(client)
        hook.wait_for(1)
        kill_server(server)  # no goodbye; the data survives in the append-only file
        time.sleep(0.5)
        server.start()
        after = store(client, timestamp=time.time() + 1)
        hook.wait_for(2, timeout=20)
        time.sleep(0.3)
        assert [g.json()["id"] for g in hook.received] == [before, after]
    finally:
        running.stop()
        client.close()


def test_telegram_gets_the_thumbnail_with_a_caption_and_the_token_is_never_shown(r, run_notifier) -> None:
    from email.parser import BytesParser
    from email.policy import default

    from server.notify.targets import TelegramTarget

    token = "123456789:AAE" + "x" * 32
    api = HttpReceiver(statuses=[502])
    try:
        run_notifier([TelegramTarget(parse_rule("trigger=motion"), token, "-100123", api.url(""), 2)],
                     gallery_url="http://gallery.test")
        new_id = store(r)
        [got] = api.wait_for(1)
        assert got.path == f"/bot{token}/sendPhoto"
        message = BytesParser(policy=default).parsebytes(
            f"Content-Type: {got.headers['Content-Type']}\r\n\r\n".encode() + got.body)
        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
        assert parts["chat_id"].get_content().strip() == "-100123"
        caption = parts["caption"].get_content()
        assert caption.startswith("Motion picture on garden, 12.5 lx at ")
        assert caption.endswith(f"http://gallery.test/?image={new_id.replace(':', '%3A')}")
        assert parts["photo"].get_content() == THUMB
        error = r.hget(contract.notify_target_key("telegram"), "last_error").decode()
        assert "HTTP 502" in error and "bot***" in error and token not in error
    finally:
        api.close()


def test_a_digest_being_collected_survives_a_restart(r, run_notifier) -> None:
    push = HttpReceiver()
    try:
        first = run_notifier([ntfy(push, "digest=2s")])
        t = time.time()
        for i in range(3):
            store(r, timestamp=t + i / 100)
        wait_until(lambda: r.hexists(contract.notify_digest_key("ntfy"), "garden"))
        wait_until(lambda: r.xpending(contract.STREAM_KEY, "notifier")["pending"] == 0)
        first.stop()  # before the window ends
        assert push.received == []
        run_notifier([ntfy(push, "digest=2s")])
        store(r, timestamp=t + 1)
        [got] = push.wait_for(1, timeout=8)
        time.sleep(0.5)
        assert len(push.received) == 1
        assert got.headers["Message"] == "4 motion pictures on garden in the last 2 s"
        assert not r.hexists(contract.notify_digest_key("ntfy"), "garden")
    finally:
        push.close()
