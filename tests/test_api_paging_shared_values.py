"""Paging stays exact when many pictures share a sort value and their times are milliseconds
that RediSearch prints rounded (B1: "darkest first" ended in a 503 and could skip or repeat).
"""

from __future__ import annotations

import pytest
import redis

from pi.contract import ImageRecord, image_id, save_image
from tests.factories import make_jpeg

#: Millisecond times whose printed form RediSearch shortens (1795958600.097 -> 1795958600.1):
#: the trailing digits are chosen so that 12-significant-digit printing drops them.
T0 = 1_795_958_600.0
OFFSETS_MS = (97, 99, 100, 101, 903, 950, 999, 1, 2, 499, 500, 501)
SORTS = ("newest", "oldest", "brightest", "darkest")


def _store(r: redis.Redis, n: int, lux_of) -> list[str]:
    jpeg = make_jpeg(64, 36)
    ids = []
    for i in range(n):
        ts = T0 + i * 0.35 + OFFSETS_MS[i % len(OFFSETS_MS)] / 1000
        ts = round(ts, 3)
        camera = ("garden", "porch", "yard")[i % 3]
        record = ImageRecord(timestamp=ts, image_data=jpeg, thumbnail=jpeg, camera=camera,
                             trigger="interval", lux=lux_of(i), width=64, height=36)
        new_id = image_id(camera, ts)
        save_image(r, record, 3600, new_id)
        ids.append(new_id)
    return ids


def _walk(client, query: str, limit: int) -> list[dict]:
    items, cursor = [], None
    for _ in range(500):
        url = f"/api/images?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.json)
        items += response.json["images"]
        cursor = response.json["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


def _expected(items: list[dict], sort: str) -> list[dict]:
    key = {
        "newest": lambda it: (-it["timestamp"],),
        "oldest": lambda it: (it["timestamp"],),
        "brightest": lambda it: (-it["lux"], -it["timestamp"]),
        "darkest": lambda it: (it["lux"], -it["timestamp"]),
    }[sort]
    return sorted(items, key=key)


@pytest.mark.parametrize("limit", [1, 2, 5, 7, 24, 100])
@pytest.mark.parametrize("sort", SORTS)
def test_every_picture_once_in_order_when_all_share_one_lux(r, client, sort, limit) -> None:
    ids = _store(r, 60, lambda i: 0.4)  # all night: one lux value
    items = _walk(client, f"sort={sort}&lux_max=2550", limit)
    got = [it["id"] for it in items]
    assert sorted(got) == sorted(ids), "a picture was skipped or shown twice"
    assert len(got) == len(set(got))
    assert [it["id"] for it in _expected(items, sort)] == got


@pytest.mark.parametrize("limit", [1, 3, 10, 100])
@pytest.mark.parametrize("sort", SORTS)
def test_every_picture_once_in_order_with_a_few_shared_lux_values(r, client, sort, limit) -> None:
    ids = _store(r, 45, lambda i: (0.4, 0.4, 12.5, 0.4, 300.0)[i % 5])
    items = _walk(client, f"sort={sort}", limit)
    got = [it["id"] for it in items]
    assert sorted(got) == sorted(ids) and len(got) == len(set(got))
    assert [it["id"] for it in _expected(items, sort)] == got


def test_darkest_first_with_a_light_ceiling_answers_instead_of_timing_out(r, client) -> None:
    _store(r, 30, lambda i: 0.4)
    response = client.get("/api/images?lux_max=2550&sort=darkest&limit=100")
    assert response.status_code == 200, response.json
    assert len(response.json["images"]) == 30 and response.json["next_cursor"] is None
