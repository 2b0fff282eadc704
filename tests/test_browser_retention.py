"""Tiered retention and the notifier in headless Chromium (issues 9 and 14): thumbnail-only
pictures in the grid and the detail view, the "full size" filter, the forecast, the budgets
dialog and the notification targets, at 1440x900 and 390x844."""

from __future__ import annotations

import time

from pi import contract
from pi.contract import image_key
from tests.browser import (
    BROWSER_TESTS,
    PHONE,
    ConsoleErrors,
    page_query,
    screenshot,
    store_scene,
    wait_for_thumbnails,
)

pytestmark = BROWSER_TESTS

WIDE = {"width": 1440, "height": 900}


def drop_full_size(r, pid: str, state: str, same_as: str | None = None) -> None:
    """Take a stored picture's full size away as expiry, a budget or the near-duplicate rule would."""
    key = image_key(pid)
    ts = float(r.hget(key, contract.F_TIMESTAMP))
    r.hdel(key, contract.F_IMAGE_DATA)
    if state == "expired":
        r.hset(key, mapping={contract.F_FULL_UNTIL: f"{time.time() - 3 * 3600:.3f}",
                             contract.F_PLAN_FULL_UNTIL: f"{time.time() - 3 * 3600:.3f}"})
    elif state == "trimmed":
        r.hset(key, mapping={contract.F_FULL_UNTIL: f"{ts + 60:.3f}",
                             contract.F_PLAN_FULL_UNTIL: f"{ts + 3600:.3f}"})
    else:
        r.hset(key, mapping={contract.F_FULL_UNTIL: f"{ts:.3f}",
                             contract.F_UNCHANGED_SINCE: f"{ts - 1200:.3f}",
                             contract.F_SAME_AS: same_as or ""})


def seed(r) -> dict[str, str]:
    now = time.time()
    ids = {}
    for i in range(6):  # the last half hour: the forecast's rate
        ids[f"garden{i}"] = store_scene(r, "garden", now - 60 - 300 * i)
    for i in range(3):
        ids[f"porch{i}"] = store_scene(r, "porch", now - 120 - 600 * i)
    ids["expired"] = store_scene(r, "garden", now - 5 * 3600)
    ids["trimmed"] = store_scene(r, "porch", now - 4 * 3600)
    ids["unchanged"] = store_scene(r, "garden", now - 4.5 * 3600)
    drop_full_size(r, ids["expired"], "expired")
    drop_full_size(r, ids["trimmed"], "trimmed")
    drop_full_size(r, ids["unchanged"], "unchanged", same_as=ids["expired"])
    r.hset(contract.BUDGETS_KEY, mapping={"total": "64000000", "min_age": "1800"})
    r.hset(contract.NOTIFY_STATUS_KEY, mapping={
        "consumer": "notifier-1", "started_at": f"{now - 3600:.3f}", "updated_at": f"{now:.3f}",
        "heartbeat": "5", "targets": "ntfy,webhook"})
    r.hset(contract.notify_target_key("ntfy"), mapping={
        "kind": "ntfy", "rule": "camera=garden trigger=motion cooldown=10m", "state": "ok",
        "last_fired": f"{now - 420:.3f}", "sent": "14"})
    r.hset(contract.notify_target_key("webhook"), mapping={
        "kind": "webhook", "rule": "trigger=motion", "state": "retrying", "sent": "3",
        "last_fired": f"{now - 7200:.3f}", "last_error": "connection refused by hooks.example.org",
        "last_error_at": f"{now - 30:.3f}"})
    return ids


