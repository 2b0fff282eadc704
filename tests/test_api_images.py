"""One image through the API: metadata, bytes, thumbnails, delete, keep and undo."""

from __future__ import annotations

import io
import time

import pytest
import redis
from PIL import Image

from pi.contract import image_key
from server.core.services import services
from server.gallery.images import ThumbnailCache
from tests.factories import make_jpeg, reference_index, store_image, store_reference_image

T0 = 1_700_000_000.0


@pytest.fixture
def image_id(r: redis.Redis, app) -> str:
    return store_image(r, camera="garden", timestamp=T0, lux=123.4, trigger="motion", ttl=3600,
                       width=640, height=360, extra={"location_note": "by the pond"})


def test_detail_has_every_field_ttl_and_download_name(client, image_id: str) -> None:
    response = client.get(f"/api/images/{image_id}")
    assert response.status_code == 200
    body = response.json
    assert body["id"] == image_id and body["camera"] == "garden" and body["lux"] == 123.4
    fields = dict(body["fields"])
    assert [name for name, _ in body["fields"]][:4] == ["timestamp", "captured_at", "camera", "trigger"]
    assert body["fields"][-1] == ["location_note", "by the pond"]
    assert fields["exposure_time"] == "10000" and fields["trigger"] == "motion"
    assert "image_data" not in fields and "thumbnail" not in fields
    assert body["kept"] is False and 3590 < body["ttl_seconds"] <= 3600
    assert abs(body["expires_at"] - (time.time() + body["ttl_seconds"])) < 2
    assert body["has_thumbnail"] is True
    assert body["download_name"] == "garden_2023-11-14_22-13-20_UTC.jpg"
    assert body["download_url"] == f"/api/images/{image_id}/image?download=1"


@pytest.mark.parametrize("bad", ["nope:1-abcd", "a*b", "x%20y", "..", "image:x", "a" * 80,
                                 "cam:1-ab12%0Aflushall", "%2e%2e%2fetc"])
