"""The retention forecast: per camera, how far back full size and history reach (issue 9).

`forecast()` is a pure function of what each camera writes (pictures a minute, bytes per
full-size picture, bytes per history picture, its expiries and budget) and the memory
there is; `read_forecast()` measures those in Redis and calls it. Imports only the
standard library, redis and the contract, so the gallery can use it.

The model is the steady state the writers and Redis reach:
- a camera's full sizes last IMAGE_EXPIRY, or less when its budget fills first
  (budget / full-size bytes a minute), never less than the minimum age;
- history (thumbnail and metadata) lasts HISTORY_EXPIRY, or less when memory fills:
  `volatile-ttl` then evicts the keys nearest expiry, the oldest pictures of every camera
  alike, so all cameras reach back the same time, the memory left after the full sizes
  and the time-lapse movies divided by all cameras' history bytes a minute.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import redis

from pi import contract

#: Pictures of the last WINDOW seconds give a camera's current rate and sizes.
WINDOW = 3600.0
#: The shortest time a rate is measured over, so a burst of a few pictures is not extrapolated.
MIN_SPAN = 60.0
#: How many recent pictures per camera are sampled with MEMORY USAGE.
SAMPLES = 5


@dataclass
class CameraUsage:
    """What one camera writes, measured or assumed (sizes in bytes, times in seconds)."""

    camera: str
    pictures_per_min: float
    full_bytes: float  # average image_data of a picture stored whole
    history_bytes: float  # memory of a picture without image_data: thumbnail, fields, index
    full_fraction: float = 1.0  # share of pictures stored whole (near-duplicates lower it)
    image_expiry: float | None = None  # full-size lifetime
    history_expiry: float | None = None  # key lifetime; None or <= image_expiry: one tier
    budget: int | None = None  # full-size budget in effect

    @property
    def tiered(self) -> bool:
        """Tell whether the camera stores two tiers."""
        return (self.history_expiry is not None and self.image_expiry is not None
                and self.history_expiry > self.image_expiry)

    @property
    def full_bytes_per_min(self) -> float:
        """Return the full-size bytes written a minute."""
        return self.pictures_per_min * self.full_fraction * self.full_bytes

    @property
    def history_bytes_per_min(self) -> float:
        """Return the history bytes written a minute (every picture has them)."""
        return self.pictures_per_min * self.history_bytes


@dataclass
class CameraForecast:
    """How far back one camera's pictures reach, and why (seconds; None: no pictures)."""

    camera: str
    bytes_per_min: float
    full_reach: float | None
    history_reach: float | None
    full_limited_by: str  # "expiry", "budget", "memory" or "min_age"
    history_limited_by: str  # "expiry" or "memory"
    pictures_per_min: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """Return e.g. 'garden: full size 47 min · history 12 days · 3.1 MB/min'."""
        return (f"{self.camera}: full size {human_duration(self.full_reach)} · history "
                f"{human_duration(self.history_reach)} · {self.bytes_per_min / 1e6:.1f} MB/min")


@dataclass
class Forecast:
    """The forecast for every camera, and the memory it assumed."""

    cameras: list[CameraForecast]
    memory_for_pictures: int | None  # maxmemory less the server's own and the movies'
    timelapse_bytes: int = 0
    timelapse_count: int = 0
    warnings: list[str] = field(default_factory=list)


