/**
 * Learning curves from `progress.jsonl` files, as an SVG (the core of `rlts plot`).
 *
 * Runs under the same parent folder (`experiments/<name>/<run>`) are seeds of one experiment: they are
 * drawn as their mean with a band (min–max, or ±1 std) across seeds. Any other run is drawn alone.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

export interface PlotOptions {
  /** The y value: a column of progress.jsonl. */
  metric?: string;
  /** The x value: a column of progress.jsonl. */
  x?: string;
  /** The SVG file to write. */
  out: string;
  title?: string;
  /** The band around the mean of several seeds. */
  band?: "minmax" | "std";
  /** Told of each run folder left out because it has no rows yet (it just started, or never did). */
  onSkip?: (runDir: string) => void;
}

/** One curve: a run, or the mean of an experiment's seeds with its band. */
export interface Curve {
  label: string;
  runDirs: string[];
  x: number[];
  y: number[];
  band?: { low: number[]; high: number[] };
}

export type ProgressRow = Record<string, number | null>;

/** The rows of `<runDir>/progress.jsonl`. A torn last line (the run is still writing it) is ignored. */
export function readProgress(runDir: string): ProgressRow[] {
  const path = join(runDir, "progress.jsonl");
  if (!existsSync(path)) throw new Error(`plot: no progress.jsonl in ${runDir}`);
  const text = readFileSync(path, "utf8");
  const lines = text.split("\n");
  const rows: ProgressRow[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      rows.push(JSON.parse(line));
    } catch (error) {
      const isTornTail = i === lines.length - 1 && !text.endsWith("\n");
      if (!isTornTail) throw new Error(`plot: ${path}:${i + 1} is not JSON (${(error as Error).message})`);
    }
  });
  return rows;
}

/** The finite (x, y) points of one run, sorted by x. */
function runPoints(runDir: string, x: string, metric: string): { x: number[]; y: number[] } {
  const rows = readProgress(runDir);
  const points = rows
    .map((row) => [row[x], row[metric]])
    .filter((p): p is [number, number] => Number.isFinite(p[0]) && Number.isFinite(p[1]))
    .sort((a, b) => a[0] - b[0]);
  if (points.length === 0) {
    const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))].join(", ");
    throw new Error(
      `plot: ${runDir} has no rows with numbers for both ${JSON.stringify(x)} and ${JSON.stringify(metric)}` +
        ` (columns: ${columns || "none, the file is empty"})`,
    );
  }
  return { x: points.map((p) => p[0]), y: points.map((p) => p[1]) };
}

/** Linear interpolation of (xs, ys), sorted by x, at `at` (inside their range). */
function interpolate(xs: number[], ys: number[], at: number): number {
  let i = 1;
  while (i < xs.length - 1 && xs[i] < at) i++;
  if (xs.length === 1 || xs[i] === xs[i - 1]) return ys[i];
  const t = (at - xs[i - 1]) / (xs[i] - xs[i - 1]);
  return ys[i - 1] + Math.min(1, Math.max(0, t)) * (ys[i] - ys[i - 1]);
}

/**
 * Curves for `runDirs`: one per run, except that runs sharing a parent folder become one mean curve.
 * Seeds rarely log at identical x, so each is interpolated at every x any of them logged within the
 * range all of them cover.
 */
function learningCurves(
  runDirs: string[],
  { metric, x, band }: Required<Pick<PlotOptions, "metric" | "x" | "band">>,
): Curve[] {
  const groups = new Map<string, string[]>();
  for (const runDir of runDirs) {
    const parent = dirname(resolve(runDir));
    groups.set(parent, [...(groups.get(parent) ?? []), runDir]);
  }
  return [...groups.entries()].map(([parent, dirs]) => {
    const runs = dirs.map((dir) => runPoints(dir, x, metric));
    if (runs.length === 1) {
      return { label: `${basename(parent)}/${basename(resolve(dirs[0]))}`, runDirs: dirs, ...runs[0] };
    }
    const from = Math.max(...runs.map((run) => run.x[0]));
    const to = Math.min(...runs.map((run) => run.x[run.x.length - 1]));
    if (from > to) {
      throw new Error(`plot: the seeds in ${parent} share no range of ${JSON.stringify(x)} to average over`);
    }
    const grid = [...new Set(runs.flatMap((run) => run.x.filter((v) => v >= from && v <= to)))].sort(
      (a, b) => a - b,
    );
    const samples = grid.map((at) => runs.map((run) => interpolate(run.x, run.y, at)));
    const mean = samples.map((ys) => ys.reduce((a, b) => a + b, 0) / ys.length);
    const spread =
      band === "std"
        ? samples.map((ys, i) => Math.sqrt(ys.reduce((a, y) => a + (y - mean[i]) ** 2, 0) / ys.length))
        : null;
    return {
      label: `${basename(parent)} (${runs.length} seeds)`,
      runDirs: dirs,
      x: grid,
      y: mean,
      band: {
        low: spread ? mean.map((m, i) => m - spread[i]) : samples.map((ys) => Math.min(...ys)),
        high: spread ? mean.map((m, i) => m + spread[i]) : samples.map((ys) => Math.max(...ys)),
      },
    };
  });
}

