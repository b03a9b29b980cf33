// Panels: the reference dashboard for one camera and a time range (stat tiles, the charts,
// the labels each object had, how long each kept its label) and the counts of line
// crossings and zone entries per hour or day. Refreshed every 10 s; the camera, range and
// bucket are kept in the address so that a reload or a bookmark shows the same view.

import {
  RANGES, api, colorFor, el, formatDuration, formatNumber, formatTime, navBar, poll, queryParam,
  setQuery, setText, toSeconds,
} from "/static/common.js";
import { TimeChart } from "/static/charts.js";

/** Bucket width per range: about 90-150 points on each chart. */
const BUCKET_S = { 900: 10, 3600: 30, 21600: 180, 86400: 600, 604800: 3600 };
const COUNT_BUCKET_S = { hour: 3600, day: 86400 };
const TIMELINE_MAX = 80;

const view = {
  camera: queryParam("camera"),
  range: Number(queryParam("range", "3600")) in BUCKET_S ? Number(queryParam("range", "3600")) : 3600,
  bucket: queryParam("bucket", "hour") in COUNT_BUCKET_S ? queryParam("bucket", "hour") : "hour",
};
let request = 0; // answers to an older choice of camera or range are dropped

const $ = (selector) => document.querySelector(selector);
const chartBox = (name) => $(`.chart[data-chart="${name}"]`);

const charts = {
  detections: new TimeChart(chartBox("detections"), {
    series: [{ label: "detections", color: "#4e9af1", digits: 2 }],
  }),
  boxes: new TimeChart(chartBox("boxes"), {
    series: [
      { label: "width", color: "#2dd4bf", digits: 0, unit: " px" },
      { label: "height", color: "#f2a541", digits: 0, unit: " px" },
    ],
  }),
  labels: new TimeChart(chartBox("labels"), { series: [] }),
  confidence: new TimeChart(chartBox("confidence"), {
    series: [{ label: "confidence", color: "#5cc689", digits: 1, unit: " %" }],
    y: { range: [0, 100] },
  }),
  counts: new TimeChart(chartBox("counts"), { series: [], bars: 3600, height: 240 }),
};

function setStat(id, value, unit = "") {
  const node = $(`#${id} .value`);
  node.replaceChildren(value, unit ? el("small", {}, ` ${unit}`) : "");
}

// ---- the panels ----

async function loadPanels() {
  if (!view.camera) return;
  const mine = ++request;
  const bucket = BUCKET_S[view.range];
  const data = await api(
    `/api/panels/${encodeURIComponent(view.camera)}?since_s=${view.range}&bucket_s=${bucket}`);
  if (mine !== request) return;
  setStat("stat-last-frame", data.last_frame_number === null || data.last_frame_number === undefined
    ? "—" : formatNumber(data.last_frame_number));
  setStat("stat-total", formatNumber(data.current_total));
  setStat("stat-confidence", data.avg_confidence_pct === null || data.avg_confidence_pct === undefined
    ? "—" : formatNumber(data.avg_confidence_pct, 1), data.avg_confidence_pct === null ? "" : "%");

  const series = data.series || {};
  const x = series.time || [];
  const step = data.bucket_s || bucket;
  charts.detections.update(x, [series.detections || []], { step });
  charts.boxes.update(x, [series.avg_box_width || [], series.avg_box_height || []], { step });
  const perLabel = series.objects_per_label || {};
  const labels = Object.keys(perLabel).sort();
  charts.labels.update(x, labels.map((label) => perLabel[label]), {
    step, series: labels.map((label) => ({ label, color: colorFor(label), digits: 2 })),
  });
  charts.confidence.update(x, [series.avg_confidence_pct || []], { step });
  renderTimeline(data.label_timeline || [], toSeconds(data.until));
  renderStateChanges(data.state_changes || []);
  setText($("#panel-updated"), `updated ${formatTime(Date.now() / 1000)}`);
}

