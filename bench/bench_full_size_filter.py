"""Gallery benchmark for tiered retention (issue 9): what the tier and the "full size" filter
cost the list API.

Starts its own Redis with the search module on a free port, stores 20,000 small image
hashes as the two-tier daemon writes them (three in four have lost their full size: expired,
trimmed, or near-duplicates), and prints the list API's median latency, first page and a
deep page, with `full_size=1` (a negated range, so pictures without `full_until` count) and
`full_size=0` (and `lux_min=0`, a filter that keeps every picture, for scale), each as a
ratio to the unfiltered list measured in the same run (target: at
most 1.5). Also the first page's count.

Run: .venv/bin/python -m bench.bench_full_size_filter   (about half a minute)
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_gallery import median_ms
from pi.contract import ImageRecord, ensure_index, image_id, image_key
from pi.redis_connection import connect
from server import create_app
from server.tooling.embedded_redis import EmbeddedRedis, free_port

COUNT = 20_000
RUNS = 300
PAGE = 24


def fill(client, now: float) -> None:
    """One picture every 30 s back from now; the newest quarter still has its full size."""
    rnd = random.Random(9)
    pipe = client.pipeline(transaction=False)
    for i in range(COUNT):
        ts = now - i * 30 - rnd.random()
        full = i < COUNT // 4
        record = ImageRecord(timestamp=ts, image_data=b"\xff\xd8" + bytes(200) if full else None,
                             lux=round(rnd.uniform(0, 1000), 1), camera="garden", trigger="interval",
                             thumbnail=b"RIFF" + bytes(4) + b"WEBP" + bytes(60),
                             thumbnail_mime="image/webp",
                             plan_full_until=ts + 3 * 3600, plan_history_until=ts + 30 * 86400)
        if full:  # a budget or a kept picture holds it past its capture's plan
            record.full_until = now + 3600 + rnd.random()
        elif i % 3 == 0:
            record.full_until, record.unchanged_since, record.same_as = ts, ts - 30, "garden:1-ab12"
        else:
            record.full_until = min(now - 1, ts + (3 * 3600 if i % 3 == 1 else 600))  # expired, trimmed
        pipe.hset(image_key(image_id("garden", ts)), mapping=record.to_hash())
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        with EmbeddedRedis(data_dir=Path(tmp), port=free_port(), maxmemory="0") as server:
            client = connect(server.url)
            ensure_index(client)
            fill(client, time.time())
            time.sleep(1)
            app = create_app({"TESTING": True, "REDIS_URL": server.url, "SECRET_KEY": "bench",
                              "GALLERY_PASSWORD": None})
            web = app.test_client()

            def page(query: str, deep: bool) -> None:
                answer = web.get(f"/api/images?limit={PAGE}{query}").json
                for _ in range(9 if deep else 0):
                    cursor = answer["next_cursor"]
                    answer = web.get(f"/api/images?limit={PAGE}{query}&cursor={cursor}").json

            rows = []
            for deep in (False, True):
                runs = RUNS // (5 if deep else 1)
                base = median_ms(lambda deep=deep: page("", deep), runs)
                for query in ("&full_size=1", "&full_size=0", "&lux_min=0"):
                    ms = median_ms(lambda query=query, deep=deep: page(query, deep), runs)
                    rows.append((query[1:], "pages 1-10" if deep else "page 1", base, ms))
            counts = {q: web.get(f"/api/images?limit=1&{q}").json["count"]
                      for q in ("full_size=1", "full_size=0")}
            client.close()
    print(f"{COUNT:,} pictures, {COUNT // 4:,} with their full size; counts: {counts}")
    print(f"{'filter':<14}{'read':<12}{'unfiltered ms':>14}{'filtered ms':>13}{'ratio':>8}")
    worst = 0.0
    for name, what, base, ms in rows:
        worst = max(worst, ms / base)
        print(f"{name:<14}{what:<12}{base:>14.2f}{ms:>13.2f}{ms / base:>8.2f}")
    print(f"worst ratio {worst:.2f} (target: at most 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