def test_thumbnail_only_pictures_are_labelled_in_the_grid_and_the_detail(gallery, browser, r, artifacts_dir):
    ids = seed(r)
    page = browser.new_page(viewport=WIDE)
    errors = ConsoleErrors(page)
    page.goto(gallery.url + "/")
    wait_for_thumbnails(page, 12)

    # Every card shows its picture: none broken, the three without full size labelled.
    assert page.locator(".image-card.is-missing").count() == 0
    strips = page.locator(".card-tier")
    assert strips.count() == 3
    labels = {page.locator(f'[data-id="{ids[k]}"] .card-tier').get_attribute("title") for k in
              ("expired", "trimmed", "unchanged")}
    assert any(label.startswith("Full size expired 3 h ago: thumbnail only") for label in labels), labels
    assert any(label.startswith("Full size dropped by the budget") for label in labels), labels
    assert any(label.startswith("Unchanged since ") for label in labels), labels
    assert page.locator(f'[data-id="{ids["garden0"]}"] .card-tier').count() == 0

    # The forecast, the budgets and the notifier, in the folded "Cameras & light" panel.
    page.click("#overview-toggle")
    page.wait_for_selector("#forecast .forecast-camera")
    forecast = page.inner_text("#forecast")
    assert "garden" in forecast and "porch" in forecast and "full size" in forecast and "MB/min" in forecast
    assert "total 64 MB" in page.inner_text("#budgets-summary")
    page.wait_for_selector("#notify-targets .notify-target")
    notify = page.inner_text("#retention-panel .notify-box")
    assert "ntfy" in notify and "last fired 7 min ago" in notify and "14 sent" in notify
    assert "connection refused by hooks.example.org" in notify and "retrying" in notify
    screenshot(page, artifacts_dir / "retention-grid-1440.png", full_page=True)

    # The detail of a picture whose full size expired: its thumbnail, labelled; download offers it.
    page.click(f'[data-id="{ids["expired"]}"]')
    page.wait_for_function("() => !document.querySelector('#detail-tier')?.classList.contains('is-hidden')")
    assert page.inner_text("#detail-tier").startswith("Full size expired 3 h ago: thumbnail only")
    page.wait_for_function("() => document.querySelector('#detail-img').complete && "
                           "document.querySelector('#detail-img').naturalWidth > 0")
    assert page.get_attribute("#detail-img", "src").endswith("/thumbnail")
    assert page.inner_text("#detail-download") == "Download thumbnail"
    assert page.get_attribute("#detail-download", "href").endswith("/thumbnail?download=1")
    assert page.is_visible("#detail-tier-badge")
    fields = page.inner_text("#detail-fields")
    assert "Full size planned until" in fields and "Full size until" in fields
    screenshot(page, artifacts_dir / "retention-detail-1440.png")

    # A near-duplicate names the picture it repeats; a picture with its full size has no label.
    page.keyboard.press("Escape")
    page.click(f'[data-id="{ids["unchanged"]}"]')
    page.wait_for_function("id => document.querySelector('#detail-fields code')?.textContent === id",
                           arg=ids["unchanged"])
    assert page.inner_text("#detail-tier").startswith("Unchanged since ")
    assert ids["expired"] in page.inner_text("#detail-tier")
    page.keyboard.press("Escape")
    page.click(f'[data-id="{ids["garden1"]}"]')
    page.wait_for_function("id => document.querySelector('#detail-fields code')?.textContent === id",
                           arg=ids["garden1"])
    assert not page.is_visible("#detail-tier") and page.inner_text("#detail-download") == "Download"
    page.keyboard.press("Escape")

    # The filter: thumbnail-only pictures, in the URL.
    page.select_option("#f-full", "0")
    page.wait_for_function("() => document.querySelectorAll('#grid .image-card').length === 3")
    assert page_query(page)["full_size"] == "0"
    assert page.locator(".card-tier").count() == 3
    page.select_option("#f-full", "1")
    page.wait_for_function("() => document.querySelectorAll('#grid .image-card').length === 9")
    assert page.locator(".card-tier").count() == 0
    errors.assert_none()