def human_duration(seconds: float | None) -> str:
    """Return '47 min', '5.5 h', '12 days' or '-' for None."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def forecast(usages: list[CameraUsage], memory: int | None, min_age: float = 0.0,
             timelapse_bytes: int = 0, timelapse_count: int = 0) -> Forecast:
    """Return how far back each camera's full size and history reach at its current rate.

    `memory` is the bytes Redis has for pictures (maxmemory less its own use); None means
    no cap. Pure: the tests feed it synthetic rates.
    """
    cams: list[CameraForecast] = []
    full_seconds: dict[str, float] = {}
    for u in usages:
        f_rate = u.full_bytes_per_min / 60  # bytes a second
        expiry = u.image_expiry if u.tiered else (u.image_expiry or u.history_expiry)
        reach, why = (expiry, "expiry") if expiry is not None else (math.inf, "expiry")
        warnings: list[str] = []
        if u.budget is not None and f_rate > 0:
            held = u.budget / f_rate
            if held < reach:
                reach, why = held, "budget"
            if min_age > 0 and held < min_age:
                warnings.append(
                    f"{u.camera}: the full-size budget of {u.budget / 1e6:.0f} MB holds "
                    f"{human_duration(held)} at {u.full_bytes_per_min / 1e6:.1f} MB/min, less "
                    f"than the minimum age of {human_duration(min_age)}; pictures younger than "
                    f"that keep their full size anyway (about {f_rate * min_age / 1e6:.0f} MB). "
                    "Fix: raise the budget or lower the minimum age")
                reach, why = min(min_age, expiry or math.inf), "min_age"
        full_seconds[u.camera] = reach
        cams.append(CameraForecast(u.camera, (u.full_bytes_per_min + u.history_bytes_per_min),
                                   reach, None, why, "expiry", u.pictures_per_min, warnings))
    # Memory: full sizes first, then history shares the rest, oldest evicted first.
    full_total = sum(u.full_bytes_per_min / 60 * min(full_seconds[u.camera], 1e12) for u in usages)
    history_rate = sum(u.history_bytes_per_min / 60 for u in usages)
    out_warnings: list[str] = []
    history_memory_reach = math.inf
    if memory is not None:
        left = memory - full_total
        if left <= 0:
            # Even the full sizes don't fit: whole pictures are evicted, oldest first.
            whole_rate = sum(u.full_bytes_per_min / 60 + u.history_bytes_per_min / 60 for u in usages)
            whole_reach = memory / whole_rate if whole_rate > 0 else math.inf
            for cam in cams:
                if cam.full_reach is None or cam.full_reach > whole_reach:
                    cam.full_reach, cam.full_limited_by = whole_reach, "memory"
            history_memory_reach = whole_reach
        elif history_rate > 0:
            history_memory_reach = left / history_rate
    for u, cam in zip(usages, cams):
        expiry = u.history_expiry if u.tiered else cam.full_reach
        if u.tiered and expiry is not None and expiry <= history_memory_reach:
            cam.history_reach, cam.history_limited_by = expiry, "expiry"
        elif not u.tiered:
            cam.history_reach = cam.full_reach
            cam.history_limited_by = "memory" if cam.full_limited_by == "memory" else "expiry"
        else:
            cam.history_reach, cam.history_limited_by = history_memory_reach, "memory"
        if cam.full_reach is not None and cam.history_reach is not None:
            cam.full_reach = min(cam.full_reach, cam.history_reach)
        if u.pictures_per_min <= 0:
            cam.full_reach = cam.history_reach = None
        if (min_age > 0 and cam.history_reach is not None and cam.history_reach < min_age
                and cam.history_limited_by == "memory"):
            cam.warnings.append(
                f"{cam.camera}: memory holds {human_duration(cam.history_reach)} of history, less "
                f"than the minimum age of {human_duration(min_age)}. Fix: raise maxmemory, "
                "lower the full-size budgets, or capture less often")
        out_warnings.extend(cam.warnings)
    return Forecast(cams, memory, timelapse_bytes, timelapse_count, out_warnings)


# --- Measuring it in Redis -----------------------------------------------------------------


def _num(value: object) -> float | None:
    try:
        number = float(value.decode() if isinstance(value, bytes) else value)  # type: ignore[arg-type]
    except (TypeError, ValueError, AttributeError):
        return None
    return number if math.isfinite(number) else None


def _aggregate(client: redis.Redis, query: str) -> dict[str, dict[str, float]]:
    """Return per camera: count, first, last and average size of the pictures matching `query`."""
    reply = client.execute_command(
        "FT.AGGREGATE", contract.INDEX_NAME, query, "LOAD", "3", "@camera", "@timestamp", "@size_bytes",
        "GROUPBY", "1", "@camera", "REDUCE", "COUNT", "0", "AS", "n",
        "REDUCE", "MIN", "1", "@timestamp", "AS", "first", "REDUCE", "MAX", "1", "@timestamp", "AS", "last",
        "REDUCE", "AVG", "1", "@size_bytes", "AS", "size", "LIMIT", "0", "1000")
    out: dict[str, dict[str, float]] = {}
    for row in reply[1:]:
        items = [x.decode() if isinstance(x, bytes) else x for x in row]
        fields = dict(zip(items[0::2], items[1::2]))
        camera = fields.get("camera")
        if not camera or not contract.CAMERA_NAME_RE.match(str(camera)):
            continue
        out[str(camera)] = {k: v for k in ("n", "first", "last", "size")
                            if (v := _num(fields.get(k))) is not None}
    return out


def _memory(client: redis.Redis) -> tuple[int | None, int]:
    info = client.info("memory")
    maxmemory = int(info.get("maxmemory") or 0)
    startup = int(info.get("used_memory_startup") or 0)
    return (maxmemory or None), startup


def _timelapse_memory(client: redis.Redis) -> tuple[int, int]:
    total = count = 0
    for key in client.scan_iter(match=f"{contract.TIMELAPSE_KEY_PREFIX}*", count=1000):
        size = client.memory_usage(key, samples=0)
        if size:
            total += int(size)
            count += 1
    return total, count


def _history_bytes(client: redis.Redis, camera: str, index_per_doc: float) -> tuple[float, float | None,
                                                                                     float | None]:
    """Sample the camera's newest pictures: bytes without image_data, and its two expiries."""
    reply = client.execute_command(
        "FT.SEARCH", contract.INDEX_NAME, f"@camera:{{{camera}}}", "SORTBY", "timestamp", "DESC",
        "LIMIT", "0", str(SAMPLES), "RETURN", "3", "timestamp", "plan_full_until", "plan_history_until")
    sizes, image_expiry, history_expiry = [], None, None
    keys = reply[1::2]
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
        pipe.hstrlen(key, contract.F_IMAGE_DATA)
    answers = pipe.execute()
    for (usage, image_len), row in zip(zip(answers[0::2], answers[1::2]), reply[2::2]):
        if usage:
            sizes.append(int(usage) - int(image_len or 0))
        items = [x.decode() if isinstance(x, bytes) else x for x in row]
        fields = dict(zip(items[0::2], items[1::2]))
        ts, full, hist = (_num(fields.get(k)) for k in ("timestamp", "plan_full_until", "plan_history_until"))
        if ts is not None and image_expiry is None and full is not None and hist is not None:
            image_expiry, history_expiry = full - ts, hist - ts
    history = (sum(sizes) / len(sizes) if sizes else 0.0) + index_per_doc
    return history, image_expiry, history_expiry


