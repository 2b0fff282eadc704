/*
 * toast.js: short notifications at the bottom of the page, and the grid's error notice.
 */
import { $, el } from "./dom.js";

/**
 * Show `message` for a few seconds (kind: "info", "success", "danger"). `action`, if given,
 * is a button {label, run} in the toast; the toast then stays longer.
 */
export function toast(message, kind, action) {
  const box = el("div", { className: "notification toast is-" + (kind || "info"), role: "status" },
    el("span", { className: "toast-text", text: message }));
  if (action) {
    const btn = el("button", { type: "button", className: "button is-small is-light toast-action", text: action.label });
    btn.addEventListener("click", () => { box.remove(); action.run(); });
    box.append(btn);
  }
  $("toasts").append(box);
  placeToasts();
  window.setTimeout(() => box.remove(), action ? 9000 : 4500);
  return box;
}

/**
 * Toasts sit at the bottom, or under the navigation bar while the filters are down there:
 * they never cover the filter controls the user is working with.
 */
export function placeToasts() {
  const box = $("toasts");
  if (!box.childElementCount) return;
  const bar = document.getElementById("filter-drawer");
  if (!bar) return;
  const filters = bar.classList.contains("is-active") ? bar.getBoundingClientRect()
    : document.getElementById("filter-bar").getBoundingClientRect();
  const nav = document.querySelector(".gallery-nav").getBoundingClientRect().bottom;
  const height = box.offsetHeight + 24;
  const overlapsBottom = filters.bottom > window.innerHeight - height && filters.top < window.innerHeight;
  const overlapsTop = filters.top < nav + height && filters.bottom > nav;
  box.classList.toggle("is-top", overlapsBottom && !overlapsTop);
}

/** Show a problem above the grid; an empty message hides it. */
export function showNotice(message) {
  const notice = $("notice");
  notice.textContent = message;
  notice.classList.toggle("is-hidden", !message);
}