def test_unknown_and_malformed_ids_are_404(client, bad: str) -> None:
    for url in (f"/api/images/{bad}", f"/api/images/{bad}/image", f"/api/images/{bad}/thumbnail"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json["error"]["code"] in ("image_not_found", "not_found")


def test_an_id_never_reaches_keys_outside_image(client, r, app) -> None:
    r.hset("secret", mapping={"timestamp": "1", "image_data": b"x"})
    r.hset("image:secret", mapping={"note": "no timestamp"})
    assert client.get("/api/images/secret").status_code == 404
    assert client.get("/api/images/..:secret").status_code == 404


def test_original_is_served_with_type_etag_and_immutable_caching(client, r, image_id: str) -> None:
    response = client.get(f"/api/images/{image_id}/image")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.data == r.hget(image_key(image_id), "image_data")
    assert "immutable" in response.headers["Cache-Control"]
    assert "max-age=31536000" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    again = client.get(f"/api/images/{image_id}/image", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag


def test_download_gets_a_good_file_name(client, image_id: str) -> None:
    response = client.get(f"/api/images/{image_id}/image?download=1")
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=garden_2023-11-14_22-13-20_UTC.jpg")


def test_a_hash_cannot_make_the_gallery_serve_html(client, r, app) -> None:
    r.hset("image:evil", mapping={"timestamp": "1", "mime_type": "text/html",
                                  "image_data": b"<script>alert(1)</script>"})
    response = client.get("/api/images/evil/image")
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_stored_thumbnail_is_served_with_304(client, r, image_id: str) -> None:
    response = client.get(f"/api/images/{image_id}/thumbnail")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.data == r.hget(image_key(image_id), "thumbnail")
    assert "immutable" in response.headers["Cache-Control"]
    again = client.get(f"/api/images/{image_id}/thumbnail",
                       headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.fixture
def ref_index(r: redis.Redis) -> None:
    reference_index(r)


@pytest.mark.parametrize("ttl", [600, None])
def test_reference_image_gets_a_thumbnail_cached_without_touching_its_ttl(r, ref_index, client,
                                                                           ttl) -> None:
    ref_id = store_reference_image(r, int(T0), 80, ttl=ttl)
    key = image_key(ref_id)
    ttl_before = r.pttl(key)
    response = client.get(f"/api/images/{ref_id}/thumbnail")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    thumb = Image.open(io.BytesIO(response.data))
    assert thumb.size == (480, 270)
    assert len(response.data) < r.hstrlen(key, "image_data")
    assert r.hget(key, "thumbnail") == response.data
    if ttl is None:
        assert r.pttl(key) == -1
    else:
        assert 0 < ttl_before - r.pttl(key) < 2000
    # Served from the cache from now on, with the same ETag.
    cached = client.get(f"/api/images/{ref_id}/thumbnail")
    assert cached.data == response.data and cached.headers["ETag"] == response.headers["ETag"]
    assert client.get(f"/api/images/{ref_id}").json["has_thumbnail"] is True


def test_thumbnail_cache_never_recreates_an_expired_hash(app, r) -> None:
    cache = ThumbnailCache(services(app).redis).script
    assert cache(keys=["image:gone"], args=["thumbnail", b"x"]) == -1
    assert r.exists("image:gone") == 0


def test_undecodable_image_gets_a_placeholder_not_an_error(client, r, app) -> None:
    r.hset("image:broken", mapping={"timestamp": "5", "image_data": b"not a jpeg"})
    response = client.get("/api/images/broken/thumbnail")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert r.hexists("image:broken", "thumbnail") == 0


def test_delete_needs_csrf_then_removes_the_image(client, r, image_id: str) -> None:
    assert client.delete(f"/api/images/{image_id}").status_code == 403
    assert r.exists(image_key(image_id))
    response = client.delete(f"/api/images/{image_id}", headers=client.csrf_headers)
    assert response.status_code == 200 and response.json == {"deleted": image_id}
    assert not r.exists(image_key(image_id))
    assert client.get("/api/images").json["images"] == []
    assert client.delete(f"/api/images/{image_id}", headers=client.csrf_headers).status_code == 404


def test_keep_persists_and_undo_expires_again(client, r, image_id: str) -> None:
    key = image_key(image_id)
    assert client.post(f"/api/images/{image_id}/keep").status_code == 403
    assert client.get(f"/api/images/{image_id}/keep").status_code == 405
    response = client.post(f"/api/images/{image_id}/keep", headers=client.csrf_headers)
    assert response.status_code == 200
    previous = response.json["previous_expires_at"]
    assert abs(previous - (time.time() + 3600)) < 5
    assert r.pttl(key) == -1
    assert client.get(f"/api/images/{image_id}").json["kept"] is True
    undo = client.post(f"/api/images/{image_id}/expire", json={"expires_at": previous},
                       headers=client.csrf_headers)
    assert undo.status_code == 200 and undo.json["kept"] is False
    assert 3590_000 < r.pttl(key) <= 3600_000
    detail = client.get(f"/api/images/{image_id}").json
    assert detail["kept"] is False and abs(detail["expires_at"] - previous) < 2


def test_undo_never_expires_an_image_at_once(client, r, image_id: str) -> None:
    client.post(f"/api/images/{image_id}/keep", headers=client.csrf_headers)
    response = client.post(f"/api/images/{image_id}/expire", json={"expires_at": 1},
                           headers=client.csrf_headers)
    assert response.status_code == 200 and r.exists(image_key(image_id))
    assert r.pttl(image_key(image_id)) > 5000


@pytest.mark.parametrize("body", [{"expires_at": "soon"}, {"expires_at": True}, [1]])
def test_expire_refuses_an_expires_at_that_is_not_a_number(client, image_id: str, body) -> None:
    response = client.post(f"/api/images/{image_id}/expire", json=body, headers=client.csrf_headers)
    assert response.status_code == 400
    assert response.json["error"]["parameter"] == "expires_at"


def test_keep_and_expire_of_unknown_image_is_404(client, app) -> None:
    assert client.post("/api/images/cam:1-ab12/keep", headers=client.csrf_headers).status_code == 404
    response = client.post("/api/images/cam:1-ab12/expire", json={"expires_at": time.time() + 60},
                           headers=client.csrf_headers)
    assert response.status_code == 404
    assert not services(client.application).redis.exists("image:cam:1-ab12")


def test_neighbors_follow_the_filter_and_sort(client, r, app) -> None:
    ids = [store_image(r, camera="cam", timestamp=T0 + i, lux=float(i), thumbnail=False)
           for i in range(6)]
    body = client.get(f"/api/images/{ids[3]}/neighbors").json
    assert body["previous"]["id"] == ids[4] and body["next"]["id"] == ids[2]
    body = client.get(f"/api/images/{ids[3]}/neighbors?lux_min=2&lux_max=3").json
    assert body["previous"] is None and body["next"]["id"] == ids[2]
    body = client.get(f"/api/images/{ids[0]}/neighbors?sort=oldest").json
    assert body["previous"] is None and body["next"]["id"] == ids[1]
    assert client.get("/api/images/cam:1-ab12/neighbors").status_code == 404


def test_image_with_other_mime_type_keeps_it(client, r, app) -> None:
    png = io.BytesIO()
    Image.open(io.BytesIO(make_jpeg(64, 36))).save(png, "PNG")
    r.hset("image:png1", mapping={"timestamp": "7", "mime_type": "image/png",
                                  "image_data": png.getvalue()})
    response = client.get("/api/images/png1/image")
    assert response.mimetype == "image/png"
    assert client.get("/api/images/png1/thumbnail").mimetype == "image/jpeg"
