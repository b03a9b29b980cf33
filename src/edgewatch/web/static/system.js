// System: the box's health every 2 s (CPU, memory, temperatures, GPUs, each camera's
// frames/s, drops and reconnects, what waits for the broker or the database), with CPU and
// memory sparklines over the time this page has been open. The host figures are read
// from `host` and, where a figure is missing there, from the raw sample
// (pipeline/system.py's flat keys), so both shapes of the answer show.

import { api, el, formatNumber, formatTime, navBar, poll, setText } from "/static/common.js";
import { TimeChart } from "/static/charts.js";

const KEEP = 1800; // an hour of samples at one per 2 s
const history = { time: [], cpu: [], memory: [] };
const $ = (selector) => document.querySelector(selector);

const sparks = {
  cpu: new TimeChart($('.chart[data-chart="cpu"]'), {
    spark: true, height: 56, y: { range: [0, 100] }, empty: "collecting…",
    series: [{ label: "CPU", color: "#4e9af1", unit: " %" }],
  }),
  memory: new TimeChart($('.chart[data-chart="memory"]'), {
    spark: true, height: 56, y: { range: [0, 100] }, empty: "collecting…",
    series: [{ label: "memory", color: "#a78bfa", unit: " %" }],
  }),
};

const first = (...values) => values.find((v) => v !== undefined && v !== null);
const isNumber = (v) => typeof v === "number" && Number.isFinite(v);

function meterClass(percent) {
  return percent >= 90 ? "meter full" : percent >= 70 ? "meter high" : "meter";
}

function kvList(node, pairs, empty) {
  node.replaceChildren(...(pairs.length
    ? pairs.flatMap(([k, v, attrs = {}]) => [el("dt", {}, k), el("dd", attrs, v)])
    : [el("dt", { class: "muted" }, empty), el("dd")]));
}

function temperatures(host, raw) {
  const t = host.temperatures;
  if (Array.isArray(t)) return t.map((r) => [r.name ?? r.label ?? r.sensor, first(r.celsius, r.current, r.value)]);
  if (t && typeof t === "object") return Object.entries(t).map(([k, v]) => [k, isNumber(v) ? v : first(v?.current, v?.celsius)]);
  return Object.entries(raw)
    .filter(([k]) => /^temp_.+_c$/.test(k))
    .map(([k, v]) => [k.slice(5, -2).replace(/_/g, " "), v]);
}

function gpus(host, raw) {
  const g = host.gpu ?? host.gpus;
  if (Array.isArray(g)) return g;
  if (g && typeof g === "object" && Object.keys(g).length) {
    // {"0": {...}} or the flat gpu0_* keys
    const nested = Object.values(g).every((v) => v && typeof v === "object");
    if (nested) return Object.entries(g).map(([index, v]) => ({ index, ...v }));
    return flatGpus(g);
  }
  return flatGpus(raw);
}

function flatGpus(sample) {
  const found = new Map();
  for (const [key, value] of Object.entries(sample)) {
    const m = /^gpu(\d+)_(.+)$/.exec(key);
    if (!m) continue;
    if (!found.has(m[1])) found.set(m[1], { index: m[1] });
    found.get(m[1])[m[2]] = value;
  }
  const jetson = Object.entries(sample).filter(([k]) => k.startsWith("jetson_"));
  if (jetson.length) found.set("jetson", { index: "jetson", ...Object.fromEntries(jetson.map(([k, v]) => [k.slice(7), v])) });
  return [...found.values()];
}

function renderGpus(list) {
  const box = $("#system-gpu .gpus");
  if (!list.length) {
    box.replaceChildren(el("p", { class: "muted" }, "no GPU figures (no NVIDIA driver or Jetson tools here)"));
    return;
  }
  box.replaceChildren(...list.map((g) => {
    const util = first(g.util_percent, g.utilization, g.gpu_percent, g.gpu);
    const used = first(g.mem_used_mb, g.memory_used_mb);
    const total = first(g.mem_total_mb, g.memory_total_mb);
    const temp = first(g.temp_c, g.temperature_c, g.temperature);
    const pairs = [];
    if (isNumber(util)) pairs.push(["load", `${formatNumber(util)} %`]);
    if (isNumber(used)) pairs.push(["memory", `${formatNumber(used)}${isNumber(total) ? " / " + formatNumber(total) : ""} MB`]);
    if (isNumber(temp)) pairs.push(["temperature", `${formatNumber(temp)} °C`]);
    for (const [k, v] of Object.entries(g)) {
      if (!pairs.length && k !== "index" && k !== "name" && isNumber(v)) pairs.push([k.replace(/_/g, " "), formatNumber(v, 1)]);
    }
    const dl = el("dl", { class: "kv" });
    kvList(dl, pairs, "no readings");
    return el("div", { class: "gpu", dataset: { gpu: g.index ?? "" } }, [
      el("div", { class: "muted" }, g.name ?? (g.index === "jetson" ? "Jetson" : `GPU ${g.index ?? ""}`)),
      isNumber(util) ? el("div", { class: meterClass(util) }, el("span", { style: `width:${util}%` })) : null,
      dl,
    ]);
  }));
}

