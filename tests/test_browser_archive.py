"""The detail view of a picture whose full size left Redis: its original from the archive,
labelled "from archive"; one whose archived original is gone keeps its thumbnail and says so.
The store panel shows the archiver."""

from __future__ import annotations

import time

from pi import contract
from server import create_app
from server.core.services import services
from tests.browser import (
    BROWSER_TESTS,
    DESKTOP,
    PHONE,
    ConsoleErrors,
    ServerThread,
    screenshot,
    store_scene,
)
from tests.test_gallery_archive import archive_config, archive_pictures, drop_full_size

pytestmark = BROWSER_TESTS

WIDE = {"width": 1440, "height": 900}


def _open(page, url: str, image_id: str) -> None:
    page.goto(url)
    page.wait_for_selector("#detail.is-active")
    page.wait_for_function("id => document.querySelector('#detail-fields code')?.textContent === id",
                           arg=image_id)


def test_the_detail_view_shows_an_archived_original_marked_from_archive(
        browser, r, redis_url, tmp_path, file_backend, artifacts_dir) -> None:
    now = time.time()
    recent = store_scene(r, "garden", now - 120)
    archived = store_scene(r, "garden", now - 3600)
    lost = store_scene(r, "garden", now - 7200)
    archive_pictures(r, redis_url, file_backend, recent, archived, lost)
    for image_id in (archived, lost):
        drop_full_size(r, image_id)
    location = r.hget(contract.image_key(lost), contract.F_ARCHIVED).decode()
    file_backend.delete(file_backend.key_of(location))  # the archive's retention took it
    contract.save_archive_status(r, contract.ArchiveStatus(
        state="ok", archive=file_backend.url, last_ok=now - 30, archived=3))

    app = create_app({"REDIS_URL": redis_url, "GALLERY_PASSWORD": None, "SECRET_KEY": "browser-test",
                      "TIMELAPSE_TMPDIR": str(tmp_path), **archive_config(file_backend)})
    with ServerThread(app) as server:
        page = browser.new_page(viewport=WIDE)
        errors = ConsoleErrors(page, failed_requests_ok=True)  # the lost original's 410
        _open(page, f"{server.url}/?image={archived}", archived)
        tag = page.locator("#detail-sub .detail-archive-tag")
        assert tag.inner_text() == "from archive" and tag.is_visible()
        # The full size, from the archive, replaces the thumbnail (1280 px wide, not 480).
        page.wait_for_function("() => { const i = document.getElementById('detail-img');"
                               " return i.src.endsWith('/image') && i.complete && i.naturalWidth === 1280; }")
        assert not page.locator("#detail-archive-note").is_visible()
        assert location.split("/")[0] in page.inner_text("#detail-fields")  # the `archived` field
        screenshot(page, artifacts_dir / "archive-detail-1440.png")
        screenshot(page, artifacts_dir / "archive-detail-390.png", viewport=PHONE)

        # A picture still whole in Redis carries no label.
        page.set_viewport_size(DESKTOP)
        _open(page, f"{server.url}/?image={recent}", recent)
        assert page.locator("#detail-sub .detail-archive-tag").count() == 0

        # The lost one: its thumbnail stays, with a note saying the original is gone.
        _open(page, f"{server.url}/?image={lost}", lost)
        note = page.locator("#detail-archive-note")
        note.wait_for(state="visible")
        assert note.inner_text().startswith("The original is gone")
        page.wait_for_function("() => { const i = document.getElementById('detail-img');"
                               " return i.complete && i.naturalWidth > 0 && i.src.endsWith('/thumbnail'); }")
        screenshot(page, artifacts_dir / "archive-detail-gone-1440.png", viewport=WIDE)

        # The store panel (in the overview, one click away): the archiver's state and its last copy.
        page.keyboard.press("Escape")
        page.wait_for_selector("#detail", state="hidden")
        page.click("#overview-toggle")
        page.wait_for_selector("#stat-archive-row:not(.is-hidden)")
        assert page.inner_text("#stat-archive").startswith("ok")
        assert "last copy" in page.inner_text("#stat-archive")
        assert not page.locator("#stat-archive-warning").is_visible()
        screenshot(page, artifacts_dir / "archive-stats-1440.png", viewport=WIDE)
        errors.assert_none()
    services(app).redis.close()
