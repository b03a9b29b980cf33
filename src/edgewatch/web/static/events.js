// Events: the event store's episodes, newest first, filtered by camera, label, zone or
// line, kind and time. Polled every 2 s: new episodes slide in at the top and open ones
// update in place (their snapshot, their end), without a reload. A click opens the
// snapshot full size with the episode's details and what happened in it. "Older events"
// pages on from the last row shown (`?limit=` sets the page's size, 100 by default).

import {
  api, colorFor, el, formatDuration, formatNumber, formatTime, happeningWords, navBar, poll,
  queryParam, setQuery, setText, toSeconds,
} from "/static/common.js";

const LIMIT = Math.min(Math.max(Number(queryParam("limit", "100")) || 100, 1), 1000);
const SINCE = [[900, "last 15 min"], [3600, "last hour"], [21600, "last 6 h"], [86400, "last 24 h"],
  [604800, "last 7 days"], [2592000, "last 30 days"], ["", "any time"]];
const DEFAULT_SINCE = "86400";
const KINDS = ["entered", "left", "zone_entered", "zone_left", "line_crossed", "loitering"];
const KIND_NAMES = {
  entered: "entered the picture", left: "left the picture", zone_entered: "entered a zone",
  zone_left: "left a zone", line_crossed: "crossed a line", loitering: "loitering",
};
const FILTERS = {
  camera: "#filter-camera", label: "#filter-label", zone: "#filter-zone", kind: "#filter-kind",
  since_s: "#filter-since",
};

const $ = (selector) => document.querySelector(selector);
const list = $("#events-list");
const modal = $("#event-modal");
const rows = new Map(); // id -> {node, event, signature}
let shown = false; // the first answer for these filters is not "new"
let request = 0;
let openId = null;
let pages = []; // the last event of each newer page shown before this one: {id, start_s}
let lastEvent = null; // of the latest answer

// ---- filters ----

function filters() {
  const values = {};
  for (const [name, selector] of Object.entries(FILTERS)) values[name] = $(selector).value;
  return values;
}

function fillSelect(select, values, names = {}) {
  const current = select.value || select.dataset.want || "";
  const first = select.options[0];
  const options = [...new Set([...values, ...(current ? [current] : [])])].map((v) =>
    el("option", { value: v }, names[v] ?? v));
  select.replaceChildren(first, ...options);
  select.value = current;
}

async function loadFacets() {
  const facets = await api("/api/events/facets");
  fillSelect($("#filter-camera"), facets.cameras || []);
  fillSelect($("#filter-label"), facets.labels || []);
  fillSelect($("#filter-zone"), facets.zones || []);
  fillSelect($("#filter-kind"), facets.kinds?.length ? facets.kinds : KINDS, KIND_NAMES);
}

function setupFilters() {
  const since = $("#filter-since");
  since.replaceChildren(...SINCE.map(([value, name]) => el("option", { value }, name)));
  for (const [name, selector] of Object.entries(FILTERS)) {
    const select = $(selector);
    let wanted = queryParam(name, name === "since_s" ? DEFAULT_SINCE : "");
    if (name === "since_s" && wanted === "all") wanted = "";
    if (name !== "since_s") {
      select.dataset.want = wanted; // kept until the facets arrive with the option
      if (wanted) select.append(el("option", { value: wanted }, wanted));
    }
    select.value = wanted;
    select.addEventListener("change", filtersChanged);
  }
  $("#filters").addEventListener("submit", (event) => event.preventDefault());
  $("#filters").addEventListener("reset", () => setTimeout(() => {
    for (const selector of Object.values(FILTERS)) $(selector).dataset.want = "";
    $("#filter-since").value = DEFAULT_SINCE;
    filtersChanged();
  }));
}

let refresher = null;

function filtersChanged() {
  for (const selector of Object.values(FILTERS)) $(selector).dataset.want = "";
  const values = filters();
  setQuery({ ...values, since_s: values.since_s === DEFAULT_SINCE ? "" : values.since_s || "all" });
  pages = [];
  showPage();
}

