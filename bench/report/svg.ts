/**
 * The benchmark's chart, written by hand as SVG (no chart dependency): panels of log–log line
 * plots, one series per line, with dashed lines for reference series (Nova's numbers).
 */

export interface Series {
  name: string;
  points: Array<[number, number]>;
  color: string;
  /** Dashed: another system's numbers; dotted: a goal. */
  dashed?: boolean;
  dotted?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

const W = 400;
const H = 300;
const M = { left: 56, right: 12, top: 34, bottom: 84 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(v: number): string {
  if (v >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

/** Decade bounds around the data, and the ticks to label (1, 2, 5 per decade when the range is short). */
function logAxis(values: number[]): { min: number; max: number; ticks: number[] } {
  const positive = values.filter((v) => v > 0);
  const lo = positive.length ? Math.min(...positive) : 1;
  const hi = positive.length ? Math.max(...positive) : 10;
  let min = 10 ** Math.floor(Math.log10(lo));
  let max = 10 ** Math.ceil(Math.log10(hi));
  if (max <= min) max = min * 10;
  const decades = Math.round(Math.log10(max / min));
  const steps = decades <= 2 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let d = min; d <= max * 1.0001; d *= 10) for (const s of steps) if (d * s <= max * 1.0001) ticks.push(d * s);
  // Tighten to the data when it sits well inside the decades.
  if (lo / min > 2) min = Math.max(min, ticks.filter((t) => t <= lo).at(-1) ?? min);
  if (max / hi > 2) max = Math.min(max, ticks.find((t) => t >= hi) ?? max);
  // One value: a range around it.
  if (max <= min) {
    min /= 2;
    max *= 2;
    ticks.push(min, max);
  }
  return { min, max, ticks: ticks.filter((t) => t >= min * 0.9999 && t <= max * 1.0001) };
}

function panel(p: Panel, ox: number): string {
  const xs = p.series.flatMap((s) => s.points.map(([x]) => x));
  const ys = p.series.flatMap((s) => s.points.map(([, y]) => y));
  const xa = logAxis(xs);
  const ya = logAxis(ys);
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const px = (x: number): number => ox + M.left + (pw * Math.log(x / xa.min)) / Math.log(xa.max / xa.min);
  const py = (y: number): number => M.top + ph - (ph * Math.log(y / ya.min)) / Math.log(ya.max / ya.min);
  const out: string[] = [];
  out.push(`<text x="${ox + W / 2}" y="18" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
  // grid and ticks
  const xTicks = [...new Set(xs)].sort((a, b) => a - b);
  for (const t of ya.ticks) {
    out.push(`<line x1="${ox + M.left}" x2="${ox + M.left + pw}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${ox + M.left - 6}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<line x1="${px(t).toFixed(1)}" x2="${px(t).toFixed(1)}" y1="${M.top}" y2="${M.top + ph}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${px(t).toFixed(1)}" y="${M.top + ph + 16}" text-anchor="middle">${fmt(t)}</text>`);
  }
  out.push(`<rect x="${ox + M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${ox + M.left + pw / 2}" y="${M.top + ph + 34}" text-anchor="middle">${esc(p.xLabel)}</text>`);
  out.push(`<text transform="translate(${ox + 14},${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`);
  // series
  p.series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => x > 0 && y > 0).sort((a, b) => a[0] - b[0]);
    const dash = s.dashed ? ' stroke-dasharray="5,4"' : s.dotted ? ' stroke-dasharray="1,3"' : '';
    if (pts.length > 1) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    }
    for (const [x, y] of s.dotted ? [] : pts) {
      out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(s.name)}: ${fmt(y)} at ${fmt(x)}</title></circle>`);
    }
    // legend below the plot, two columns
    const lx = ox + M.left + (i % 2) * (pw / 2);
    const ly = M.top + ph + 50 + Math.floor(i / 2) * 15;
    out.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 22}" y="${ly}">${esc(s.name)}</text>`);
  });
  return out.join('\n');
}

/** Panels side by side, with a caption line at the bottom. */
export function renderChart(panels: Panel[], caption: string): string {
  const width = W * panels.length;
  const height = H + 22;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    ...panels.map((p, i) => panel(p, i * W)),
    `<text x="8" y="${height - 8}" fill="#555">${esc(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}
