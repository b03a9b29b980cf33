// uPlot behind one small class, so that every chart on every page behaves the same: sized
// from its container (and resized with it), drawn in the stylesheet's colours, and never a
// blank canvas: with nothing to draw it says "no data in this range" instead.
// uPlot itself is the vendored IIFE build (vendor/uPlot.iife.min.js, loaded by a classic
// <script> before the page's module), so it is a global here.

const uPlot = globalThis.uPlot;

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function hasValues(columns) {
  return columns.some((column) => column.some((v) => v !== null && v !== undefined && Number.isFinite(v)));
}

/** Drops the leading and trailing points where every series is empty: a range of 24 h
 *  with ten minutes of data shows those ten minutes, not a line squeezed against an edge. */
function trimmed(x, columns) {
  let first = 0;
  let last = x.length - 1;
  const filled = (i) => columns.some((c) => c[i] !== null && c[i] !== undefined);
  while (first <= last && !filled(first)) first++;
  while (last >= first && !filled(last)) last--;
  if (first > last) return [[], columns.map(() => [])];
  return [x.slice(first, last + 1), columns.map((c) => c.slice(first, last + 1))];
}

function fmt(digits, unit = "") {
  return (u, v) => (v === null || v === undefined ? "—" : v.toFixed(digits) + unit);
}

/** An x axis for grouped bars: one tick at each bucket's start, named as the bucket
 * (the hour, or the day), thinned to about a dozen so that names never overlap. */
function bucketAxis(bucket) {
  const name = (t) => {
    const date = new Date(t * 1000);
    if (bucket >= 86400) return date.toLocaleDateString([], { month: "short", day: "numeric" });
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  };
  return {
    splits: (u) => {
      const starts = u.data[0];
      const every = Math.max(1, Math.ceil(starts.length / 12));
      return starts.filter((_, i) => i % every === 0);
    },
    values: (u, splits) => splits.map(name),
  };
}

/** Grouped bars: series `i` of `n` takes its own slot inside each bucket. */
function groupedBars(bucket, n) {
  const slot = (bucket * 0.8) / n;
  return (i) => uPlot.paths.bars({
    size: [1, Infinity, 2],
    disp: {
      x0: { unit: 1, values: (u) => u.data[0].map((t) => t + bucket * 0.1 + slot * i) },
      size: { unit: 1, values: (u) => u.data[0].map(() => slot) },
    },
  });
}

/**
 * A time chart in `container`.
 *   series: [{label, color, digits?, unit?}]       one per y column
 *   height: pixels; spark: a bare sparkline (no axes, legend or cursor)
 *   y: {min0: true} start the y axis at 0; {range: [0, 100]} a fixed range
 *   bars: seconds per bucket, to draw grouped bars instead of lines
 *   step: the x step in seconds, to pad a chart with a single point
 */
export class TimeChart {
  constructor(container, { series = [], height = 220, spark = false, y = { min0: true },
    bars = null, step = 60, yLabel = "", empty = "no data in this range" } = {}) {
    this.container = container;
    this.options = { series, height, spark, y, bars, step, yLabel, empty };
    this.plot = null;
    this.signature = "";
    this.data = null;
    this.target = document.createElement("div");
    this.target.className = "chart-plot";
    this.message = document.createElement("div");
    this.message.className = "chart-empty";
    this.message.hidden = true;
    container.replaceChildren(this.target, this.message);
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(container);
  }

  width() {
    return Math.floor(this.container.clientWidth || this.container.getBoundingClientRect().width);
  }

  resize() {
    if (!this.plot) {
      if (this.data) this.draw();
      return;
    }
    const width = this.width();
    if (width > 0 && width !== this.plot.width) this.plot.setSize({ width, height: this.options.height });
  }

  /** New data: x (epoch seconds) and one column per series; `series` replaces the
   *  series definitions (the labels chart gains a line when a new label shows up). */
  update(x, columns, { series, step, bars } = {}) {
    if (series) this.options.series = series;
    if (step) this.options.step = step;
    if (bars) this.options.bars = bars;
    const [tx, tcolumns] = this.options.bars ? [x, columns] : trimmed(x, columns);
    this.data = [tx, ...tcolumns];
    this.draw();
  }

  empty(text = this.options.empty) {
    this.data = null;
    this.destroy();
    this.message.textContent = text;
    this.message.hidden = false;
    this.container.dataset.empty = "true";
  }

  draw() {
    const [x, ...columns] = this.data;
    if (!x.length || !hasValues(columns)) {
      this.empty();
      return;
    }
    const width = this.width();
    if (width <= 0) return; // hidden for now: the ResizeObserver draws it once it has a size
    this.message.hidden = true;
    delete this.container.dataset.empty;
    const signature = JSON.stringify([this.options.series, this.options.bars, this.options.step]);
    if (this.plot && signature === this.signature) {
      this.plot.setData(this.data);
      return;
    }
    this.destroy();
    this.signature = signature;
    this.plot = new uPlot(this.uplotOptions(width), this.data, this.target);
  }

  uplotOptions(width) {
    const { series, height, spark, y, bars, step, yLabel } = this.options;
    const muted = cssVar("--muted");
    const grid = { stroke: cssVar("--grid"), width: 1 };
    const group = bars ? groupedBars(bars, series.length) : null;
    const pad = bars ?? step;
    return {
      width, height,
      legend: { show: !spark },
      cursor: spark ? { show: false } : { drag: { x: true, y: false } },
      padding: spark ? [4, 2, 4, 2] : [10, 12, 0, 0],
      scales: {
        x: {
          time: true,
          // From the data itself: uPlot widens a single point's time range to a day.
          range: (u) => {
            const x = u.data[0];
            const [lo, hi] = [x[0], x[x.length - 1]];
            if (bars) return [lo, hi + bars];
            return lo === hi ? [lo - pad, hi + pad] : [lo, hi];
          },
        },
        y: {
          range: (u, min, max) => {
            if (y.range) return y.range;
            const lo = y.min0 ? Math.min(0, min) : min;
            const hi = max <= lo ? lo + 1 : max + (max - lo) * 0.08;
            return [lo, hi];
          },
        },
      },
      axes: spark ? [{ show: false }, { show: false }] : [
        { stroke: muted, grid, ticks: grid, ...(bars ? bucketAxis(bars) : {}) },
        { stroke: muted, grid, ticks: grid, size: 52, label: yLabel || undefined,
          labelSize: yLabel ? 18 : 0 },
      ],
      series: [
        { value: (u, v) => (v === null ? "—" : new Date(v * 1000).toLocaleTimeString()) },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: s.color,
          width: spark ? 1.5 : 2,
          fill: bars ? s.color + "cc" : (s.fill ?? (spark ? s.color + "33" : undefined)),
          value: fmt(s.digits ?? 1, s.unit ?? ""),
          spanGaps: false,
          points: bars ? { show: false } : { size: spark ? 3 : 5 },
          paths: group ? group(i) : undefined,
        })),
      ],
    };
  }

  destroy() {
    if (this.plot) {
      this.plot.destroy();
      this.plot = null;
      this.signature = "";
    }
  }
}