// ---------------------------------------------------------------------------------------------------
// SVG
// ---------------------------------------------------------------------------------------------------
const WIDTH = 860;
const HEIGHT = 500;
const MARGIN = { left: 72, right: 230, top: 44, bottom: 56 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;
// matplotlib's tab10: distinct, and familiar to anyone who has read an RL paper.
const COLORS = [
  "#1f77b4",
  "#ff7f0e",
  "#2ca02c",
  "#d62728",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
];

/** About `count` round tick values (steps of 1, 2 or 5 times a power of ten) covering [lo, hi]. */
function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (lo === hi) return [lo];
  const rough = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
    ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Tick labels: 250k, 1.5M for step counts; up to 4 significant digits otherwise. */
function formatTick(v: number): string {
  const abs = Math.abs(v);
  if (abs >= 1e6) return `${Number((v / 1e6).toPrecision(4))}M`;
  if (abs >= 1e4) return `${Number((v / 1e3).toPrecision(4))}k`;
  return String(Number(v.toPrecision(4)));
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The SVG of `curves`, x against y. */
function curvesToSvg(
  curves: Curve[],
  { x, metric, title }: { x: string; metric: string; title: string },
): string {
  const allX = curves.flatMap((c) => c.x);
  const allY = curves.flatMap((c) => [...c.y, ...(c.band ? [...c.band.low, ...c.band.high] : [])]);
  const xTicks = niceTicks(Math.min(...allX), Math.max(...allX));
  const yTicks = niceTicks(Math.min(...allY), Math.max(...allY));
  // The axes span the data and the outer ticks, so no curve touches the frame unlabelled.
  const [x0, x1] = [Math.min(...allX, ...xTicks), Math.max(...allX, ...xTicks)];
  const [y0, y1] = [Math.min(...allY, ...yTicks), Math.max(...allY, ...yTicks)];
  const px = (v: number) => (MARGIN.left + (x1 === x0 ? 0.5 : (v - x0) / (x1 - x0)) * PLOT_W).toFixed(2);
  const py = (v: number) => (MARGIN.top + (y1 === y0 ? 0.5 : 1 - (v - y0) / (y1 - y0)) * PLOT_H).toFixed(2);
  const polyline = (xs: number[], ys: number[]) =>
    xs.map((v, i) => `${i ? "L" : "M"}${px(v)},${py(ys[i])}`).join(" ");

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text class="title" x="${MARGIN.left + PLOT_W / 2}" y="26" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
  ];
  for (const t of xTicks) {
    out.push(
      `<line x1="${px(t)}" x2="${px(t)}" y1="${MARGIN.top}" y2="${MARGIN.top + PLOT_H}" stroke="#e5e5e5"/>`,
      `<text class="tick" x="${px(t)}" y="${MARGIN.top + PLOT_H + 16}" text-anchor="middle">${formatTick(t)}</text>`,
    );
  }
  for (const t of yTicks) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + PLOT_W}" y1="${py(t)}" y2="${py(t)}" stroke="#e5e5e5"/>`,
      `<text class="tick" x="${MARGIN.left - 6}" y="${py(t)}" text-anchor="end" dominant-baseline="middle">${formatTick(t)}</text>`,
    );
  }
  out.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#333"/>`,
    `<text class="axis-label" x="${MARGIN.left + PLOT_W / 2}" y="${HEIGHT - 14}" text-anchor="middle">${escapeXml(x)}</text>`,
    `<text class="axis-label" transform="translate(18 ${MARGIN.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle">${escapeXml(metric)}</text>`,
  );
  curves.forEach((curve, i) => {
    const color = COLORS[i % COLORS.length];
    if (curve.band) {
      const { low, high } = curve.band;
      const outline = `${polyline(curve.x, high)} ${polyline([...curve.x].reverse(), [...low].reverse()).replace("M", "L")} Z`;
      out.push(`<path class="band" d="${outline}" fill="${color}" fill-opacity="0.2" stroke="none"/>`);
    }
    out.push(
      `<path class="curve" data-label="${escapeXml(curve.label)}" d="${polyline(curve.x, curve.y)}" fill="none" stroke="${color}" stroke-width="2"/>`,
    );
    const ly = MARGIN.top + 10 + i * 20;
    const lx = MARGIN.left + PLOT_W + 16;
    out.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
      `<text class="legend" x="${lx + 30}" y="${ly}" dominant-baseline="middle">${escapeXml(curve.label)}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

/** Plots `metric` against `x` for `runDirs` into the SVG file `out`; returns the curves drawn. */
export function plotRuns(
  runDirs: string[],
  {
    metric = "env_runners/episode_return_mean",
    x = "num_env_steps_sampled_lifetime",
    out,
    title = metric,
    band = "minmax",
    onSkip,
  }: PlotOptions,
): Curve[] {
  if (runDirs.length === 0) throw new Error("plot: no run directories given");
  const withRows = runDirs.filter((dir) => {
    const empty = !existsSync(join(dir, "progress.jsonl")) || readProgress(dir).length === 0;
    if (empty) onSkip?.(dir);
    return !empty;
  });
  if (withRows.length === 0) throw new Error(`plot: none of the ${runDirs.length} run folders has a row yet`);
  const curves = learningCurves(withRows, { metric, x, band });
  mkdirSync(dirname(resolve(out)), { recursive: true });
  writeFileSync(out, curvesToSvg(curves, { x, metric, title }));
  return curves;
}
