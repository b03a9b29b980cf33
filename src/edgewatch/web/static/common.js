// What every page shares: the API fetch (a 401 anywhere sends the browser to the login page,
// so no page has to handle an expired session itself), the navigation bar with logout,
// polling that pauses while the tab is hidden, and how times, durations and numbers read.

export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

/** The login page's address that brings the user back here afterwards. */
export function loginUrl() {
  return "/login?next=" + encodeURIComponent(location.pathname + location.search + location.hash);
}

let redirecting = false;

function toLogin() {
  if (!redirecting) {
    redirecting = true;
    location.assign(loginUrl());
  }
}

/** GET (or another method) on the JSON API: the parsed JSON, or the Response for other
 *  content. A 401 goes to the login page and never resolves, so callers need no check. */
export async function api(path, { method = "GET", body, headers = {}, signal, raw = false } = {}) {
  const options = {
    method, signal, credentials: "same-origin", cache: "no-store",
    headers: { Accept: "application/json", ...headers },
  };
  if (body !== undefined) {
    options.body = JSON.stringify(body);
    options.headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    connection(false);
    throw new ApiError(0, "the box cannot be reached");
  }
  connection(true);
  if (response.status === 401) {
    toLogin();
    return new Promise(() => {});
  }
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail ?? detail;
    } catch {
      // not JSON: the status text says enough
    }
    throw new ApiError(response.status, typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  if (raw) return response;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response;
}

// ---- the connection banner: one place that says the box stopped answering ----

let banner = null;

/** Shows (or, with null, hides) the one line that says what went wrong. */
export function problem(text) {
  if (!banner) {
    banner = document.createElement("div");
    banner.className = "banner";
    banner.id = "problem-banner";
    banner.setAttribute("role", "status");
    banner.hidden = true;
    document.querySelector("main")?.prepend(banner);
  }
  banner.hidden = !text;
  if (text) banner.textContent = text;
}

function connection(ok) {
  if (!ok) problem("The box does not answer; retrying…");
  else if (banner && banner.textContent.startsWith("The box does not answer")) problem(null);
}

// ---- session, navigation and logout ----

const PAGES = [
  ["/", "Live"],
  ["/panels", "Panels"],
  ["/events", "Events"],
  ["/system", "System"],
];

let session = null;

/** The session ({user, csrf}); fetched once per page. */
export async function getSession() {
  session ??= await api("/api/session");
  return session;
}

export async function logout() {
  try {
    const { csrf } = await api("/api/session");
    await api("/api/logout", { method: "POST", headers: { "X-CSRF-Token": csrf } });
  } finally {
    location.assign("/login");
  }
}

/** The navigation bar at the top of the page; the current page is marked. */
export function navBar() {
  const here = location.pathname.replace(/\/index\.html$|\.html$/, "").replace(/\/$/, "") || "/";
  const bar = el("header", { class: "topbar" }, [
    el("a", { class: "brand", href: "/" }, "edgewatch"),
    el("nav", { "aria-label": "pages" }, PAGES.map(([href, name]) =>
      el("a", { href, "aria-current": href === here ? "page" : null }, name))),
    el("span", { class: "who", id: "session-user" }),
    el("button", { type: "button", id: "logout", onclick: () => logout() }, "Log out"),
  ]);
  document.body.prepend(bar);
  getSession().then((s) => {
    document.getElementById("session-user").textContent = s.user ? `signed in as ${s.user}` : "";
  }).catch(() => {});
  return bar;
}

// ---- polling ----

/** Calls `fn` now and then every `ms` after each call finishes (slow answers never pile
 *  up); paused while the tab is hidden, and run at once when it shows again. */
