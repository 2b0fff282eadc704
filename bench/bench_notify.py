"""Benchmark the notifier: latency from a picture stored to MQTT message and to webhook received.

A picture is stored as the capture daemon stores it (`contract.save_image`: hash with a
20 KB thumbnail, and the stream entry, in one MULTI). Measured on loopback, p50 and p95:

- baseline: a plain XREAD BLOCK client of the stream (the stream's own XADD -> XREAD latency);
- MQTT: the notifier (consumer group, rules, done marks, thumbnail HGET, five QoS 1 publishes
  to a real mosquitto) -> a subscriber receives the picture's `event` message (the last one);
- webhook: the notifier -> a signed POST received by an HTTP server in this process.

Both targets run in one notifier, as a user would run it; ratios are against the baseline
measured in the same run. Run with `.venv/bin/python -m bench.bench_notify` (about 20 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from pi import contract
from pi.redis_connection import connect
from server.notify.__main__ import build_targets
from server.notify.settings import load_settings
from server.notify.worker import Notifier
from server.tooling.embedded_redis import EmbeddedRedis, free_port
from tests.notify_support import HttpReceiver, Mosquitto


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pictures", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.03, help="seconds between pictures")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        redis_server = EmbeddedRedis(data_dir=Path(tmp) / "redis", port=free_port(), maxmemory="0")
        broker = Mosquitto(Path(tmp) / "mqtt").start()
        hook = HttpReceiver()
        with redis_server:
            r = connect(redis_server.url)
            stored: dict[str, float] = {}
            baseline: dict[str, float] = {}
            mqtt_at: dict[str, float] = {}
            done = threading.Event()

            def read_baseline() -> None:
                reader = connect(redis_server.url)
                last = "$"
                while not done.is_set():
                    for _, entries in reader.xread({contract.STREAM_KEY: last}, block=200) or []:
                        for sid, fields in entries:
                            last = sid
                            baseline.setdefault(fields[b"id"].decode(), time.monotonic())
                reader.close()

            sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub")
            connected = threading.Event()
            sub.on_connect = lambda c, u, f, rc, p: (c.subscribe("redis-pi-camera/+/event", qos=1),
                                                     connected.set())
            sub.on_message = lambda c, u, m: mqtt_at.setdefault(json.loads(m.payload)["id"],
                                                                time.monotonic())
            sub.connect("127.0.0.1", broker.port)
            sub.loop_start()
            connected.wait(5)

            settings = load_settings({"MQTT_URL": broker.url, "WEBHOOK_URL": hook.url(),
                                      "WEBHOOK_SECRET": "bench", "NOTIFY_CONSUMER": "bench"})
            notifier = Notifier(r, build_targets(settings), consumer="bench", stop=threading.Event())
            threads = [threading.Thread(target=notifier.run, daemon=True),
                       threading.Thread(target=read_baseline, daemon=True)]
            for thread in threads:
                thread.start()
            while not notifier.group_ready or not notifier.states[0].target.is_connected():
                time.sleep(0.05)
            time.sleep(1.0)  # the baseline reader is blocking, discovery published

            thumbnail = bytes(range(256)) * 80  # 20 KB, about a real thumbnail
            for i in range(args.pictures):
                ts = time.time()
                record = contract.ImageRecord(timestamp=ts, image_data=b"\xff\xd8" + thumbnail * 10,
                                              camera="benchcam", trigger="motion" if i % 3 else "interval",
                                              lux=100.0 + i, thumbnail=thumbnail)
                new_id = contract.image_id("benchcam", ts)
                stored[new_id] = time.monotonic()
                contract.save_image(r, record, 600, new_id)
                time.sleep(args.gap)
            deadline = time.monotonic() + 30
            while (len(hook.received) < args.pictures or len(mqtt_at) < args.pictures) \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            done.set()
            notifier.stop.set()
            for thread in threads:
                thread.join(5)
            sub.disconnect()
            sub.loop_stop()
            r.close()
        hook.close()
        broker.stop()

    webhook_at = {json.loads(g.body)["id"]: g.at for g in hook.received}
    rows = []
    for name, arrived in (("XADD -> XREAD (baseline)", baseline), ("stored -> MQTT received", mqtt_at),
                          ("stored -> webhook received", webhook_at)):
        lat = [(arrived[i] - stored[i]) * 1000 for i in stored if i in arrived]
        rows.append((name, len(lat), statistics.median(lat), percentile(lat, 95)))
    base50, base95 = rows[0][2], rows[0][3]
    print(f"{args.pictures} pictures, one every {args.gap * 1000:g} ms, loopback; both targets, one notifier")
    print(f"{'path':28} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p50 ratio':>10} {'p95 ratio':>10}")
    for name, n, p50, p95 in rows:
        print(f"{name:28} {n:5d} {p50:8.2f} {p95:8.2f} {p50 / base50:9.1f}x {p95 / base95:9.1f}x")
    lost = [n for _, n, _, _ in rows if n < args.pictures]
    if lost:
        print("error: some pictures were not received on every path", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
