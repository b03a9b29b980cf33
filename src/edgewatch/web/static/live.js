// Live: one tile per camera with its annotated picture, state, frames/s and the objects in
// view now. The picture is the MJPEG stream where the browser can afford one (it holds a
// connection open, and a browser keeps at most six per host), else latest.jpg polled at
// 10 frames/s; either stops while the tab is hidden, so the box encodes nothing for a
// camera nobody watches.

import { api, colorFor, el, formatNumber, formatTime, navBar, poll, setText } from "/static/common.js";

const MAX_STREAMS = 4;
const FRAME_MS = 100;
const MOVING = new Set(["live", "reconnecting", "stalled"]);
const NOTES = {
  reconnecting: "reconnecting to the camera…",
  stalled: "no frames for a while…",
  ended: "the stream has ended",
  "not running": "not running: start `edgewatch run` to see this camera",
};

const grid = document.getElementById("cameras");
const tiles = new Map();
const pageLoaded = new Promise((resolve) => {
  // Pictures start after the load event: an MJPEG stream never finishes loading, and
  // started earlier it would hold the page's load event (and whoever waits for it) forever.
  if (document.readyState === "complete") resolve();
  else addEventListener("load", resolve, { once: true });
});
let loaded = false;
pageLoaded.then(() => {
  loaded = true;
  for (const tile of tiles.values()) tile.sync();
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function pictureUrl(name, what) {
  return `/api/cameras/${encodeURIComponent(name)}/${what}`;
}

function objectChips(objects) {
  const entries = Object.entries(objects || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return [el("span", { class: "muted" }, "none")];
  return entries.map(([label, n]) =>
    el("span", { class: "chip", dataset: { label } }, [
      el("span", { class: "dot", style: `background:${colorFor(label)}` }), `${label} ${n}`,
    ]));
}

class Tile {
  constructor(camera, streams) {
    this.name = camera.name;
    this.mode = streams ? "mjpeg" : "poll";
    this.state = null;
    this.running = false; // a stream or a polling loop is on
    this.generation = 0;
    this.still = null; // the state a still picture was last fetched for
    this.objectUrl = null;
    this.img = el("img", { class: "live", alt: `${camera.name}, live picture` });
    this.note = el("div", { class: "picture-note" }, "waiting for the first picture…");
    this.picture = el("div", { class: "picture" }, [this.img, this.note]);
    this.stateBadge = el("span", { class: "state" });
    this.fps = el("dd", { class: "fps" }, "—");
    this.objects = el("dd", { class: "objects" });
    this.detections = el("dd", { class: "detections" }, "—");
    this.frame = el("dd", { class: "frame" }, "—");
    this.node = el("article", { class: "card camera-tile", dataset: { camera: camera.name } }, [
      this.picture,
      el("div", { class: "tile-info" }, [
        el("div", { class: "tile-title" }, [el("h2", { class: "name", title: camera.name }, camera.name), this.stateBadge]),
        el("dl", { class: "figures" }, [
          el("div", {}, [el("dt", {}, "frames/s"), this.fps]),
          el("div", {}, [el("dt", {}, "detections"), this.detections]),
          el("div", {}, [el("dt", {}, "frame"), this.frame]),
        ]),
        el("dl", { class: "figures" }, [el("div", {}, [el("dt", {}, "in view now"), this.objects])]),
      ]),
    ]);
    this.img.addEventListener("load", () => {
      if (!NOTES[this.state]) this.note.hidden = true;
    });
    this.img.addEventListener("error", () => this.failed());
  }

  update(camera) {
    const state = camera.state || "unknown";
    setText(this.stateBadge, state);
    this.stateBadge.className = `state state-${state.replace(/\s+/g, "-")}`;
    setText(this.fps, camera.fps === null || camera.fps === undefined ? "—" : formatNumber(camera.fps, 1));
    setText(this.detections, formatNumber(camera.detections));
    setText(this.frame, camera.last_frame === null || camera.last_frame === undefined ? "—" : formatNumber(camera.last_frame));
    const key = JSON.stringify(camera.objects || {});
    if (this.objects.dataset.key !== key) {
      this.objects.dataset.key = key;
      this.objects.replaceChildren(...objectChips(camera.objects));
    }
    if (camera.width && camera.height) this.picture.style.aspectRatio = `${camera.width} / ${camera.height}`;
    if (state !== this.state) {
      this.state = state;
      if (NOTES[state]) {
        this.note.textContent = NOTES[state];
        this.note.hidden = false;
      } else if (!this.img.naturalWidth) {
        this.note.textContent = "waiting for the first picture…";
        this.note.hidden = false;
      } else {
        this.note.hidden = true;
      }
      this.sync();
    }
  }

  /** Starts or stops the picture to match the state and whether anyone can see it. */
  sync() {
    if (!loaded) return;
    const want = MOVING.has(this.state) && !document.hidden;
    if (want && !this.running) this.start();
    else if (!want && this.running) this.stop();
    // "not running": `edgewatch web` alone has no pictures at all; don't ask.
    const still = !want && this.state !== "not running" && this.still !== this.state;
    if (still && !document.hidden) this.showStill();
  }

  start() {
    this.running = true;
    const generation = ++this.generation;
    if (this.mode === "mjpeg") this.img.src = pictureUrl(this.name, "mjpeg");
    else this.pollFrames(generation);
  }

  stop() {
    this.running = false;
    this.generation++;
    // Closes the stream's connection (its error event is ignored: not running); sync()
    // then shows the last still picture in its place.
    if (this.mode === "mjpeg") this.img.removeAttribute("src");
  }

  failed() {
    if (!this.running) return;
    if (this.mode === "mjpeg") {
      // No stream (an older box, a proxy that buffers multipart): poll the still instead.
      this.mode = "poll";
      this.running = false;
      this.start();
    }
  }

  async pollFrames(generation) {
    while (generation === this.generation) {
      const started = performance.now();
      let wait = FRAME_MS;
      try {
        const response = await api(`${pictureUrl(this.name, "latest.jpg")}?t=${Date.now()}`, {
          raw: true, headers: { Accept: "image/jpeg" },
        });
        const blob = await response.blob();
        if (generation !== this.generation) break;
        this.show(blob);
      } catch {
        wait = 1000; // no picture yet (404) or the box is away: ask again in a second
      }
      await sleep(Math.max(0, wait - (performance.now() - started)));
    }
  }

  show(blob) {
    const url = URL.createObjectURL(blob);
    const old = this.objectUrl;
    this.objectUrl = url;
    this.img.src = url;
    if (old) setTimeout(() => URL.revokeObjectURL(old), 1000);
  }

  /** The last picture of a camera that is not moving (ended): fetched once per state. */
  async showStill() {
    this.still = this.state;
    if (this.objectUrl) return;
    try {
      const response = await api(`${pictureUrl(this.name, "latest.jpg")}?t=${Date.now()}`, {
        raw: true, headers: { Accept: "image/jpeg" },
      });
      this.show(await response.blob());
    } catch {
      // none kept: the note says why
    }
  }
}

async function refresh() {
  const cameras = await api("/api/cameras");
  document.getElementById("no-cameras").hidden = cameras.length > 0;
  const seen = new Set();
  let streams = [...tiles.values()].filter((t) => t.mode === "mjpeg").length;
  let before = grid.firstElementChild;
  for (const camera of cameras) {
    seen.add(camera.name);
    let tile = tiles.get(camera.name);
    if (!tile) {
      tile = new Tile(camera, streams < MAX_STREAMS);
      if (tile.mode === "mjpeg") streams++;
      tiles.set(camera.name, tile);
    }
    if (tile.node !== before) grid.insertBefore(tile.node, before);
    else before = before.nextElementSibling;
    tile.update(camera);
  }
  for (const [name, tile] of tiles) {
    if (!seen.has(name)) {
      tile.stop();
      tile.node.remove();
      tiles.delete(name);
    }
  }
  const live = cameras.filter((c) => c.state === "live").length;
  const inView = cameras.reduce((sum, c) => sum + Object.values(c.objects || {}).reduce((a, b) => a + b, 0), 0);
  setText(document.getElementById("live-summary"),
    `${cameras.length} camera${cameras.length === 1 ? "" : "s"} · ${live} live · ${inView} object${inView === 1 ? "" : "s"} in view`);
  setText(document.getElementById("live-updated"), `updated ${formatTime(Date.now() / 1000)}`);
}

document.addEventListener("visibilitychange", () => {
  for (const tile of tiles.values()) tile.sync();
});

navBar();
poll(2000, refresh);
