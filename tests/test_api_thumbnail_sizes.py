"""The grid asks for card-sized thumbnails (`?w=240`): smaller, cached for good, same picture."""

from __future__ import annotations

import io

from PIL import Image

from tests.factories import store_image


def test_a_card_sized_copy_is_smaller_and_cacheable(client, r, app) -> None:
    image_id = store_image(r, width=1280, height=720)
    r.hset(f"image:{image_id}", "thumbnail", r.hget(f"image:{image_id}", "image_data"))  # a big one
    whole = client.get(f"/api/images/{image_id}/thumbnail")
    small = client.get(f"/api/images/{image_id}/thumbnail?w=240")
    assert small.status_code == 200 and small.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(small.data)).size == (240, 135)
    assert len(small.data) < len(whole.data)
    assert "immutable" in small.headers["Cache-Control"]
    assert small.headers["ETag"] != whole.headers["ETag"]
    again = client.get(f"/api/images/{image_id}/thumbnail?w=240",
                       headers={"If-None-Match": small.headers["ETag"]})
    assert again.status_code == 304


def test_an_unknown_width_is_refused_by_name(client, r, app) -> None:
    image_id = store_image(r)
    response = client.get(f"/api/images/{image_id}/thumbnail?w=999")
    assert response.status_code == 400 and response.json["error"]["parameter"] == "w"
