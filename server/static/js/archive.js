/*
 * archive.js: the archive of originals in the page (issue 10): the detail view's "from archive"
 * label and its note when the archived original can't be shown, and the store panel's line
 * about the archiver (its state, what waits, the last copy, and any warning).
 */
import { $, el, show } from "./dom.js";
import { fmtInt, relative } from "./format.js";

/** Label a detail answer: "from archive" beside camera and trigger, and the note, if any. */
export function renderDetailArchive(data) {
  if (data.from_archive) {
    $("detail-sub").append(el("span", {
      className: "tag is-info detail-archive-tag",
      title: "Its full size left Redis; the original comes from the archive",
      text: "from archive",
    }));
  }
  let note = $("detail-archive-note");
  if (!note) {
    note = el("p", { id: "detail-archive-note", className: "detail-archive-note", role: "note" });
    $("detail-ttl").before(note);
  }
  note.textContent = data.archive_note || "";
  show(note, Boolean(data.archive_note));
}

/** The store panel's "Archive" line, from /api/stats's `archive`; hidden without an archive. */
export function renderArchiveStat(archive) {
  const row = $("stat-archive-row");
  if (!row) return;
  const shown = Boolean(archive && (archive.configured || archive.running));
  show(row, shown);
  if (!shown) return;
  let state;
  if (!archive.running) state = "no archiver";
  else if (archive.state === "ok") state = archive.backlog ? "ok · " + fmtInt.format(archive.backlog) + " waiting" : "ok";
  else if (archive.state === "retrying") state = "retrying · " + fmtInt.format(archive.backlog || 0) + " waiting";
  else state = archive.state;
  const dd = $("stat-archive");
  dd.replaceChildren(el("span", { text: state }));
  if (archive.last_ok) dd.append(el("span", { className: "stat-rel", text: "last copy " + relative(archive.last_ok) }));
  dd.classList.toggle("is-warning", Boolean(archive.warning));
  const warning = $("stat-archive-warning");
  warning.textContent = archive.warning || "";
  show(warning, Boolean(archive.warning));
  row.title = archive.url || "";
}
