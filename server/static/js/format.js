/*
 * format.js: how times, sizes, light levels and durations read on the page. One fmtBytes and
 * one fmtDuration for every panel.
 */

export const fmtClock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
export const fmtDay = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
export const fmtShortDay = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });
export const fmtFull = new Intl.DateTimeFormat(undefined, {
  weekday: "short", day: "numeric", month: "short", year: "numeric",
  hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
});
export const fmtHourMin = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
export const fmtHourMinSec = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
export const fmtShort = new Intl.DateTimeFormat(undefined, {
  weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
});
export const fmtWhen = new Intl.DateTimeFormat(undefined, {
  day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
});
export const fmtInt = new Intl.NumberFormat();

const FIELD_LABELS = {
  timestamp: "Unix time", captured_at: "Captured (UTC)", camera: "Camera", trigger: "Trigger",
  mime_type: "Type", lux: "Light (lux)", width: "Width (px)", height: "Height (px)",
  size_bytes: "Size", exposure_time: "Exposure (µs)", analogue_gain: "Analogue gain",
  colour_temperature: "Colour temperature (K)", lens_position: "Lens position (dioptres)",
  // The further metadata the capture daemon stores (pi/metadata.py EXTRA_FIELDS, EXTRA_TEXT).
  digital_gain: "Digital gain", focus_fom: "Focus figure of merit",
  sensor_temperature: "Sensor temperature (°C)", f_number: "Aperture (f-number)",
  focal_length: "Focal length (mm)", source_file: "Source file",
};

/** "just now", "5 min ago", "in 2 h", "3 days ago": Unix seconds against the browser's clock. */
export function relative(ts) {
  const diff = Date.now() / 1000 - ts;
  const future = diff < 0;
  const s = Math.abs(diff);
  let text;
  if (s < 45) return future ? "in a moment" : "just now";
  if (s < 3600) text = Math.round(s / 60) + " min";
  else if (s < 86400) text = Math.round(s / 3600) + " h";
  else if (s < 86400 * 45) { const d = Math.round(s / 86400); text = d + (d === 1 ? " day" : " days"); }
  else { const m = Math.round(s / (86400 * 30)); text = m + (m === 1 ? " month" : " months"); }
  return future ? "in " + text : text + " ago";
}

/** "Today", "Yesterday", or the day in full, in the browser's zone. */
export function dayLabel(ts) {
  const date = new Date(ts * 1000);
  const today = new Date();
  const start = new Date(today.getFullYear(), today.getMonth(), today.getDate()).getTime();
  const dayStart = new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
  const days = Math.round((start - dayStart) / 86400000);
  if (days === 0) return "Today";
  if (days === 1) return "Yesterday";
  return fmtDay.format(date);
}

/** A key naming the local day of a time: two times share it when they fall on the same day. */
export function dayKey(ts) {
  const d = new Date(ts * 1000);
  return d.getFullYear() + "-" + d.getMonth() + "-" + d.getDate();
}

export function fmtLux(lux) {
  if (lux === null || lux === undefined) return "– lux";
  const digits = lux < 10 ? 1 : 0;
  return lux.toLocaleString(undefined, { maximumFractionDigits: digits }) + " lux";
}

/** "512 B", "3.4 KB", "18 MB": binary units, one decimal under ten. */
export function fmtBytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return v.toLocaleString(undefined, { maximumFractionDigits: v < 10 && i > 0 ? 1 : 0 }) + " " + units[i];
}

/**
 * A length of time in its `parts` largest units, from the first that is not zero:
 * "2 d 3 h 05 min", "3 h 05 min 09 s", "4 min 09 s", "9 s" (parts 3); "3 h 05 min" (parts 2).
 */
export function fmtDuration(seconds, parts = 3) {
  let rest = Math.max(0, Math.floor(seconds));
  const amounts = [];
  for (const [size, unit] of [[86400, "d"], [3600, "h"], [60, "min"], [1, "s"]]) {
    amounts.push([Math.floor(rest / size), unit]);
    rest %= size;
  }
  let first = amounts.findIndex(([n]) => n > 0);
  if (first < 0) first = amounts.length - 1;
  return amounts.slice(first, first + parts)
    .map(([n, unit], i) => (i > 0 && unit !== "h" ? String(n).padStart(2, "0") : String(n)) + " " + unit)
    .join(" ");
}

/** How old a frame is: "2.5 s old", "40 s old", "3 min old", "5 h old" (empty when unknown). */
export function fmtAge(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 10) return seconds.toFixed(1) + " s old";
  if (seconds < 120) return Math.round(seconds) + " s old";
  if (seconds < 7200) return Math.round(seconds / 60) + " min old";
  return Math.round(seconds / 3600) + " h old";
}

/** Unix seconds as a datetime-local input's value, in the browser's zone ("" when unusable). */
export function toLocalInput(ts) {
  if (ts === null || ts === undefined || !Number.isFinite(Number(ts))) return "";
  const d = new Date(Number(ts) * 1000);
  if (!Number.isFinite(d.getTime()) || d.getFullYear() > 275759) return "";
  const pad = (x) => String(x).padStart(2, "0");
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
    pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
}

/** A datetime-local input's value as Unix seconds, or null. */
export function fromLocalInput(text) {
  if (!text) return null;
  const t = new Date(text).getTime();
  return Number.isFinite(t) ? Math.round(t / 1000) : null;
}

/** A readable label for a metadata field: "lux" -> "Light (lux)", "focus_x" -> "Focus x". */
export function fieldLabel(name) {
  if (Object.prototype.hasOwnProperty.call(FIELD_LABELS, name)) return FIELD_LABELS[name];
  const words = String(name).replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[_\-\s.]+/g, " ").trim().toLowerCase();
  return words ? words.charAt(0).toUpperCase() + words.slice(1) : String(name);
}
