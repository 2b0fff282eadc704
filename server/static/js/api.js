/*
 * api.js: talking to the gallery's own API. One apiUrl, one csrfFetch for every panel.
 */

const ROOT = document.body.dataset.root || "/";
const CSRF = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

const OFFLINE = "The gallery server does not answer. Check that it is running, then reload.";

/** The URL of `path` ("api/stats") under the app's root, with `params` as its query. */
export function apiUrl(path, params) {
  const url = new URL(ROOT + path.replace(/^\//, ""), window.location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
  }
  return url.pathname + url.search;
}

/** An error answer of the API: its message is meant for the user. */
export class ApiError extends Error {
  constructor(message, status, code, parameter) {
    super(message);
    this.status = status;
    this.code = code;
    this.parameter = parameter || null;
  }
}

/** The JSON body of a response, or null when it has none. */
export async function readJson(response) {
  try { return await response.json(); } catch { return null; }
}

/** The ApiError an error response describes (`data`: its JSON body, or null). */
export function errorOf(data, response) {
  const err = (data && data.error) || {};
  return new ApiError(err.message || ("The gallery answered " + response.status + "."),
    response.status, err.code || "http_" + response.status, err.parameter);
}

async function asJson(response) {
  const data = await readJson(response);
  if (!response.ok) throw errorOf(data, response);
  return data;
}

/** GET `url` as JSON; throws an ApiError when the gallery says no or does not answer. */
export async function getJson(url, options) {
  let response;
  try {
    response = await fetch(url, Object.assign(
      { credentials: "same-origin", headers: { Accept: "application/json" } }, options || {}));
  } catch {
    throw new ApiError(OFFLINE, 0, "offline");
  }
  return asJson(response);
}

/** fetch() with the page's CSRF token and same-origin credentials: for every POST and DELETE. */
export function csrfFetch(url, options) {
  const opts = Object.assign({ credentials: "same-origin" }, options || {});
  opts.headers = Object.assign({ "X-CSRF-Token": CSRF, Accept: "application/json" }, opts.headers || {});
  return fetch(url, opts);
}

/** A state change (`method` with an optional JSON `payload`); resolves to the JSON answer. */
export async function postJson(url, method, payload) {
  const options = { method: method };
  if (payload !== undefined) {
    options.headers = { "Content-Type": "application/json" };
    options.body = JSON.stringify(payload);
  }
  let response;
  try { response = await csrfFetch(url, options); } catch {
    throw new ApiError("The gallery server does not answer. Check that it is running.", 0, "offline");
  }
  return asJson(response);
}