def test_budgets_are_changed_in_the_gallery_and_a_bad_value_is_named(gallery, browser, r, artifacts_dir):
    seed(r)
    page = browser.new_page(viewport=WIDE)
    errors = ConsoleErrors(page, failed_requests_ok=True)  # the refused save is a 400
    page.goto(gallery.url + "/")
    page.click("#overview-toggle")
    page.wait_for_selector("#forecast .forecast-camera")
    page.click("#budgets-open")
    page.wait_for_selector("#budgets-modal.is-active")
    assert page.input_value("#budget-total") == "64mb" and page.input_value("#budget-min_age") == "30m"
    assert page.locator("#budget-camera-garden").count() == 1

    page.fill("#budget-total", "lots")
    page.click("#budgets-save")
    page.wait_for_selector("#budget-total[aria-invalid='true']")
    assert "total='lots' is not a size" in page.inner_text("#budget-total-error")
    assert page.is_visible("#budgets-modal.is-active")
    screenshot(page, artifacts_dir / "retention-budgets-1440.png")

    page.fill("#budget-total", "128mb")
    page.fill("#budget-camera-garden", "16mb")
    page.click("#budgets-save")
    page.wait_for_selector("#budgets-modal:not(.is-active)", state="attached")
    assert r.hgetall(contract.BUDGETS_KEY) == {b"total": b"128000000", b"camera:garden": b"16000000",
                                               b"min_age": b"1800"}
    assert "garden 16 MB" in page.inner_text("#budgets-summary")
    assert "budget 16 MB" in page.inner_text('#forecast [data-camera="garden"]')
    errors.assert_none()


def test_on_a_phone_the_labels_and_the_forecast_fit(gallery, browser, r, artifacts_dir):
    ids = seed(r)
    page = browser.new_page(viewport=PHONE)
    errors = ConsoleErrors(page)
    page.goto(gallery.url + "/")
    wait_for_thumbnails(page, 4)
    card = page.locator(f'[data-id="{ids["expired"]}"]')
    card.scroll_into_view_if_needed()
    # The label fits inside its card on a phone: nothing of it is cut off or spills over.
    assert card.evaluate("""c => { const s = c.querySelector('.card-tier').getBoundingClientRect(),
                                        b = c.getBoundingClientRect();
                                    return s.left >= b.left && s.right <= b.right + 1; }""")
    screenshot(page, artifacts_dir / "retention-grid-390.png")
    page.evaluate("window.scrollTo(0, 0)")
    page.click("#overview-toggle")
    page.locator("#retention-panel").scroll_into_view_if_needed()
    page.wait_for_selector("#forecast .forecast-camera")
    assert page.locator("#retention-panel").bounding_box()["width"] <= PHONE["width"]
    screenshot(page, artifacts_dir / "retention-panel-390.png")
    page.click(f'[data-id="{ids["trimmed"]}"]')
    page.wait_for_function("() => !document.querySelector('#detail-tier')?.classList.contains('is-hidden')")
    assert "budget" in page.inner_text("#detail-tier")
    screenshot(page, artifacts_dir / "retention-detail-390.png")
    errors.assert_none()


def test_a_picture_in_two_tiers_says_when_its_full_size_goes(gallery, browser, r):
    pid = store_scene(r, "garden", time.time() - 60)
    key = image_key(pid)  # stored as with HISTORY_EXPIRY: the full size goes in 20 min, the picture in a day
    r.execute_command("HPEXPIRE", key, 1_200_000, "FIELDS", 1, contract.F_IMAGE_DATA)
    r.hset(key, mapping={contract.F_FULL_UNTIL: f"{time.time() + 1200:.3f}",
                         contract.F_PLAN_FULL_UNTIL: f"{time.time() + 1200:.3f}"})
    page = browser.new_page(viewport=WIDE)
    errors = ConsoleErrors(page)
    page.goto(f"{gallery.url}/?image={pid}")
    page.wait_for_function("() => !document.querySelector('#detail-tier')?.classList.contains('is-hidden')")
    assert page.inner_text("#detail-tier").startswith("Full size until ")
    assert "in 20 min" in page.inner_text("#detail-tier")
    assert page.inner_text("#detail-download") == "Download" and not page.is_visible("#detail-tier-badge")
    page.click("#detail-keep")
    page.wait_for_selector("#detail-ttl.is-kept")
    page.wait_for_function("() => document.querySelector('#detail-tier').classList.contains('is-hidden')")
    assert r.execute_command("HTTL", key, "FIELDS", 1, contract.F_IMAGE_DATA) == [-1]
    assert "and its full size never expire" in page.inner_text("#detail-ttl-text")
    errors.assert_none()
