"""Gallery v2 in headless Chromium: pictures first, select many, the viewer, jumping in time,
light to run, and accessibility (axe-core from the npm registry)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.browser import (
    BROWSER_TESTS,
    ConsoleErrors,
    in_first_screen,
    layout_relation,
    page_query,
    screenshot,
    seed_demo_gallery,
    wait_for_thumbnails,
)

pytestmark = BROWSER_TESTS

WIDE = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"


def _open(browser, url: str, viewport: dict, **context):
    ctx = browser.new_context(viewport=viewport, **context)
    page = ctx.new_page()
    errors = ConsoleErrors(page, failed_requests_ok=True)
    page.goto(url)
    return page, errors


@pytest.mark.parametrize(("viewport", "at_least"), [(WIDE, 12), (PHONE, 6)], ids=["1440x900", "390x844"])
def test_first_screen_shows_pictures_first(gallery, browser, r, artifacts_dir, viewport, at_least) -> None:
    seed_demo_gallery(r, count=40, step=20 * 60)
    page, errors = _open(browser, gallery.url + "/", viewport)
    wait_for_thumbnails(page, at_least)
    page.wait_for_timeout(500)
    whole = in_first_screen(page, ".image-card img")["whole"]
    assert whole >= at_least, f"{whole} whole thumbnails in the first screen"
    # The filters sit above the pictures; the chart, stats and live view are out of the way.
    assert layout_relation(page, "#filter-bar", "#grid") == "above"
    assert in_first_screen(page, "#chart")["partly"] == 0
    assert in_first_screen(page, "#live-tiles")["partly"] == 0
    # ...but one click away.
    page.click("#overview-toggle")
    page.wait_for_selector("#chart svg .chart-hit", state="attached")
    assert page.get_attribute("#overview-toggle", "aria-expanded") == "true"
    name = f"v2-first-screen-{viewport['width']}x{viewport['height']}.png"
    page.click("#overview-toggle")
    screenshot(page, artifacts_dir / name)
    errors.assert_none()


def test_phone_filters_in_a_drawer_with_removable_chips(gallery, browser, r, artifacts_dir) -> None:
    seed_demo_gallery(r, count=20, step=30 * 60)
    page, errors = _open(browser, gallery.url + "/?camera=driveway&sort=oldest", PHONE)
    wait_for_thumbnails(page, 3)
    chips = page.locator("#filter-chips .filter-chip")
    assert chips.count() == 2
    assert "driveway" in chips.first.inner_text()
    # The drawer holds the whole form.
    page.click("#filters-open")
    page.wait_for_selector("#filter-drawer.is-active")
    assert page.locator("#f-lux-min").is_visible()
    screenshot(page, artifacts_dir / "v2-phone-drawer.png")
    page.keyboard.press("Escape")
    page.wait_for_selector("#filter-drawer.is-active", state="detached")
    # Removing a chip removes that filter, and the URL follows.
    page.locator("#filter-chips .filter-chip", has_text="driveway").locator("button").click()
    page.wait_for_function("() => !new URLSearchParams(location.search).has('camera')")
    assert page_query(page).get("sort") == "oldest"
    errors.assert_none()


def test_static_files_are_compressed_and_cached_for_good(gallery, browser, r) -> None:
    seed_demo_gallery(r, count=4)
    page, errors = _open(browser, gallery.url + "/", WIDE)
    responses = []
    page.on("response", lambda resp: responses.append(resp))
    page.reload()
    wait_for_thumbnails(page, 2)
    static = [resp for resp in responses if "/static/" in resp.url]
    assert static, "the page loads its CSS and scripts from /static/"
    for resp in static:
        headers = resp.all_headers()
        assert "immutable" in headers.get("cache-control", ""), resp.url
        if resp.url.endswith((".css", ".js")):
            assert headers.get("content-encoding") in ("br", "gzip"), resp.url
    errors.assert_none()


def test_no_live_frames_while_the_live_view_is_folded_or_the_tab_hidden(gallery, browser, r) -> None:
    seed_demo_gallery(r, count=6)
    page, errors = _open(browser, gallery.url + "/", WIDE)
    wait_for_thumbnails(page, 3)
    live: list[str] = []

    def seen(req) -> None:
        if "/live/" in req.url and (".jpg" in req.url or ".mjpg" in req.url):
            live.append(req.url)

    page.on("request", seen)
    page.wait_for_timeout(4000)
    assert live == [], f"the folded live view pulled {len(live)} frames"
    errors.assert_none()


def test_select_many_then_delete_them_in_one_go(gallery, browser, r) -> None:
    ids = seed_demo_gallery(r, count=12, step=10 * 60)
    page, errors = _open(browser, gallery.url + "/", WIDE)
    wait_for_thumbnails(page, 8)
    cards = page.locator(".image-card")
    cards.nth(1).click(modifiers=["Shift"])  # Shift-click starts selecting
    cards.nth(4).click(modifiers=["Shift"])  # ...and selects the range
    page.wait_for_selector("#select-bar:not(.is-hidden)")
    assert page.inner_text("#sel-count") == "4 selected"
    page.click("#sel-delete")
    assert "Really delete 4?" in page.inner_text("#sel-delete")
    page.click("#sel-delete")
    page.wait_for_function("() => document.querySelectorAll('.image-card').length === 8")
    remaining = set(r.keys("image:*"))
    assert len(remaining) == 8
    assert {f"image:{i}".encode() for i in ids[1:5]}.isdisjoint(remaining)
    errors.assert_none()


def test_select_all_in_view_and_download_a_zip(gallery, browser, r, tmp_path) -> None:
    seed_demo_gallery(r, count=6, step=10 * 60)
    page, errors = _open(browser, gallery.url + "/", WIDE, accept_downloads=True)
    wait_for_thumbnails(page, 6)
    page.click("#select-mode")
    page.click("#sel-all")
    assert page.inner_text("#sel-count") == "6 selected"
    with page.expect_download() as download:
        page.click("#sel-zip")
    path = tmp_path / "pictures.zip"
    download.value.save_as(path)
    import zipfile
    assert len(zipfile.ZipFile(path).namelist()) == 6
    errors.assert_none()


def test_viewer_zooms_the_original_and_moves_with_keys(gallery, browser, r, artifacts_dir) -> None:
    ids = seed_demo_gallery(r, count=5, step=10 * 60)
    page, errors = _open(browser, gallery.url + "/", WIDE)
    wait_for_thumbnails(page, 5)
    page.locator(".image-card").first.click()
    page.wait_for_selector("#detail.is-active")
    page.click("#detail-zoom")
    page.wait_for_selector(".pswp--open.pswp--ui-visible")
    page.wait_for_timeout(400)  # PhotoSwipe ignores Esc while its opening animation runs
    page.wait_for_function("() => document.activeElement && document.activeElement.closest('.pswp')")
    assert ids[0] in page.locator(".pswp__item img.pswp__img").first.get_attribute("src")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("id => document.querySelector('.pswp__gallery-caption') !== null", arg=ids[1])
    screenshot(page, artifacts_dir / "v2-viewer.png")
    page.keyboard.press("k")
    page.wait_for_function("id => window.gallery && true", arg=ids[1])
    deadline = time.time() + 5
    while r.ttl(f"image:{ids[1]}") != -1 and time.time() < deadline:
        time.sleep(0.1)
    assert r.ttl(f"image:{ids[1]}") == -1, "K keeps the picture shown"
    page.keyboard.press("Escape")
    page.wait_for_selector(".pswp", state="detached")
    errors.assert_none()


def test_jump_to_a_day_from_the_calendar(gallery, browser, r) -> None:
    now = time.time()
    seed_demo_gallery(r, count=30, step=3 * 3600, now=now)  # about four days
    page, errors = _open(browser, gallery.url + "/", WIDE)
    wait_for_thumbnails(page, 4)
    page.click("#timeline-open")
    page.wait_for_selector("#timeline-dialog.is-active .tl-day")
    days = page.locator(".tl-day")
    assert days.count() >= 4
    texts = page.eval_on_selector_all(".tl-day-count > span:first-child", "n => n.map(x => x.textContent)")
    counts = [int(t.replace(",", "")) for t in texts]
    assert sum(counts) == 30
    days.nth(2).click()
    page.click("#timeline-day-jump")
    page.wait_for_function("() => new URLSearchParams(location.search).has('until')")
    until = float(page_query(page)["until"])
    assert until < now - 86400
    wait_for_thumbnails(page, 1)
    shown = page.eval_on_selector_all(".image-card .card-rel", "n => n.map(x => Number(x.dataset.ts))")
    assert shown and max(shown) <= until, "the grid starts at the chosen day's end"
    # The day headers are anchors.
    assert page.locator(".day-header[id^='day-'] a[href^='#day-']").count() >= 1
    errors.assert_none()


def _axe(page, context: str | None = None) -> list[dict]:
    assert AXE.exists(), f"{AXE} is missing: run `make setup` (it installs axe-core from the npm registry)"
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("ctx => axe.run(ctx || document, {resultTypes: ['violations']})", context)
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_axe_finds_nothing_serious_on_grid_viewer_and_dialogs(gallery, browser, r) -> None:
    seed_demo_gallery(r, count=10)
    page, errors = _open(browser, gallery.url + "/", WIDE, bypass_csp=True)
    wait_for_thumbnails(page, 6)
    page.wait_for_timeout(500)
    found = {"grid": _axe(page)}
    page.click("#overview-toggle")
    page.wait_for_selector("#chart svg .chart-hit", state="attached")
    found["overview"] = _axe(page)
    page.click("#overview-toggle")
    page.locator(".image-card").first.click()
    page.wait_for_selector("#detail.is-active")
    found["detail"] = _axe(page, "#detail")
    page.click("#detail-zoom")
    page.wait_for_selector(".pswp--open.pswp--ui-visible")
    page.wait_for_timeout(400)  # PhotoSwipe ignores Esc while its opening animation runs
    found["viewer"] = _axe(page, ".pswp")
    page.keyboard.press("Escape")
    page.wait_for_selector(".pswp", state="detached")
    page.keyboard.press("Escape")
    page.click("#timeline-open")
    page.wait_for_selector("#timeline-dialog.is-active .tl-day")
    found["timeline"] = _axe(page, "#timeline-dialog")
    page.keyboard.press("Escape")
    found = {k: v for k, v in found.items() if v}
    assert not found, json.dumps(found, indent=1)
    errors.assert_none()


def test_dialog_takes_traps_and_returns_focus_and_a_skip_link_leads_to_the_pictures(gallery, browser, r
                                                                                   ) -> None:
    seed_demo_gallery(r, count=6)
    page, errors = _open(browser, gallery.url + "/", WIDE)
    wait_for_thumbnails(page, 6)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "skip-to-pictures"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("!!document.activeElement.closest('.image-card')")
    opener = page.evaluate("document.activeElement.dataset.id")
    page.keyboard.press("Enter")
    page.wait_for_selector("#detail.is-active")
    page.wait_for_function("() => document.getElementById('detail').contains(document.activeElement)")
    for _ in range(15):
        page.keyboard.press("Tab")
        assert page.evaluate("document.getElementById('detail').contains(document.activeElement)")
    page.keyboard.press("Escape")
    page.wait_for_function("id => document.activeElement && document.activeElement.dataset.id === id",
                           arg=opener)
    errors.assert_none()


def test_a_failed_load_shows_no_stale_count_and_recovers_by_itself(gallery, browser, r) -> None:
    seed_demo_gallery(r, count=8, step=600)
    page, errors = _open(browser, gallery.url + "/", WIDE)
    wait_for_thumbnails(page, 8)
    assert page.inner_text("#result-count") == "8 images"
    # Redis goes away (the API answers 503) while the user picks a filter.
    body = json.dumps({"error": {"code": "redis_unavailable", "message": "Cannot reach Redis."}})
    page.route("**/api/images?*", lambda route: route.fulfill(status=503, body=body,
                                                              content_type="application/json"))
    page.select_option("#f-camera", "garden")
    page.wait_for_selector("#notice:not(.is-hidden)")
    assert page.inner_text("#result-count").strip() == "", "no count of the previous filter (B2)"
    # It comes back: the grid reloads by itself, the notice goes, the count is this filter's.
    page.unroute("**/api/images?*")
    page.wait_for_selector("#notice", state="hidden", timeout=20000)
    page.wait_for_function("() => document.getElementById('result-count').textContent.includes('match')")
    assert set(page.eval_on_selector_all(".meta-camera", "n => n.map(x => x.textContent)")) == {"garden"}
    errors.assert_none()


def test_an_idle_grid_runs_no_animations_and_new_pictures_wait_for_a_scrolled_user(gallery, browser, r
                                                                                    ) -> None:
    seed_demo_gallery(r, count=60, step=300)
    page, errors = _open(browser, gallery.url + "/", PHONE)
    wait_for_thumbnails(page, 8)
    page.wait_for_timeout(7000)  # the shimmer of a loading card makes a few passes, then stops
    assert page.evaluate("document.getAnimations().length") == 0, "no endless animations (B4)"
    # A user who scrolled down is not moved: "N new" is offered instead.
    page.wait_for_function("() => { window.scrollTo(0, 1500); return window.scrollY > 1000; }",
                           polling=300)  # scrolling loads the next pages
    page.wait_for_selector("#back-to-top:not(.is-hidden)")
    first = page.eval_on_selector(".image-card", "c => c.dataset.id")
    from tests.browser import store_scene
    fresh = store_scene(r, "garden", time.time())
    page.wait_for_selector("#new-images:not(.is-hidden)", timeout=10000)
    assert "1 new" in page.inner_text("#new-images")
    assert page.eval_on_selector(".image-card", "c => c.dataset.id") == first
    page.click("#new-images")
    page.wait_for_function("id => document.querySelector('.image-card')?.dataset.id === id", arg=fresh)
    page.wait_for_function("() => window.scrollY < 50")
    errors.assert_none()


def test_motion_bursts_are_reviewed_like_events(gallery, browser, r, artifacts_dir) -> None:
    from tests.browser import store_scene

    now = time.time()
    for i in range(4):  # a burst: four motion pictures 15 s apart
        store_scene(r, "garden", now - 3600 + i * 15, trigger="motion")
    store_scene(r, "garden", now - 600, trigger="motion")  # a burst of one
    store_scene(r, "garden", now - 300, trigger="interval")
    page, errors = _open(browser, gallery.url + "/", WIDE, bypass_csp=True)
    wait_for_thumbnails(page, 6)
    page.click("#bursts-open")
    page.wait_for_selector("#bursts-dialog.is-active .burst")
    assert page.locator(".burst").count() == 2
    assert "4 pictures" in page.locator(".burst").nth(1).inner_text()
    assert page.locator(".burst").nth(1).locator(".burst-strip img").count() == 4
    screenshot(page, artifacts_dir / "v2-bursts.png")
    assert not _axe(page, "#bursts-dialog")
    # Mark the newest reviewed: it leaves the list (reviewed ones are hidden by default).
    page.locator(".burst").first.get_by_role("button", name="Mark reviewed").click()
    page.wait_for_function("() => document.querySelectorAll('.burst').length === 1")
    assert "1 of 2 bursts to review" in page.inner_text("#bursts-summary")
    # Show puts the burst in the grid, oldest first.
    page.locator(".burst").first.get_by_role("button", name="Show").click()
    page.wait_for_selector("#bursts-dialog", state="hidden")
    page.wait_for_function("() => document.querySelectorAll('.image-card').length === 4")
    assert page_query(page)["trigger"] == "motion" and page_query(page)["sort"] == "oldest"
    errors.assert_none()