function renderCameras(cameras) {
  const body = $("#system-cameras tbody");
  if (!cameras.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "empty" }, "no cameras")));
    return;
  }
  body.replaceChildren(...cameras.map((c) => {
    const state = c.state || "unknown";
    return el("tr", { dataset: { camera: c.name } }, [
      el("td", {}, c.name),
      el("td", {}, el("span", { class: `state state-${state.replace(/\s+/g, "-")}` }, state)),
      el("td", { class: "num fps" }, isNumber(c.fps) ? formatNumber(c.fps, 1) : "—"),
      el("td", { class: "num drops" }, isNumber(c.drops) ? formatNumber(c.drops) : "—"),
      el("td", { class: "num reconnects" }, isNumber(c.reconnects) ? formatNumber(c.reconnects) : "—"),
    ]);
  }));
}

function setTile(id, percent) {
  const tile = $(`#${id}`);
  tile.querySelector(".value").replaceChildren(isNumber(percent) ? formatNumber(percent, 1) : "—",
    isNumber(percent) ? el("small", {}, " %") : "");
  tile.dataset.value = isNumber(percent) ? percent : "";
}

async function refresh() {
  const data = await api("/api/system");
  const host = data.host || {};
  const raw = data.raw || {};
  const time = first(data.time, raw.timestamp, Date.now() / 1000);

  const cpu = first(host.cpu_percent, raw.cpu_percent);
  const memory = first(host.memory_percent, host.mem_percent, raw.mem_percent);
  setTile("system-cpu", cpu);
  setTile("system-memory", memory);
  const cores = first(host.cpu_count, raw.cpu_count);
  const load = [first(host.load1, raw.load1), first(host.load5, raw.load5), first(host.load15, raw.load15)];
  setText($("#system-load"), (isNumber(cores) ? `${cores} cores · ` : "") +
    (load.every(isNumber) ? `load ${load.map((v) => v.toFixed(2)).join(" ")}` : ""));
  const used = first(host.memory_used_mb, host.mem_used_mb, raw.mem_used_mb);
  const available = first(host.memory_available_mb, host.mem_available_mb, raw.mem_available_mb);
  setText($("#system-memory-sub"), [
    isNumber(used) ? `${formatNumber(used / 1024, 1)} GB used` : "",
    isNumber(available) ? `${formatNumber(available / 1024, 1)} GB free` : "",
  ].filter(Boolean).join(" · "));

  if (!history.time.length || time > history.time.at(-1)) {
    history.time.push(time);
    history.cpu.push(isNumber(cpu) ? cpu : null);
    history.memory.push(isNumber(memory) ? memory : null);
    for (const column of Object.values(history)) if (column.length > KEEP) column.shift();
  }
  sparks.cpu.update(history.time, [history.cpu], { step: 2 });
  sparks.memory.update(history.time, [history.memory], { step: 2 });

  const queues = data.queues || {};
  const names = { mqtt_outbox: "MQTT outbox", influx_spool: "InfluxDB spool" };
  kvList($("#system-queues .kv"), Object.entries({ mqtt_outbox: null, influx_spool: null, ...queues }).map(([k, v]) => [
    names[k] ?? k.replace(/_/g, " "),
    isNumber(v) ? `${formatNumber(v)} waiting` : "off",
    { class: `queue-${k.replace(/_/g, "-")}`, "data-value": isNumber(v) ? v : "" },
  ]), "nothing queued");

  kvList($("#system-temperatures .kv"), temperatures(host, raw)
    .filter(([, v]) => isNumber(v))
    .map(([k, v]) => [k, `${formatNumber(v, 1)} °C`]), "no sensors readable here");
  renderGpus(gpus(host, raw));
  renderCameras(data.cameras || []);

  lastSample = data.raw ?? data;
  showSample();
  setText($("#system-host"), host.hostname ?? host.name ?? "");
  setText($("#system-updated"), `updated ${formatTime(time)}`);
}

let lastSample = null;

function showSample() {
  const details = $("#system-raw");
  if (details.open) setText(details.querySelector("pre"), JSON.stringify(lastSample ?? {}, null, 2));
}

$("#system-raw").addEventListener("toggle", showSample);

navBar();
poll(2000, refresh);