function showPage() {
  request++;
  rows.clear();
  list.replaceChildren();
  shown = false;
  refresher?.now();
}

function setupPager() {
  $("#events-older").addEventListener("click", () => {
    if (!lastEvent) return;
    pages.push({ id: lastEvent.id, start_s: lastEvent.start_s });
    showPage();
  });
  $("#events-newest").addEventListener("click", () => {
    pages = [];
    showPage();
  });
}

// ---- the list ----

function snapshotUrl(path) {
  return "/api/snapshots/" + String(path).split("/").map(encodeURIComponent).join("/");
}

function story(event) {
  const words = (event.happenings || [])
    .filter((h) => h.kind !== "entered" && h.kind !== "left")
    .map(happeningWords);
  if (event.stationary) words.push("stationary");
  return [...new Set(words)].join(" · ") || (event.end_time ? "came and went" : "in view");
}

function labelChip(label) {
  return el("span", { class: "chip" }, [el("span", { class: "dot", style: `background:${colorFor(label)}` }), label]);
}

function fillRow(node, event) {
  const thumbUrl = event.thumbnail_url || event.snapshot_url;
  const thumb = thumbUrl
    ? el("img", { class: "thumb", src: thumbUrl, alt: `${event.label} on ${event.camera}`, loading: "lazy" })
    : el("div", { class: "thumb none" }, "no snapshot yet");
  const old = node.querySelector(".thumb");
  const start = toSeconds(event.start_time ?? event.start);
  const end = toSeconds(event.end_time ?? event.end);
  const open = end === null;
  node.replaceChildren(
    old && old.tagName === "IMG" && old.getAttribute("src") === thumbUrl ? old : thumb,
    el("div", { class: "what" }, [
      el("div", { class: "title" }, [
        labelChip(event.label),
        el("span", { class: "mono muted" }, `#${event.track_id}`),
        el("span", {}, event.camera),
        open ? el("span", { class: "badge-open" }, "● in view") : null,
      ]),
      el("div", { class: "story" }, story(event)),
    ]),
    el("div", { class: "when", title: event.start_time ?? "" }, [
      el("strong", {}, formatTime(start)),
      open ? "still in view" : formatDuration(event.duration_s ?? end - start),
      el("div", {}, `score ${formatNumber((event.top_score ?? event.score ?? 0) * 100)} %`),
    ]),
  );
}

function newRow(event) {
  const node = el("li", {
    class: "event-row", tabindex: 0, role: "button", dataset: { id: event.id },
    "aria-label": `${event.label} on ${event.camera}`,
  });
  node.addEventListener("click", () => openModal(node.dataset.id));
  node.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      openModal(node.dataset.id);
    }
  });
  return node;
}

async function loadEvents() {
  const mine = request;
  const values = filters();
  const params = new URLSearchParams({ limit: LIMIT });
  for (const [name, value] of Object.entries(values)) if (value) params.set(name, value);
  const cursor = pages.at(-1);
  if (cursor) params.set("before", cursor.id);
  const data = await api(`/api/events?${params}`);
  if (mine !== request) return; // the filters changed meanwhile
  const events = Array.isArray(data) ? data : data.events || [];
  const seen = new Set();
  let before = list.firstElementChild;
  for (const event of events) {
    seen.add(event.id);
    const signature = JSON.stringify(event);
    let row = rows.get(event.id);
    if (!row) {
      row = { node: newRow(event), signature: "" };
      rows.set(event.id, row);
      if (shown) row.node.classList.add("fresh");
    }
    if (row.signature !== signature) {
      fillRow(row.node, event);
      row.signature = signature;
      row.event = event;
      if (openId === event.id && modal.open) renderModal(event);
    }
    if (row.node !== before) list.insertBefore(row.node, before);
    else before = before.nextElementSibling;
  }
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.node.remove();
      rows.delete(id);
    }
  }
  shown = true;
  lastEvent = events.at(-1) ?? null;
  $("#events-empty").hidden = events.length > 0;
  const full = events.length >= LIMIT;
  $("#events-pager").hidden = !full && !cursor;
  $("#events-older").disabled = !full;
  $("#events-newest").hidden = !cursor;
  const count = `${events.length} event${events.length === 1 ? "" : "s"}`;
  setText($("#events-summary"), cursor ? `${count} before ${formatTime(cursor.start_s)}`
    : full ? `the newest ${LIMIT}` : count);
  setText($("#events-updated"), `updated ${formatTime(Date.now() / 1000)}`);
}

