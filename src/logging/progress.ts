/**
 * Per-iteration monitoring of a training run: one JSON row per iteration in `<runDir>/progress.jsonl`,
 * the same scalars in a TensorBoard event file in `<runDir>`, and one line on the terminal.
 *
 * It knows nothing of algorithms: whatever metrics the caller passes are written. The names RLlib uses
 * (ARCHITECTURE.md, "Metric names") make the rows readable by tools built for RLlib's progress files.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { writeFileDurably } from "../utils/files.js";
import { EventFileWriter } from "./tfevents.js";

/** `line`: a progress line per iteration; `quiet`: nothing; `json`: each row as JSON, for scripts. */
export type ProgressMode = "line" | "quiet" | "json";

/** Training stops once `metric` reaches `target` (RLlib's `stop` dict: any condition met stops it). */
export interface StopCondition {
  metric: string;
  target: number;
}

export interface ProgressOutput {
  write(text: string): unknown;
  /** A terminal gets a progress bar towards the stop condition; a pipe or file does not. */
  isTTY?: boolean;
}

export interface ProgressLoggerOptions {
  runDir: string;
  mode?: ProgressMode;
  stop?: StopCondition[];
  /** Where progress lines go; `process.stdout` by default. */
  output?: ProgressOutput;
  /**
   * A resumed run, from its checkpoint's iteration and TensorBoard step: `progress.jsonl` keeps only its
   * rows up to that iteration, so rows written after the checkpoint (and a line cut short by a crash) do
   * not appear twice or break readers, and TensorBoard gets a restart marker just after that step.
   */
  resumedFrom?: { iteration: number; step: number };
}

// The metrics the terminal line shows.
const ENV_STEPS = "num_env_steps_sampled_lifetime";
const RETURN_MEAN = "env_runners/episode_return_mean";
const EVALUATION_RETURN_MEAN = "evaluation/env_runners/episode_return_mean";
const STEPS_PER_S = "throughput/env_steps_per_s";
const BAR_WIDTH = 20;

export class ProgressLogger {
  readonly runDir: string;
  private readonly mode: ProgressMode;
  private readonly stop: StopCondition[];
  private readonly output: ProgressOutput;
  private readonly events: EventFileWriter;
  private progressFd: number | null;
  private readonly startMs = Date.now();
  // Where each stop metric started, so the bar measures progress from there (returns can be negative).
  private readonly stopBaselines = new Map<string, number>();
  private last: { step: number; envSteps: number; timeS: number } | null = null;

  constructor({
    runDir,
    mode = "line",
    stop = [],
    output = process.stdout,
    resumedFrom,
  }: ProgressLoggerOptions) {
    if (!["line", "quiet", "json"].includes(mode)) {
      throw new Error(`ProgressLogger: mode must be "line", "quiet" or "json", got ${JSON.stringify(mode)}`);
    }
    for (const [i, condition] of stop.entries()) {
      if (typeof condition?.metric !== "string" || !Number.isFinite(condition.target)) {
        throw new Error(
          `ProgressLogger: stop[${i}] must be {metric: string, target: finite number}, got ${JSON.stringify(condition)}`,
        );
      }
    }
    this.runDir = runDir;
    this.mode = mode;
    this.stop = stop;
    this.output = output;
    mkdirSync(runDir, { recursive: true });
    const progressFile = join(runDir, "progress.jsonl");
    if (resumedFrom) keepRowsUpTo(progressFile, resumedFrom.iteration);
    // Appending, so a run resumed from a checkpoint continues its own file.
    this.progressFd = openSync(progressFile, "a");
    this.events = new EventFileWriter(runDir);
    if (resumedFrom) this.events.addSessionStart(resumedFrom.step + 1);
  }

