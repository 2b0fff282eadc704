"""GET /api/images: filters, sorts, paging and bad input, against a real Redis."""

from __future__ import annotations

import pytest
import redis

from server.search import query as queries
from tests.factories import reference_index, store_image, store_reference_image

T0 = 1_700_000_000.0


def _walk(client, query: str, limit: int = 5) -> list[dict]:
    items, cursor = [], None
    for _ in range(1000):
        url = f"/api/images?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url)
        assert response.status_code == 200, response.json
        items += response.json["images"]
        cursor = response.json["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


@pytest.fixture
def seeded(r: redis.Redis, app) -> list[str]:
    """Twelve images over two cameras, three triggers and a range of light."""
    ids = []
    for i in range(12):
        ids.append(store_image(r, camera="garden" if i % 2 else "door", timestamp=T0 + i * 60,
                               lux=10.0 * i, trigger=("interval", "motion", "sensor")[i % 3],
                               thumbnail=False))
    return ids


@pytest.fixture
def ref_index(r: redis.Redis) -> None:
    """The index as the reference project's README creates it (before the app starts)."""
    reference_index(r)


def test_empty_store_lists_nothing_and_counts_zero(client) -> None:
    body = client.get("/api/images").json
    assert body["images"] == [] and body["next_cursor"] is None
    assert body["count"] == {"value": 0, "exact": True, "total": 0}


def test_newest_first_with_metadata_and_urls_never_image_data(client, seeded) -> None:
    response = client.get("/api/images")
    assert response.status_code == 200
    images = response.json["images"]
    assert [i["id"] for i in images] == seeded[::-1]
    first = images[0]
    assert first["camera"] == "garden" and first["lux"] == 110.0 and first["trigger"] == "sensor"
    assert first["width"] == 320 and first["captured_at"].endswith("Z")
    assert first["thumbnail_url"] == f"/api/images/{first['id']}/thumbnail"
    assert "image_data" not in response.get_data(as_text=True)
    assert "thumbnail" not in first
    assert response.json["count"] == {"value": 12, "exact": True, "total": 12}
    assert response.json["stream_id"] != "0-0"


@pytest.mark.parametrize("query, expected", [
    ("lux_min=30&lux_max=60", [6, 5, 4, 3]),
    ("lux_min=100", [11, 10]),
    ("camera=door", [10, 8, 6, 4, 2, 0]),
    ("trigger=motion", [10, 7, 4, 1]),
    (f"since={T0 + 120}&until={T0 + 300}", [5, 4, 3, 2]),
    ("camera=garden&trigger=interval&lux_max=80", [3]),
    ("sort=oldest&lux_max=20", [0, 1, 2]),
    ("sort=brightest&camera=door", [10, 8, 6, 4, 2, 0]),
    ("sort=darkest&camera=garden", [1, 3, 5, 7, 9, 11]),
    ("lux_min=1000", []),
])
def test_filters_and_sorts(client, seeded, query: str, expected: list[int]) -> None:
    body = client.get(f"/api/images?{query}").json
    assert [i["id"] for i in body["images"]] == [seeded[n] for n in expected]
    assert body["count"] == {"value": len(expected), "exact": True, "total": 12}


def test_camera_filter_ignores_case_as_tags_do(client, seeded) -> None:
    assert len(client.get("/api/images?camera=DOOR").json["images"]) == 6


@pytest.mark.parametrize("sort", ["newest", "oldest", "brightest", "darkest"])
def test_paging_covers_everything_once_even_with_equal_timestamps(r, ref_index, client, sort) -> None:
    for i in range(9):
        store_reference_image(r, int(T0) + i, lux=i % 4)  # whole seconds, as the reference
    for i in range(9):
        store_image(r, camera="cam", timestamp=T0 + i // 3, lux=float(i % 4), thumbnail=False)
    pages = _walk(client, f"sort={sort}", limit=4)
    ids = [i["id"] for i in pages]
    assert len(ids) == len(set(ids)) == 18
    key = {"newest": lambda i: -i["timestamp"], "oldest": lambda i: i["timestamp"],
           "brightest": lambda i: -i["lux"], "darkest": lambda i: i["lux"]}[sort]
    assert [key(i) for i in pages] == sorted(key(i) for i in pages)


def test_paging_a_filter_across_many_pages(client, r, app) -> None:
    for i in range(40):
        store_image(r, camera="cam", timestamp=T0 + i, lux=float(i % 10), thumbnail=False)
    items = _walk(client, "lux_min=2&lux_max=5", limit=3)
    assert [i["timestamp"] for i in items] == [T0 + i for i in range(39, -1, -1) if 2 <= i % 10 <= 5]


def test_reference_hashes_are_listed(r, ref_index, client) -> None:
    store_reference_image(r, int(T0), 50)
    body = client.get("/api/images").json
    assert [i["id"] for i in body["images"]] == [str(int(T0))]
    assert body["images"][0]["lux"] == 50.0 and body["images"][0]["camera"] is None


def test_filtered_count_is_a_floor_past_the_cap(client, seeded, monkeypatch) -> None:
    monkeypatch.setattr(queries, "COUNT_CAP", 5)
    body = client.get("/api/images?lux_min=0").json
    assert body["count"] == {"value": 5, "exact": False, "total": 12}
    assert client.get("/api/images?lux_min=90").json["count"]["exact"] is True


def test_later_pages_carry_no_count(client, seeded) -> None:
    first = client.get("/api/images?limit=5").json
    second = client.get(f"/api/images?limit=5&cursor={first['next_cursor']}").json
    assert second["count"] is None and len(second["images"]) == 5


@pytest.mark.parametrize("query, parameter", [
    ("lux_min=bright", "lux_min"),
    ("lux_max=nan", "lux_max"),
    ("lux_min=50&lux_max=10", "lux_min"),
    ("since=yesterday", "since"),
    ("since=20&until=10", "since"),
    ("until=1e300", "until"),
    ("since=-5", "since"),
    ("limit=100000", "limit"),
    ("limit=0", "limit"),
    ("limit=-3", "limit"),
    ("sort=random", "sort"),
    ("camera=garden|door", "camera"),
    ("camera=*", "camera"),
    ("camera=@lux:[0 1]", "camera"),
    ("camera=a}b", "camera"),
    ("trigger=mot ion", "trigger"),
    ("cursor=nonsense", "cursor"),
    ("cursor=1~2~garden:1-ab12~", "cursor"),
])
def test_bad_parameters_get_a_400_naming_them(client, query: str, parameter: str) -> None:
    response = client.get(f"/api/images?{query}")
    assert response.status_code == 400
    error = response.json["error"]
    assert error["code"] == "bad_parameter" and error["parameter"] == parameter
    assert parameter in error["message"] and "Traceback" not in error["message"]
