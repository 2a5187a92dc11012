// The throughput chart: download rate by source (HTTP at the bottom, P2P stacked on it) and
// upload rate as a line, over the last minute, on a canvas. Rates are averaged over a few
// seconds: segments arrive in bursts, one every segment duration.

const COLORS = {
  http: "#f59e0b",
  p2p: "#10b981",
  up: "#60a5fa",
  grid: "rgba(148, 163, 184, 0.14)",
  axis: "#94a3b8",
};

/** A scale for `v`: the smallest step of 1, 2 or 5 × 10^k that covers it in at most 5 ticks. */
function scale(v) {
  const base = 10 ** Math.floor(Math.log10(Math.max(v, 1) / 5));
  for (const m of [1, 2, 5, 10, 20, 50]) {
    const step = m * base;
    const ticks = Math.ceil(v / step);
    if (ticks <= 5) return { step, ticks: Math.max(ticks, 1) };
  }
  return { step: 100 * base, ticks: Math.ceil(v / (100 * base)) };
}

function label(bps) {
  if (bps >= 1e6) return `${+(bps / 1e6).toFixed(1)} Mbit/s`;
  if (bps >= 1e3) return `${+(bps / 1e3).toFixed(0)} kbit/s`;
  return `${bps} bit/s`;
}

export class RateChart {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas, { seconds = 60, smoothing = 4 } = {}) {
    this.canvas = canvas;
    this.seconds = seconds;
    this.smoothing = smoothing;
    /** One sample per second: bits per second in that second. */
    this.raw = [];
  }

  /** Adds the last second's rates, in bits per second. */
  push(sample) {
    this.raw.push(sample);
    if (this.raw.length > this.seconds + this.smoothing) this.raw.shift();
  }

  /** The samples averaged over the last `smoothing` seconds, for the visible window. */
  series() {
    const out = [];
    for (let i = Math.max(0, this.raw.length - this.seconds); i < this.raw.length; i++) {
      const from = Math.max(0, i - this.smoothing + 1);
      const n = i - from + 1;
      const avg = { http: 0, p2p: 0, up: 0 };
      for (let j = from; j <= i; j++) for (const k in avg) avg[k] += this.raw[j][k] / n;
      out.push(avg);
    }
    return out;
  }

  draw() {
    const { canvas } = this;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const pad = { left: 64, right: 8, top: 8, bottom: 20 };
    const pw = w - pad.left - pad.right;
    const ph = h - pad.top - pad.bottom;
    const data = this.series();
    const peak = (d) => Math.max(d.http + d.p2p, d.up);
    // The scale follows the last 20 s, so the steady rate stays readable after a burst (a
    // player filling its buffer at start); older peaks above it are cut and labelled.
    const recent = Math.max(0, ...data.slice(-20).map(peak));
    const all = Math.max(0, ...data.map(peak));
    const { step, ticks } = scale(Math.max(64e3, recent * 1.15, all / 4));
    const max = step * ticks;
    const x = (i) => pad.left + pw - ((data.length - 1 - i) / (this.seconds - 1)) * pw;
    const y = (v) => pad.top + ph - (v / max) * ph;

    // Grid and axis labels.
    ctx.font = "11px ui-sans-serif, system-ui, sans-serif";
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    for (let i = 0; i <= ticks; i++) {
      const v = step * i;
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath();
      ctx.moveTo(pad.left, Math.round(y(v)) + 0.5);
      ctx.lineTo(w - pad.right, Math.round(y(v)) + 0.5);
      ctx.stroke();
      ctx.fillStyle = COLORS.axis;
      ctx.fillText(label(v), pad.left - 8, y(v));
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let s = 0; s < this.seconds; s += 15) {
      const px = pad.left + pw - (s / (this.seconds - 1)) * pw;
      ctx.fillText(s === 0 ? "now" : `−${s} s`, Math.max(pad.left + 12, px), h - pad.bottom + 6);
    }
    if (data.length < 2) return;
    ctx.save();
    ctx.beginPath();
    ctx.rect(pad.left, pad.top, pw, ph);
    ctx.clip();

    // Stacked areas: HTTP, then P2P on top of it.
    const area = (lower, upper, color) => {
      ctx.beginPath();
      data.forEach((d, i) => (i === 0 ? ctx.moveTo(x(i), y(upper(d))) : ctx.lineTo(x(i), y(upper(d)))));
      for (let i = data.length - 1; i >= 0; i--) ctx.lineTo(x(i), y(lower(data[i])));
      ctx.closePath();
      const g = ctx.createLinearGradient(0, pad.top, 0, pad.top + ph);
      g.addColorStop(0, `${color}e6`);
      g.addColorStop(1, `${color}66`);
      ctx.fillStyle = g;
      ctx.fill();
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      data.forEach((d, i) => (i === 0 ? ctx.moveTo(x(i), y(upper(d))) : ctx.lineTo(x(i), y(upper(d)))));
      ctx.stroke();
    };
    area(() => 0, (d) => d.http, COLORS.http);
    area((d) => d.http, (d) => d.http + d.p2p, COLORS.p2p);

    // Upload: a line over the areas.
    ctx.strokeStyle = COLORS.up;
    ctx.lineWidth = 2;
    ctx.setLineDash([6, 3]);
    ctx.beginPath();
    data.forEach((d, i) => (i === 0 ? ctx.moveTo(x(i), y(d.up)) : ctx.lineTo(x(i), y(d.up))));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.restore();

    // The highest cut peak, labelled where it leaves the chart.
    let cut = -1;
    data.forEach((d, i) => {
      if (peak(d) > max && (cut < 0 || peak(d) > peak(data[cut]))) cut = i;
    });
    if (cut >= 0) {
      const text = `▲ peak ${label(peak(data[cut]))}`;
      const tx = Math.min(x(cut) + 6, w - pad.right - ctx.measureText(text).width - 8);
      ctx.fillStyle = "rgba(11, 15, 23, 0.85)";
      ctx.fillRect(tx - 4, pad.top + 2, ctx.measureText(text).width + 8, 16);
      ctx.fillStyle = COLORS.axis;
      ctx.textAlign = "left";
      ctx.textBaseline = "top";
      ctx.fillText(text, tx, pad.top + 4);
    }
  }
}