  /**
   * Records iteration `iteration` (1-based, like RLlib's `training_iteration`). The row gets
   * `training_iteration` and `time_total_s` (seconds since this logger started, unless `metrics` brings
   * its own, as a resumed run does). TensorBoard's step is `num_env_steps_sampled_lifetime` when
   * present, so curves of runs with different batch sizes line up; otherwise the iteration.
   * Histograms with no values (say, no episode finished this iteration) are skipped.
   */
  log(
    iteration: number,
    metrics: Record<string, number>,
    histograms: Record<string, ArrayLike<number>> = {},
  ): void {
    if (this.progressFd === null) throw new Error(`ProgressLogger: ${this.runDir} is closed`);
    if (!Number.isSafeInteger(iteration) || iteration < 0) {
      throw new Error(`ProgressLogger.log: iteration must be a non-negative integer, got ${iteration}`);
    }
    for (const [name, value] of Object.entries(metrics)) {
      if (typeof value !== "number") {
        throw new Error(
          `ProgressLogger.log: metric ${JSON.stringify(name)} must be a number, got ${typeof value}`,
        );
      }
    }
    const row: Record<string, number> = {
      training_iteration: iteration,
      ...metrics,
      time_total_s: metrics.time_total_s ?? (Date.now() - this.startMs) / 1000,
    };
    const envSteps = row[ENV_STEPS];
    const step = Number.isSafeInteger(envSteps) ? envSteps : iteration;

    // JSON has no NaN: a metric with no value yet (no episode finished) becomes null, as in RLlib's files.
    const json = JSON.stringify(row);
    writeSync(this.progressFd, `${json}\n`);
    for (const [name, value] of Object.entries(row)) this.events.addScalar(name, value, step);
    for (const [name, values] of Object.entries(histograms)) {
      if (values.length > 0) this.events.addHistogram(name, values, step);
    }
    this.events.flush();

    if (this.mode === "json") this.output.write(`${json}\n`);
    if (this.mode === "line") this.output.write(`${this.progressLine(row)}\n`);
    this.last = { step, envSteps, timeS: row.time_total_s };
  }

  /** A status message for people (start, stop, checkpoints): stderr, so `--json` stdout stays machine-readable. */
  note(message: string): void {
    if (this.mode !== "quiet") process.stderr.write(`${message}\n`);
  }

  /** A text summary (markdown) in TensorBoard, e.g. the resolved config once at the start. */
  logText(tag: string, text: string): void {
    this.events.addText(tag, text, this.last?.step ?? 0);
    this.events.flush();
  }

  close(): void {
    if (this.progressFd === null) return;
    closeSync(this.progressFd);
    this.progressFd = null;
    this.events.close();
  }

  private progressLine(row: Record<string, number>): string {
    let stepsPerS = row[STEPS_PER_S];
    if (stepsPerS === undefined && this.last !== null) {
      stepsPerS = (row[ENV_STEPS] - this.last.envSteps) / (row.time_total_s - this.last.timeS);
    }
    const parts = [
      `iter ${String(row.training_iteration).padStart(4)}`,
      `steps ${formatCount(row[ENV_STEPS]).padStart(10)}`,
      `return ${formatReal(row[RETURN_MEAN]).padStart(8)}`,
      `${formatCount(stepsPerS).padStart(7)} steps/s`,
      formatDuration(row.time_total_s),
    ];
    // On iterations that evaluate, the greedy policy's return too.
    if (row[EVALUATION_RETURN_MEAN] !== undefined)
      parts.push(`eval ${formatReal(row[EVALUATION_RETURN_MEAN])}`);
    if (this.output.isTTY && this.stop.length > 0) parts.push(this.progressBar(row));
    return parts.join("  ");
  }

  /** A bar for the stop condition nearest to being met. */
  private progressBar(row: Record<string, number>): string {
    let best = { fraction: -1, label: "" };
    for (const { metric, target } of this.stop) {
      const value = row[metric];
      if (!Number.isFinite(value)) continue;
      if (!this.stopBaselines.has(metric)) this.stopBaselines.set(metric, Math.min(0, value));
      const baseline = this.stopBaselines.get(metric)!;
      const fraction =
        target === baseline ? 1 : Math.min(1, Math.max(0, (value - baseline) / (target - baseline)));
      if (fraction > best.fraction)
        best = { fraction, label: `${metric} ${formatReal(value)}/${formatReal(target)}` };
    }
    if (best.fraction < 0) return "";
    const filled = Math.round(best.fraction * BAR_WIDTH);
    const percent = `${Math.floor(best.fraction * 100)}%`.padStart(4);
    return `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${percent} ${best.label}`;
  }
}

function formatCount(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? "-" : Math.round(x).toLocaleString("en-US");
}

function formatReal(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return "-";
  return Math.abs(x) >= 1000 ? x.toFixed(0) : x.toFixed(2);
}

function formatDuration(seconds: number): string {
  const s = Math.floor(seconds);
  const hms = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  return `${hms[0]}:${String(hms[1]).padStart(2, "0")}:${String(hms[2]).padStart(2, "0")}`;
}

/** Rewrites `file` with its complete rows whose `training_iteration` is at most `iteration`. */
function keepRowsUpTo(file: string, iteration: number): void {
  if (!existsSync(file)) return;
  const kept = readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => {
      try {
        return (JSON.parse(line) as { training_iteration?: number }).training_iteration! <= iteration;
      } catch {
        return false; // empty, or cut short by a crash
      }
    });
  writeFileDurably(file, kept.map((line) => `${line}\n`).join(""));
}
