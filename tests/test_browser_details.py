"""The gallery in headless Chromium, QA's findings: un-keeping after a reload, custom and
linked time ranges, friendly field names, the phone layout, toasts and chart bars."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from pi.contract import CameraStatus, image_key, save_heartbeat
from tests.browser import (
    BROWSER_TESTS,
    DESKTOP,
    PHONE,
    ConsoleErrors,
    in_first_screen,
    layout_relation,
    page_query,
    screenshot,
    seed_demo_gallery,
    store_scene,
    wait_for_thumbnails,
)

pytestmark = BROWSER_TESTS


def _box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def _overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def _open_detail(page, image_id: str) -> None:
    page.wait_for_selector("#detail.is-active")
    page.wait_for_function("id => document.querySelector('#detail-fields code')?.textContent === id",
                           arg=image_id)


# --- 4. Un-keep after a reload ----------------------------------------------------------------

def test_a_picture_kept_earlier_can_be_let_expire(gallery, browser, r, artifacts_dir) -> None:
    picture = store_scene(r, "garden", time.time() - 600)
    r.persist(image_key(picture))  # kept in an earlier visit: its old expiry is gone
    page = browser.new_page(viewport=DESKTOP)
    errors = ConsoleErrors(page)
    page.goto(f"{gallery.url}/?image={picture}")
    _open_detail(page, picture)
    page.wait_for_selector("#detail-ttl.is-kept")

    keep = page.locator("#detail-keep")
    assert keep.inner_text() == "Let it expire" and keep.is_enabled()
    # says what letting it expire means: the expiry it was stored with (a day here), not a fixed one
    assert "expiry it was stored with" in page.inner_text("#detail-ttl-text")
    screenshot(page, artifacts_dir / "details-kept.png")

    keep.click()
    page.wait_for_selector("#detail-ttl:not(.is-kept)")
    assert page.inner_text("#detail-ttl-text").startswith("Expires in 23 h")
    assert 86000 < r.ttl(image_key(picture)) <= 86400
    assert keep.inner_text() == "Keep forever"
    assert "expires again as planned: in 23 h" in page.inner_text("#toasts")

    page.click("#toasts .toast-action")  # "Keep it": changed their mind
    page.wait_for_selector("#detail-ttl.is-kept")
    assert r.ttl(image_key(picture)) == -1
    errors.assert_none()


# --- 5. Custom ranges and ranges in links -------------------------------------------------------

def test_an_inverted_custom_range_is_refused_beside_the_inputs(gallery, browser, r,
                                                                 artifacts_dir) -> None:
    ids = seed_demo_gallery(r, count=8, step=1800)
    page = browser.new_page(viewport=DESKTOP)
    errors = ConsoleErrors(page)
    page.goto(gallery.url + "/")
    wait_for_thumbnails(page, 4)
    page.click("#overview-toggle")  # the chart too must never see the bad range
    page.click('[data-range="custom"]')
    page.wait_for_function("() => new URL(location).searchParams.has('since')")
    page.wait_for_function("n => document.querySelectorAll('.image-card').length === n", arg=8)
    page.wait_for_selector("#chart svg .chart-hit", state="attached")
    url_before = page.url
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))

    later = page.evaluate("t => window.gallery.toLocalInput(window.gallery.fromLocalInput(t) + 86400)",
                          page.input_value("#f-until"))
    page.fill("#f-since", later)  # a start a day after the end
    page.dispatch_event("#f-since", "change")
    page.wait_for_selector("#custom-range-error:not(.is-hidden)")
    assert "start is after the end" in page.inner_text("#custom-range-error")
    assert "is-danger" in page.get_attribute("#f-since", "class")
    page.locator("#filter-bar").screenshot(path=str(artifacts_dir / "details-range-error.png"))

    # Nothing changed: the URL, the grid, and no request with the bad range went out, even
    # when a new picture makes the page refresh its panels.
    store_scene(r, "garden", time.time() - 30)
    page.wait_for_timeout(2500)
    assert page.url == url_before
    for url in requests:
        query = parse_qs(urlsplit(url).query)
        if "since" in query and "until" in query:
            assert float(query["since"][0]) <= float(query["until"][0]), url
    assert "must not be later" not in page.inner_text("#chart")
    assert page.locator("#notice").is_hidden()
    assert set(ids) <= set(page.eval_on_selector_all(".image-card", "c => c.map(x => x.dataset.id)"))
    assert page.locator("#toasts .toast").count() == 0

    # Fixing the start applies it and clears the message.
    page.fill("#f-since", page.input_value("#f-until")[:10] + "T00:00:00")
    page.dispatch_event("#f-since", "change")
    page.wait_for_selector("#custom-range-error", state="hidden")
    page.wait_for_function("u => location.href !== u", arg=url_before)
    assert "is-danger" not in page.get_attribute("#f-since", "class")

    # The same for an inverted lux range.
    page.fill("#f-lux-min", "500")
    page.fill("#f-lux-max", "10")
    page.dispatch_event("#f-lux-max", "change")
    page.wait_for_selector("#lux-error:not(.is-hidden)")
    assert "lux_max" not in page_query(page) and page.locator("#toasts .toast").count() == 0
    errors.assert_none()


@pytest.mark.parametrize("link", ["since=9999999999999", "until=-5&camera=garden",
                                  "since=1700003600&until=1700000000"])
def test_an_unusable_time_in_a_link_is_left_out_with_a_toast(gallery, browser, r, link) -> None:
    seed_demo_gallery(r, count=4, step=600)
    page = browser.new_page(viewport=DESKTOP)
    errors = ConsoleErrors(page)
    warnings: list[str] = []
    page.on("console", lambda msg: warnings.append(msg.text) if msg.type == "warning" else None)
    page.goto(f"{gallery.url}/?{link}")
    wait_for_thumbnails(page, 1)
    page.wait_for_selector("#toasts .toast")
    assert "left out" in page.inner_text("#toasts")
    assert "since" not in page_query(page) and "until" not in page_query(page)
    assert page.locator("#notice").is_hidden()
    assert "is-selected" in page.get_attribute('[data-range="all"]', "class")
    page.wait_for_timeout(300)
    assert not [w for w in warnings if "conform" in w or "NaN" in w], warnings
    errors.assert_none()


# --- 6. Friendly field names -----------------------------------------------------------------------

def test_every_stored_field_has_a_friendly_label(gallery, browser, r, artifacts_dir) -> None:
    extra = {"digital_gain": "1.02", "focus_fom": "812", "sensor_temperature": "41.5",
             "f_number": "1.8", "focal_length": "4.74", "source_file": "garden_0001.jpg",
             "white_balance_mode": "auto"}
    picture = store_scene(r, "garden", time.time() - 60, extra=extra)
    page = browser.new_page(viewport=DESKTOP)
    errors = ConsoleErrors(page)
    page.goto(f"{gallery.url}/?image={picture}")
    _open_detail(page, picture)
    labels = page.eval_on_selector_all("#detail-fields th", "ths => ths.map(t => t.innerText.trim())")
    for label in ("Digital gain", "Focus figure of merit", "Sensor temperature (°C)",
                  "Aperture (f-number)", "Focal length (mm)", "Source file",
                  "White balance mode", "Captured (UTC)", "Light (lux)"):
        assert label in labels, labels
    assert not [label for label in labels if "_" in label], labels
    # The Redis field name is still there for people who query Redis: on hover.
    row = page.locator("#detail-fields tr", has_text="Digital gain")
    assert row.locator("th").get_attribute("title") == "Redis field: digital_gain"
    row.hover()
    assert row.locator(".field-key").inner_text() == "digital_gain"
    screenshot(page, artifacts_dir / "details-fields.png")
    errors.assert_none()


# --- 6. Phone layout, the custom filter row, toasts -------------------------------------------------

def _with_cameras(r) -> None:
    for camera in ("garden", "driveway"):
        save_heartbeat(r, CameraStatus(camera=camera, host="pi-" + camera, started_at=time.time(),
                                       last_capture=time.time() - 60), 600)


def test_pictures_come_first_and_the_panels_are_one_click_away(gallery, browser, r,
                                                               artifacts_dir) -> None:
    seed_demo_gallery(r, count=12, step=1800)
    _with_cameras(r)
    page = browser.new_page(viewport=PHONE)
    errors = ConsoleErrors(page, failed_requests_ok=True)  # the tiles' snapshots: no previews
    page.goto(gallery.url + "/")
    wait_for_thumbnails(page, 6)
    page.wait_for_timeout(300)
    screenshot(page, artifacts_dir / "details-phone.png")

    # Pictures fill the first screen; the cameras, live view, chart and store are folded away.
    assert in_first_screen(page, ".image-card img")["whole"] >= 6
    assert page.locator("#chart").is_hidden() and page.locator("#live-tiles").is_hidden()
    page.click("#overview-toggle")
    page.wait_for_selector("#chart svg .chart-hit", state="attached")
    assert page.get_attribute("#overview-toggle", "aria-expanded") == "true"
    assert page.locator("#chart svg").bounding_box()["width"] <= PHONE["width"]
    assert page.inner_text("#stat-count") == "12"
    # Live tiles are one compact row on a phone.
    page.wait_for_selector('.live-tile[data-camera="driveway"]')
    tiles = [page.locator(f'.live-tile[data-camera="{c}"]').bounding_box() for c in ("driveway", "garden")]
    assert abs(tiles[0]["y"] - tiles[1]["y"]) < 1 and tiles[0]["height"] < 160

    # Desktop: the same, with larger tiles once opened.
    page.set_viewport_size(DESKTOP)
    page.reload()
    wait_for_thumbnails(page, 12)
    assert page.locator("#stats").is_hidden()
    page.click("#overview-toggle")
    page.wait_for_selector("#chart svg .chart-hit", state="attached")
    assert page.locator("#stats").is_visible()
    page.wait_for_selector('.live-tile[data-camera="driveway"]')
    tiles = [page.locator(f'.live-tile[data-camera="{c}"]').bounding_box() for c in ("driveway", "garden")]
    assert tiles[0]["height"] > 160
    screenshot(page, artifacts_dir / "details-desktop.png")
    errors.assert_none()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_custom_range_is_one_tidy_row_and_toasts_leave_the_filters_free(
        gallery, browser, r, artifacts_dir, viewport) -> None:
    seed_demo_gallery(r, count=6, step=1800)
    page = browser.new_page(viewport=viewport)
    errors = ConsoleErrors(page)
    page.goto(gallery.url + "/")
    wait_for_thumbnails(page, 2)
    if viewport is PHONE:
        page.click("#filters-open")  # on a phone the filters are in a drawer
        page.wait_for_selector("#filter-drawer.is-active")
    page.click('[data-range="custom"]')
    page.wait_for_selector("#custom-range:not(.is-hidden)")
    custom = '[data-range="custom"]'
    filters = "#filter-bar" if viewport is DESKTOP else "#filter-drawer"
    if viewport is DESKTOP:
        # The filters on one row; the range on the row below.
        assert layout_relation(page, "#f-sort", custom) == "same row"
        assert layout_relation(page, "#f-since", "#f-until") == "same row"
        assert layout_relation(page, "#f-since", custom) == "below"
    else:
        # From and To line up, one under the other, both in view.
        assert layout_relation(page, "#f-until", "#f-since") == "below"
        assert _box(page, "#f-since")["x"] == _box(page, "#f-until")["x"]
        assert in_first_screen(page, "#f-since, #f-until")["whole"] == 2
    name = "desktop" if viewport is DESKTOP else "phone"
    page.locator(filters).screenshot(path=str(artifacts_dir / f"details-custom-{name}.png"))

    # A toast never covers the filters (a sticky bar at the top, or the phone's drawer).
    for scroll in (0, 400, 1200):
        page.evaluate("y => window.scrollTo(0, y)", scroll)
        page.wait_for_timeout(100)
        page.evaluate("() => window.gallery.toast('Something to say about the pictures.', 'info')")
        page.wait_for_timeout(100)
        toast = _box(page, "#toasts .toast:last-child")
        assert not _overlap(toast, _box(page, filters)), (scroll, toast, _box(page, filters))
        page.evaluate("() => document.getElementById('toasts').replaceChildren()")
    errors.assert_none()


# --- 6. Chart buckets --------------------------------------------------------------------------------

def test_a_bucket_with_one_reading_still_has_a_bar_to_see_and_click(gallery, browser, r,
                                                                     artifacts_dir) -> None:
    now = time.time()
    lone = store_scene(r, "garden", now - 5 * 3600, lux=250)
    for i in range(6):
        store_scene(r, "garden", now - i * 600, lux=100 + 40 * i)
    page = browser.new_page(viewport=DESKTOP)
    errors = ConsoleErrors(page)
    page.goto(gallery.url + "/")
    wait_for_thumbnails(page, 2)
    page.click("#overview-toggle")
    page.wait_for_selector("#chart svg .chart-hit")
    rects = "nodes => nodes.map(n => n.getBoundingClientRect().toJSON())"
    bars = page.eval_on_selector_all("#chart .chart-bar", rects)
    hits = page.eval_on_selector_all("#chart .chart-hit", rects)
    assert len(bars) == len(hits) >= 2
    assert all(b["height"] >= 5.9 and b["width"] >= 4 for b in bars), bars
    assert all(h["width"] >= 12 for h in hits), hits
    page.locator("#chart").screenshot(path=str(artifacts_dir / "details-chart.png"))

    # Clicking the lone picture's bar (min == max) shows that picture.
    first = bars[0]
    page.mouse.click(first["x"] + first["width"] / 2, first["y"] + first["height"] / 2)
    page.wait_for_function("() => new URL(location).searchParams.has('since')")
    page.wait_for_function("() => document.querySelectorAll('.image-card').length === 1")
    assert page.eval_on_selector(".image-card", "c => c.dataset.id") == lone
    errors.assert_none()
