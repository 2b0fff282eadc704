"""The gallery in headless Chromium: grid, filters, detail, live updates, delete, chart, safety."""

from __future__ import annotations

import time

from tests.browser import (
    BROWSER_TESTS,
    DESKTOP,
    PHONE,
    ConsoleErrors,
    page_query,
    screenshot,
    seed_demo_gallery,
    store_scene,
    wait_for_thumbnails,
)

pytestmark = BROWSER_TESTS

XSS = "<img src=x onerror=alert(1)>"


def _card_ids(page) -> list[str]:
    return page.eval_on_selector_all(".image-card", "cards => cards.map(c => c.dataset.id)")


def test_gallery_end_to_end(gallery, browser, r, artifacts_dir) -> None:
    now = time.time()
    ids = seed_demo_gallery(r, count=14, step=25 * 60, now=now)
    evil = store_scene(r, "driveway", now - 60 * 60 * 9, trigger=XSS, extra={"note": XSS})
    page = browser.new_page(viewport=DESKTOP)
    errors = ConsoleErrors(page)
    page.goto(gallery.url + "/")

    # The grid shows thumbnails, newest first, with the count; the chart and the cameras are
    # one click away.
    wait_for_thumbnails(page, 8)
    assert _card_ids(page)[:3] == ids[:3]
    assert page.inner_text("#result-count") == "15 images"
    page.click("#overview-toggle")
    page.wait_for_selector("#chart svg .chart-line", state="attached")  # a flat line (night) has no height
    assert page.locator("#chart .chart-hit").count() >= 5
    page.wait_for_selector(".camera-chip.is-online >> text=garden")
    assert "offline" in page.inner_text(".camera-chip[data-camera=driveway]").lower()
    page.wait_for_selector(".live-state.is-live")
    assert page.inner_text("#stat-count") == "15"
    page.wait_for_timeout(300)
    screenshot(page, artifacts_dir / "gallery-desktop.png")
    page.click("#overview-toggle")  # folded away again: the pictures come first

    # Metadata with markup shows as text and never runs.
    card = page.locator(f'.image-card[data-id="{evil}"]')
    assert card.locator(".badge-trigger").inner_text().lower() == XSS.lower()
    assert page.locator('img[src="x"]').count() == 0

    # A filter narrows the grid and lands in the URL.
    page.select_option("#f-camera", "driveway")
    page.wait_for_function("() => document.querySelectorAll('.image-card').length === 6")
    assert page_query(page)["camera"] == "driveway"
    cams = page.eval_on_selector_all(".meta-camera", "n => n.map(x => x.textContent)")
    assert set(cams) == {"driveway"}
    assert page.inner_text("#result-count") == "6 of 15 images match"
    page.go_back()
    page.wait_for_function("() => document.querySelectorAll('.image-card').length === 15")
    assert page.input_value("#f-camera") == ""

    page.fill("#f-lux-min", "100000")
    page.dispatch_event("#f-lux-min", "change")
    page.wait_for_selector("#empty:not(.is-hidden)")
    assert page.inner_text("#empty-title") == "Nothing matches this filter"
    page.click("#empty-clear")
    wait_for_thumbnails(page, 8)

    # The detail view opens, shows every field and moves with the arrow keys.
    page.click(f'.image-card[data-id="{ids[1]}"]')
    page.wait_for_selector("#detail.is-active")
    page.wait_for_function("id => document.querySelector('#detail-fields code')?.textContent === id",
                           arg=ids[1])
    assert page_query(page)["image"] == ids[1]
    fields = page.inner_text("#detail-fields")
    for label in ("Light (lux)", "Camera", "Exposure (µs)", "Colour temperature (K)"):
        assert label in fields
    assert page.inner_text("#detail-ttl-text").startswith("Expires in")
    download = page.get_attribute("#detail-download", "download")
    assert download.startswith("garden_") and download.endswith("_UTC.jpg")
    screenshot(page, artifacts_dir / "gallery-detail.png")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("id => new URL(location).searchParams.get('image') === id", arg=ids[2])
    page.wait_for_function("id => document.querySelector('#detail-fields code')?.textContent === id",
                           arg=ids[2])
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("id => new URL(location).searchParams.get('image') === id", arg=ids[1])

    # Keep, then undo.
    page.click("#detail-keep")
    page.wait_for_selector("#detail-ttl.is-kept")
    assert r.ttl(f"image:{ids[1]}") == -1
    page.click("#detail-keep")
    page.wait_for_selector("#detail-ttl:not(.is-kept)")
    assert r.ttl(f"image:{ids[1]}") > 0
    page.keyboard.press("Escape")
    page.wait_for_selector("#detail", state="hidden")
    assert "image" not in page_query(page)

    # The detail of the hostile image shows the markup as text.
    page.click(f'.image-card[data-id="{evil}"]')
    page.wait_for_function("() => document.querySelector('#detail-fields')?.textContent.includes('note')")
    assert XSS in page.inner_text("#detail-fields")
    assert page.locator('img[src="x"]').count() == 0
    page.keyboard.press("Escape")

    # A new picture written to Redis appears at the top without a reload (for a user at the
    # top; one who scrolled down is offered "N new" instead: see test_browser_gallery_v2).
    page.evaluate("window.scrollTo(0, 0)")
    fresh = store_scene(r, "garden", time.time(), trigger="motion")
    page.wait_for_selector(f'.image-card[data-id="{fresh}"]', timeout=10000)
    assert _card_ids(page)[0] == fresh
    assert page.inner_text("#result-count") == "16 images"

    # Delete it again from its detail view.
    page.click(f'.image-card[data-id="{fresh}"]')
    page.wait_for_selector("#detail.is-active")
    page.wait_for_function("id => document.querySelector('#detail-fields code')?.textContent === id",
                           arg=fresh)
    page.click("#detail-delete")
    assert page.inner_text("#detail-delete") == "Really delete?"
    page.click("#detail-delete")
    page.wait_for_selector(f'.image-card[data-id="{fresh}"]', state="detached")
    assert not r.exists(f"image:{fresh}")
    page.keyboard.press("Escape")

    # A click on the chart filters the grid to that time: the oldest bucket holds one picture.
    page.wait_for_selector("#detail", state="hidden")
    page.click("#overview-toggle")
    page.wait_for_selector("#chart svg .chart-hit", state="attached")
    page.locator("#chart .chart-hit").first.click()
    page.wait_for_function("() => new URL(location).searchParams.has('since')")
    query = page_query(page)
    assert float(query["since"]) <= float(r.hget(f"image:{evil}", "timestamp")) <= float(query["until"])
    page.wait_for_function("() => document.querySelectorAll('.image-card').length === 1")
    assert _card_ids(page) == [evil]
    assert page.inner_text("#result-count") == "1 of 15 images match"
    # ...and takes the user to those pictures: the overview folds away.
    page.wait_for_selector("#overview-panel:not(.is-open)", state="attached")
    assert page.get_attribute("#overview-toggle", "aria-expanded") == "false"

    # Phone width: same page, one screenful.
    page.goto(gallery.url + "/")
    wait_for_thumbnails(page, 4)
    screenshot(page, artifacts_dir / "gallery-phone.png", PHONE)
    screenshot(page, artifacts_dir / "gallery-phone-full.png", full_page=True)
    errors.assert_none()


