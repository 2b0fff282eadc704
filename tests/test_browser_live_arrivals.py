"""In headless Chromium: pictures that arrive live (Server-Sent Events) follow the grid's filter,
look exactly like the cards the listing draws, and the page's hooks for other panels and tests
(window.gallery, the "gallery:filterchange" event) do what they say."""

from __future__ import annotations

import time

from tests.browser import BROWSER_TESTS, page_query, seed_demo_gallery, store_scene, wait_for_thumbnails

pytestmark = BROWSER_TESTS

XSS = "<img src=x onerror=alert(1)>"

CARD_HTML = """id => {
  const card = document.querySelector('.image-card[data-id="' + CSS.escape(id) + '"]').cloneNode(true);
  card.classList.remove('is-new');
  return card.outerHTML;
}"""


def _card_ids(page) -> list[str]:
    return page.eval_on_selector_all(".image-card", "cards => cards.map(c => c.dataset.id)")


def test_live_arrivals_follow_the_filter_and_look_like_listed_cards(gallery, page, r) -> None:
    seed_demo_gallery(r, count=6, step=600)
    page.goto(gallery.url + "/?camera=garden")
    wait_for_thumbnails(page, 4)
    page.wait_for_selector(".live-state.is-live")
    listed = _card_ids(page)
    assert len(listed) == 4  # seed_demo_gallery: garden takes 4 of every 6

    # Another camera's picture stays out; the garden's comes in at the top, markup as text.
    other = store_scene(r, "driveway", time.time() - 2, trigger="motion")
    fresh = store_scene(r, "garden", time.time(), trigger=XSS, lux=321.0)
    page.wait_for_selector(f'.image-card[data-id="{fresh}"]', timeout=10000)
    page.wait_for_timeout(500)
    assert _card_ids(page) == [fresh, *listed]
    assert page.locator(f'.image-card[data-id="{other}"]').count() == 0
    card = page.locator(f'.image-card[data-id="{fresh}"]')
    assert card.locator(".badge-trigger").inner_text().lower() == XSS.lower()
    assert card.locator(".meta-lux").inner_text() == "321 lux"
    assert page.locator('img[src="x"]').count() == 0
    wait_for_thumbnails(page, 5)
    arrived = page.evaluate(CARD_HTML, fresh)

    # After a reload the listing draws the very same card for it.
    page.reload()
    wait_for_thumbnails(page, 5)
    assert _card_ids(page) == [fresh, *listed]
    assert page.evaluate(CARD_HTML, fresh) == arrived

    # A new filter: the events follow it at once.
    page.wait_for_selector(".live-state.is-live")
    page.select_option("#f-camera", "driveway")
    page.wait_for_function("() => document.querySelectorAll('.image-card').length === 3")
    assert other in _card_ids(page)
    page.wait_for_timeout(500)  # the grid's first page reconnects the events with the filter
    garden_again = store_scene(r, "garden", time.time(), trigger="interval")
    driveway_again = store_scene(r, "driveway", time.time() + 1, trigger="interval")
    page.wait_for_selector(f'.image-card[data-id="{driveway_again}"]', timeout=10000)
    page.wait_for_timeout(500)
    assert _card_ids(page)[0] == driveway_again
    assert page.locator(f'.image-card[data-id="{garden_again}"]').count() == 0
    assert set(page.eval_on_selector_all(".meta-camera", "n => n.map(x => x.textContent)")) == {"driveway"}


def test_a_live_arrival_outside_the_filter_still_refreshes_the_open_store_panel(gallery, page, r) -> None:
    seed_demo_gallery(r, count=3, step=600)
    page.goto(gallery.url + "/?camera=garden")
    wait_for_thumbnails(page, 2)
    page.wait_for_selector(".live-state.is-live")
    page.click("#overview-toggle")  # folded away, it is not refreshed at all
    page.wait_for_function("() => document.getElementById('stat-count').textContent === '3'")
    other = store_scene(r, "driveway", time.time(), trigger="motion")
    page.wait_for_function("() => document.getElementById('stat-count').textContent === '4'", timeout=10000)
    assert page.locator(f'.image-card[data-id="{other}"]').count() == 0


def test_window_gallery_hooks_work(gallery, page, r) -> None:
    ids = seed_demo_gallery(r, count=3, step=600)
    page.goto(gallery.url + "/?camera=garden&lux_min=5")
    wait_for_thumbnails(page, 1)
    assert page.evaluate("window.gallery.currentFilter()") == {
        "since": None, "until": None, "camera": "garden", "trigger": None, "lux_min": 5, "lux_max": None,
        "full_size": None}
    assert page.evaluate("window.gallery.apiUrl('api/images', {camera: 'yard', since: null, lux_min: ''})") \
        == "/api/images?camera=yard"

    # csrfFetch carries the page's token: the same POST without it is refused.
    keep = f"/api/images/{ids[0]}/keep"
    assert page.evaluate("url => fetch(url, {method: 'POST'}).then(r => r.status)", keep) == 403
    assert r.ttl(f"image:{ids[0]}") > 0
    assert page.evaluate("url => window.gallery.csrfFetch(url, {method: 'POST'}).then(r => r.status)",
                         keep) == 200
    assert r.ttl(f"image:{ids[0]}") == -1

    # toast shows text, never markup.
    page.evaluate("() => window.gallery.toast('Saved <b>all</b> of them.', 'success')")
    toast = page.locator("#toasts .notification.is-success")
    assert toast.inner_text() == "Saved <b>all</b> of them."
    assert toast.locator("b").count() == 0

    # Datetime-local values round-trip, in the browser's zone.
    round_trip = "window.gallery.fromLocalInput(window.gallery.toLocalInput(1700000000))"
    assert page.evaluate(round_trip) == 1700000000
    assert page.evaluate("window.gallery.fromLocalInput('not a time')") is None

    # Every filter change is announced with the new filter.
    page.evaluate("""() => {
      window.__filters = [];
      document.addEventListener('gallery:filterchange', (e) => window.__filters.push(e.detail));
    }""")
    page.select_option("#f-camera", "driveway")
    page.wait_for_function("() => window.__filters.length === 1")
    assert page.evaluate("window.__filters[0]")["camera"] == "driveway"
    assert page_query(page)["camera"] == "driveway"