def _index_bytes_per_doc(client: redis.Redis) -> float:
    info = client.ft(contract.INDEX_NAME).info()
    docs = _num(info.get("num_docs")) or 0
    parts = ("inverted_sz_mb", "offset_vectors_sz_mb", "doc_table_size_mb", "sortable_values_size_mb",
             "key_table_size_mb", "tag_overhead_sz_mb", "text_overhead_sz_mb")
    total = _num(info.get("total_index_memory_sz_mb")) or sum(_num(info.get(k)) or 0 for k in parts)
    return total * 1024 * 1024 / docs if docs else 0.0


def read_forecast(client: redis.Redis, now: float | None = None, window: float = WINDOW) -> Forecast:
    """Measure each camera's last `window` seconds in Redis and return the forecast.

    `client` speaks RESP2, as every client of this project (pi.redis_connection.connect).
    """
    now = time.time() if now is None else now
    since = f"@timestamp:[{now - window:.3f} +inf]"
    everything = _aggregate(client, since)
    whole = _aggregate(client, f"{since} @size_bytes:[1 +inf]")
    budgets, _ = contract.read_budgets(client)
    sharers = contract.budget_sharers(client) if budgets.total is not None else []
    index_per_doc = _index_bytes_per_doc(client)
    usages = []
    for camera, stats in sorted(everything.items()):
        n = stats.get("n", 0)
        # Pictures per minute since the camera's first picture in the window, up to now (at
        # least a minute): a camera that took two pictures a few seconds apart and then
        # stopped is not extrapolated to a busy one.
        span = max(MIN_SPAN, now - stats.get("first", now))
        per_min = (n - 1) / span * 60 if n >= 2 else 0.0
        full_n = whole.get(camera, {}).get("n", 0)
        history, image_expiry, history_expiry = _history_bytes(client, camera, index_per_doc)
        usages.append(CameraUsage(camera, per_min, whole.get(camera, {}).get("size", 0.0), history,
                                  full_n / n if n else 1.0, image_expiry, history_expiry,
                                  budgets.for_camera(camera, sharers)))
    maxmemory, startup = _memory(client)
    movies, count = _timelapse_memory(client)
    memory = None if maxmemory is None else max(0, maxmemory - startup - movies)
    return forecast(usages, memory, budgets.min_age, movies, count)


def main(argv: list[str] | None = None) -> int:
    """Print the forecast and the budgets: `python -m pi.retention [--redis-url URL]`."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m pi.retention",
                                     description="How far back each camera's full size and history reach.")
    parser.add_argument("--redis-url", default=None, help="default: REDIS_URL, else redis://localhost:6379")
    args = parser.parse_args(argv)
    from pi.redis_connection import connect

    client = connect(args.redis_url or contract.redis_url_from_env(), retries=0)
    try:
        result = read_forecast(client)
        budgets, problems = contract.read_budgets(client)
    except redis.RedisError as exc:
        print(f"error: Redis: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    for cam in result.cameras:
        print(cam.describe())
    if not result.cameras:
        print("No pictures in the last hour.")
    memory = "no maxmemory" if result.memory_for_pictures is None else \
        f"{result.memory_for_pictures / 1e6:.0f} MB for pictures"
    print(f"Memory: {memory}; {result.timelapse_count} time-lapse movies, "
          f"{result.timelapse_bytes / 1e6:.1f} MB")
    print(f"Budgets ({contract.BUDGETS_KEY}): {budgets.to_hash() or 'none'}")
    for line in [*result.warnings, *problems]:
        print(f"warning: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