function renderTimeline(items, until) {
  const box = $("#label-timeline");
  const note = $("#timeline-note");
  if (!items.length) {
    box.replaceChildren(el("div", { class: "empty" }, "no objects in this range"));
    setText(note, "");
    return;
  }
  const now = until ?? Date.now() / 1000;
  const objects = new Map();
  for (const item of items) {
    const start = toSeconds(item.start);
    const end = toSeconds(item.end) ?? now;
    if (start === null) continue;
    if (!objects.has(item.object)) objects.set(item.object, []);
    objects.get(item.object).push({ label: item.label, start, end: Math.max(end, start) });
  }
  // The objects seen last, in the order they appeared.
  let lanes = [...objects.entries()].map(([object, segments]) => ({
    object, segments,
    first: Math.min(...segments.map((s) => s.start)),
    last: Math.max(...segments.map((s) => s.end)),
  }));
  const total = lanes.length;
  lanes.sort((a, b) => b.last - a.last);
  lanes = lanes.slice(0, TIMELINE_MAX).sort((a, b) => a.first - b.first);
  const t0 = Math.min(...lanes.map((l) => l.first));
  const t1 = Math.max(t0 + 1, ...lanes.map((l) => l.last));
  const span = t1 - t0;
  const pct = (t) => ((t - t0) / span) * 100;
  const trackPx = Math.max(100, box.clientWidth - 80); // the lane name column is 70 px
  const fits = (s) => ((pct(s.end) - pct(s.start)) / 100) * trackPx >= 8 * s.label.length + 8;
  const rows = lanes.map((lane) => el("div", { class: "lane", dataset: { object: lane.object } }, [
    el("div", { class: "lane-name" }, `#${lane.object}`),
    el("div", { class: "lane-track" }, lane.segments.map((s) => el("div", {
      class: "seg",
      dataset: { label: s.label },
      style: `left:${pct(s.start).toFixed(3)}%;width:${Math.max(pct(s.end) - pct(s.start), 0.4).toFixed(3)}%;` +
        `background:${colorFor(s.label)}`,
      title: `#${lane.object} ${s.label}: ${formatTime(s.start)} – ${formatTime(s.end)} (${formatDuration(s.end - s.start)})`,
    }, fits(s) ? s.label : ""))),
  ]));
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) =>
    el("span", { style: `left:${f * 100}%` }, formatTime(t0 + f * span)));
  box.replaceChildren(...rows, el("div", { class: "axis" }, ticks));
  setText(note, total > TIMELINE_MAX ? `the last ${TIMELINE_MAX} of ${total} objects` : `${total} object${total === 1 ? "" : "s"}`);
}

function labelChip(label) {
  if (label === null || label === undefined) return el("span", { class: "muted" }, "—");
  return el("span", { class: "chip" }, [el("span", { class: "dot", style: `background:${colorFor(label)}` }), label]);
}

function renderStateChanges(changes) {
  const body = $("#state-changes tbody");
  if (!changes.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "empty" }, "no label changes in this range")));
    return;
  }
  const newest = [...changes].sort((a, b) => toSeconds(b.time) - toSeconds(a.time)).slice(0, 300);
  body.replaceChildren(...newest.map((c) => el("tr", { dataset: { object: c.object } }, [
    el("td", { class: "mono" }, `#${c.object}`),
    el("td", {}, labelChip(c.from)),
    el("td", {}, labelChip(c.to)),
    el("td", {}, formatTime(c.time)),
    el("td", { class: "num" }, formatDuration(c.kept_s)),
  ])));
}

// ---- the counts ----

const arrow = (direction) => String(direction ?? "").replace("->", " → ");