def test_empty_gallery_says_so(gallery, browser, artifacts_dir) -> None:
    page = browser.new_page(viewport=DESKTOP)
    errors = ConsoleErrors(page)
    page.goto(gallery.url + "/")
    page.wait_for_selector("#empty:not(.is-hidden)")
    assert page.inner_text("#empty-title") == "No images yet"
    assert page.inner_text("#result-count") == "0 images"
    page.click("#overview-toggle")
    page.wait_for_selector("#chart .chart-empty")
    assert page.inner_text("#chart") == "No light readings yet."
    screenshot(page, artifacts_dir / "gallery-empty.png")
    errors.assert_none()


def test_shared_link_opens_the_filter_and_the_image(gallery, browser, r, artifacts_dir) -> None:
    ids = seed_demo_gallery(r, count=6, step=600)
    page = browser.new_page(viewport=PHONE)
    errors = ConsoleErrors(page)
    page.goto(f"{gallery.url}/?camera=garden&image={ids[2]}")
    page.wait_for_selector("#detail.is-active")
    page.wait_for_function("id => document.querySelector('#detail-fields code')?.textContent === id",
                           arg=ids[2])
    assert page.input_value("#f-camera") == "garden"
    page.wait_for_timeout(300)
    screenshot(page, artifacts_dir / "gallery-phone-detail.png")
    page.keyboard.press("Escape")
    page.wait_for_selector("#detail", state="hidden")
    wait_for_thumbnails(page, 1)
    assert set(page.eval_on_selector_all(".meta-camera", "n => n.map(x => x.textContent)")) == {"garden"}
    page.reload()
    wait_for_thumbnails(page, 1)
    assert page.input_value("#f-camera") == "garden"
    errors.assert_none()
