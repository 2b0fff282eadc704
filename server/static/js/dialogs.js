/*
 * dialogs.js: every dialog takes the focus when it opens, keeps Tab inside it, and gives the
 * focus back to what had it when it closes. It watches each `.modal` for Bulma's
 * `is-active`, so the detail view, the time-lapse, the live view, the zip parts and the
 * filter drawer all behave alike without each doing it. (The full-screen viewer,
 * PhotoSwipe, does the same by itself.)
 */

const FOCUSABLE = [
  "a[href]", "button:not([disabled])", "input:not([disabled]):not([type=hidden])", "select:not([disabled])",
  "textarea:not([disabled])", "video[controls]", "[tabindex]:not([tabindex='-1'])",
].join(",");

const opened = new Map();  // dialog -> the element that had the focus before

function focusables(dialog) {
  return Array.from(dialog.querySelectorAll(FOCUSABLE)).filter((node) => node.getClientRects().length > 0);
}

function onOpen(dialog) {
  if (opened.has(dialog)) return;
  opened.set(dialog, document.activeElement instanceof HTMLElement ? document.activeElement : null);
  const panel = dialog.querySelector(".modal-card, .modal-content") || dialog;
  if (!panel.hasAttribute("tabindex")) panel.setAttribute("tabindex", "-1");
  // The close button is not the place to start: the heading's panel is (screen readers read it).
  window.requestAnimationFrame(() => {
    if (!dialog.contains(document.activeElement)) panel.focus({ preventScroll: true });
  });
}

function onClose(dialog) {
  if (!opened.has(dialog)) return;
  const back = opened.get(dialog);
  opened.delete(dialog);
  if (!back || !back.isConnected || document.querySelector(".modal.is-active")) return;
  back.focus({ preventScroll: true });
  // Closing may go back in history (the detail view's URL), and going back to a #fragment
  // moves the focus to it: give it back once more if that happened.
  window.setTimeout(() => {
    const now = document.activeElement;
    if (back.isConnected && (!now || now === document.body || now.id === "grid")) back.focus({ preventScroll: true });
  }, 150);
}

function trapTab(e) {
  if (e.key !== "Tab" || document.querySelector(".pswp")) return;  // the viewer traps its own
  const dialogs = Array.from(opened.keys()).filter((d) => d.classList.contains("is-active"));
  const dialog = dialogs[dialogs.length - 1];
  if (!dialog) return;
  const nodes = focusables(dialog);
  if (!nodes.length) { e.preventDefault(); return; }
  const first = nodes[0];
  const last = nodes[nodes.length - 1];
  const inside = dialog.contains(document.activeElement);
  if (e.shiftKey && (!inside || document.activeElement === first || !nodes.includes(document.activeElement))) {
    if (!inside || document.activeElement === first) { e.preventDefault(); last.focus(); }
  } else if (!e.shiftKey && (!inside || document.activeElement === last)) {
    e.preventDefault();
    first.focus();
  }
}

/** Open a dialog by id (Bulma modal): used by sections that have no opener of their own. */
export function openDialog(id) {
  const dialog = document.getElementById(id);
  if (!dialog) return;
  dialog.classList.add("is-active");
  document.documentElement.classList.add("is-clipped");
}

export function closeDialog(id) {
  const dialog = document.getElementById(id);
  if (!dialog) return;
  dialog.classList.remove("is-active");
  if (!document.querySelector(".modal.is-active")) document.documentElement.classList.remove("is-clipped");
}

export function bindDialogs() {
  const watch = new MutationObserver((records) => {
    for (const r of records) {
      const dialog = r.target;
      if (dialog.classList.contains("is-active")) onOpen(dialog);
      else onClose(dialog);
    }
  });
  for (const dialog of document.querySelectorAll(".modal, [data-dialog]")) {
    watch.observe(dialog, { attributes: true, attributeFilter: ["class"] });
    if (dialog.classList.contains("is-active")) onOpen(dialog);
    // Dialogs that only this module opens close on their [data-dismiss] buttons and Esc.
    for (const node of dialog.querySelectorAll("[data-dismiss]")) {
      node.addEventListener("click", () => closeDialog(dialog.id));
    }
  }
  document.addEventListener("keydown", trapTab);
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    for (const dialog of document.querySelectorAll(".modal.is-active[data-dismissable]")) closeDialog(dialog.id);
  });
  document.addEventListener("gallery:opendialog", (e) => openDialog(e.detail.id));
}