// ---- the modal ----

function showFull(url) {
  const img = modal.querySelector("img.full");
  const none = modal.querySelector(".no-snapshot");
  if (url) {
    if (img.getAttribute("src") !== url) img.src = url;
    img.hidden = false;
    none.hidden = true;
  } else {
    img.removeAttribute("src");
    img.hidden = true;
    none.hidden = false;
  }
}

function renderModal(event) {
  setText(modal.querySelector("#event-modal-title"), `${event.label} #${event.track_id} on ${event.camera}`);
  showFull(event.snapshot_url || event.thumbnail_url);
  const start = toSeconds(event.start_time ?? event.start);
  const end = toSeconds(event.end_time ?? event.end);
  const crossings = (event.crossings || []).map((c) => `${c.line} ${c.direction} at ${formatTime(c.time)}`);
  const details = [
    ["Camera", event.camera],
    ["Label", event.label],
    ["Object", `#${event.track_id}`],
    ["Started", `${formatTime(start)} (${new Date(start * 1000).toLocaleDateString()})`],
    ["Ended", end === null ? "still in view" : formatTime(end)],
    ["Duration", end === null ? "—" : formatDuration(event.duration_s ?? end - start)],
    ["Score", `${formatNumber((event.score ?? 0) * 100, 1)} %`],
    ["Best confidence", `${formatNumber((event.top_score ?? 0) * 100, 1)} %`],
    ["Zones entered", (event.entered_zones || []).join(", ") || "—"],
    // The store keeps neither the box nor the zones an object is in now: shown when sent.
    event.current_zones?.length ? ["In zones now", event.current_zones.join(", ")] : null,
    ["Lines crossed", crossings.join("; ") || "—"],
    ["Loitering", (event.loitering || []).join(", ") || "—"],
    ["Stationary", event.stationary ? "yes" : "no"],
    event.box?.some((v) => v) ? ["Box", event.box.map((v) => Math.round(v)).join(", ")] : null,
    ["Event id", event.id],
  ];
  modal.querySelector(".details").replaceChildren(...details.filter(Boolean).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const happenings = event.happenings || [];
  modal.querySelector(".happenings").replaceChildren(...(happenings.length ? happenings.map((h) => {
    const url = h.snapshot_url || (h.snapshot ? snapshotUrl(h.snapshot) : null);
    return el("li", { dataset: { kind: h.kind } }, [
      el("time", {}, formatTime(h.time)),
      el("span", { style: "flex:1" }, happeningWords(h)),
      h.confidence ? el("span", { class: "muted" }, `${formatNumber(h.confidence * 100)} %`) : null,
      url ? el("img", { src: url, alt: happeningWords(h), title: "show this picture", onclick: () => showFull(url) }) : null,
    ]);
  }) : [el("li", { class: "muted" }, "nothing recorded")]));
}

function openModal(id) {
  const row = rows.get(id);
  if (!row) return;
  openId = id;
  renderModal(row.event);
  if (!modal.open) modal.showModal();
}

function setupModal() {
  modal.querySelector(".close").addEventListener("click", () => modal.close());
  modal.addEventListener("click", (event) => {
    if (event.target === modal) modal.close(); // a click on the backdrop
  });
  modal.addEventListener("close", () => {
    openId = null;
  });
}

navBar();
setupFilters();
setupPager();
setupModal();
poll(30000, loadFacets);
refresher = poll(2000, loadEvents);