export function poll(ms, fn) {
  let timer = null;
  let running = false;
  let again = false; // asked for while a call was running: run once more right after it
  let stopped = false;
  let failed = false;
  async function tick() {
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    timer = null;
    if (stopped || document.hidden) return;
    running = true;
    again = false;
    try {
      await fn();
      if (failed) problem(null);
      failed = false;
    } catch (error) {
      if (error.name !== "AbortError") {
        console.warn(error);
        failed = true;
        if (error.status) problem(`The box answered ${error.status}: ${error.detail}`);
        else if (!(error instanceof ApiError)) problem(`This page failed: ${error.message}`);
      }
    } finally {
      running = false;
      if (!stopped && !document.hidden) timer = setTimeout(tick, again ? 0 : ms);
    }
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !timer && !running) tick();
  });
  tick();
  return {
    now: tick,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

// ---- the DOM ----

/** A small element builder: el("a", {href, class}, [children or text]). */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Sets text only when it changed (no needless layout work on every refresh). */
export function setText(node, text) {
  const value = String(text);
  if (node && node.textContent !== value) node.textContent = value;
}

// ---- URL query state: filters and choices survive a reload and can be bookmarked ----

export function queryParam(name, fallback = "") {
  return new URLSearchParams(location.search).get(name) ?? fallback;
}

export function setQuery(values) {
  const params = new URLSearchParams(location.search);
  for (const [key, value] of Object.entries(values)) {
    if (value === "" || value === null || value === undefined) params.delete(key);
    else params.set(key, value);
  }
  const query = params.toString();
  history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
}

// ---- times, durations and numbers ----

/** Epoch seconds from what the API sends: a number (epoch seconds) or an ISO 8601 string. */
export function toSeconds(value) {
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "number") return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms / 1000;
}

const pad = (n) => String(n).padStart(2, "0");

/** 14:03:07 today; "Dec 1, 14:03:07" on other days. */
export function formatTime(value, { seconds = true } = {}) {
  const t = toSeconds(value);
  if (t === null) return "—";
  const date = new Date(t * 1000);
  const clock = `${pad(date.getHours())}:${pad(date.getMinutes())}` +
    (seconds ? `:${pad(date.getSeconds())}` : "");
  if (date.toDateString() === new Date().toDateString()) return clock;
  return `${date.toLocaleDateString(undefined, { month: "short", day: "numeric" })}, ${clock}`;
}

/** "just now", "42 s ago", "5 min ago", "3 h ago", else the time. */
export function formatAgo(value) {
  const t = toSeconds(value);
  if (t === null) return "—";
  const ago = Date.now() / 1000 - t;
  if (ago < 5) return "just now";
  if (ago < 60) return `${Math.round(ago)} s ago`;
  if (ago < 3600) return `${Math.round(ago / 60)} min ago`;
  if (ago < 86400) return `${Math.round(ago / 3600)} h ago`;
  return formatTime(t);
}

/** 3.2 s, 4 min 12 s, 2 h 5 min, 3 d 4 h. */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, seconds);
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

export function formatNumber(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
  return Number(value).toLocaleString(undefined, {
    minimumFractionDigits: digits, maximumFractionDigits: digits,
  });
}

/** The time ranges every page offers, in seconds. */
export const RANGES = [
  [900, "15 min"],
  [3600, "1 h"],
  [21600, "6 h"],
  [86400, "24 h"],
  [604800, "7 d"],
];

// ---- labels and their colours: one colour per label on every chart and timeline ----

const PALETTE = ["#4e9af1", "#f2a541", "#5cc689", "#e5646a", "#a78bfa", "#2dd4bf", "#f472b6",
  "#facc15", "#94a3b8", "#fb923c", "#60a5fa", "#86efac"];
const KNOWN = { person: 0, car: 1, truck: 3, bicycle: 2, motorcycle: 4, bus: 5, dog: 6, cat: 7 };

export function colorFor(name, index = null) {
  if (index !== null) return PALETTE[index % PALETTE.length];
  if (name in KNOWN) return PALETTE[KNOWN[name]];
  let hash = 0;
  for (const c of String(name)) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return PALETTE[8 + (hash % (PALETTE.length - 8))];
}

/** What a happening says, in words (as `edgewatch events` prints it). */
export function happeningWords(h) {
  const place = h.zone ?? "";
  switch (h.kind) {
    case "line_crossed": return `crossed ${place} ${h.direction ?? ""}`.trim();
    case "zone_entered": return `entered ${place}`;
    case "zone_left": return `left ${place}`;
    case "loitering": return `loitering in ${place}`;
    default: return h.kind ?? "";
  }
}