async function loadCounts() {
  if (!view.camera) return;
  const mine = request;
  const data = await api(`/api/counts?camera=${encodeURIComponent(view.camera)}` +
    `&since_s=${view.range}&bucket=${view.bucket}`);
  if (mine !== request) return;
  const totals = data.totals || { lines: [], zones: [] };
  const rows = [
    ...(totals.lines || []).map((t) => el("tr", {
      dataset: { camera: t.camera, line: t.line, direction: t.direction },
    }, [el("td", {}, t.line), el("td", {}, arrow(t.direction)), el("td", { class: "num count" }, String(t.count))])),
    ...(totals.zones || []).map((t) => el("tr", { dataset: { camera: t.camera, zone: t.zone } }, [
      el("td", {}, t.zone), el("td", { class: "muted" }, "entered"),
      el("td", { class: "num count" }, String(t.count)),
    ])),
  ];
  $("#counts-table tbody").replaceChildren(...(rows.length ? rows : [el("tr", {},
    el("td", { colspan: 3, class: "empty" }, "no line crossings or zone entries in this range"))]));

  // Per bucket: one series per line and direction and per zone, as grouped bars.
  const keys = new Map();
  const add = (key, start, count) => {
    if (!keys.has(key)) keys.set(key, new Map());
    const t = toSeconds(start);
    keys.get(key).set(t, (keys.get(key).get(t) || 0) + count);
  };
  for (const r of data.lines || []) add(`${r.line} ${arrow(r.direction)}`, r.start, r.count);
  for (const r of data.zones || []) add(`${r.zone} entered`, r.start, r.count);
  const starts = [...new Set([...keys.values()].flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  const names = [...keys.keys()];
  const columns = names.map((name) => starts.map((t) => keys.get(name).get(t) ?? null));
  charts.counts.update(starts, columns, {
    bars: COUNT_BUCKET_S[data.bucket] || COUNT_BUCKET_S[view.bucket],
    series: names.map((label, i) => ({ label, color: colorFor(null, i), digits: 0 })),
  });
  $("#counts-buckets thead").replaceChildren(el("tr", {}, [el("th", {}, view.bucket === "day" ? "Day" : "Hour"),
    ...names.map((n) => el("th", { class: "num" }, n))]));
  $("#counts-buckets tbody").replaceChildren(...starts.map((t, i) => el("tr", {}, [
    el("td", {}, formatTime(t, { seconds: false })),
    ...columns.map((c) => el("td", { class: "num" }, c[i] ?? 0)),
  ])));
}

// ---- the choices ----

function pressed(group, attribute, value) {
  for (const button of group.querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset[attribute] === String(value)));
  }
}

function setupControls(cameras) {
  const select = $("#panel-camera");
  select.replaceChildren(...cameras.map((c) => el("option", { value: c.name }, c.name)));
  if (!cameras.some((c) => c.name === view.camera)) view.camera = cameras[0]?.name ?? "";
  select.value = view.camera;
  select.addEventListener("change", () => choose({ camera: select.value }));

  const ranges = $("#panel-range");
  ranges.replaceChildren(...RANGES.map(([seconds, name]) =>
    el("button", { type: "button", dataset: { range: seconds }, onclick: () => choose({ range: seconds }) }, name)));
  pressed(ranges, "range", view.range);

  const buckets = $("#counts-bucket");
  for (const button of buckets.querySelectorAll("button")) {
    button.addEventListener("click", () => choose({ bucket: button.dataset.bucket }));
  }
  pressed(buckets, "bucket", view.bucket);
}

let refresher = null;

function choose(change) {
  Object.assign(view, change);
  setQuery({ camera: view.camera, range: view.range, bucket: view.bucket });
  pressed($("#panel-range"), "range", view.range);
  pressed($("#counts-bucket"), "bucket", view.bucket);
  refresher?.now();
}

async function main() {
  navBar();
  const cameras = await api("/api/cameras");
  setupControls(cameras);
  if (!view.camera) {
    for (const chart of Object.values(charts)) chart.empty("no camera is configured");
    return;
  }
  refresher = poll(10000, async () => {
    await loadPanels();
    await loadCounts();
  });
}

main();
