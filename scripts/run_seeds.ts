/**
 * Trains one config for several seeds, one after another (never in parallel: the runs would slow each
 * other), with the built CLI, and summarises each run's progress.jsonl: env steps and training time until
 * the mean return of the last 100 episodes first reached the threshold.
 *
 *   npm run build
 *   npx tsx scripts/run_seeds.ts configs/ppo-cartpole.yaml --seeds 0,1,2 [--threshold 475] [--set key=value]...
 *
 * The threshold defaults to the config's `stop.env_runners/episode_return_mean`, or to its
 * `stop.evaluation/env_runners/episode_return_mean` (the greedy policy's return) when it stops on that.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command } from "commander";
import { loadRunConfig } from "../src/algos/index.js";

const RETURN_METRIC = "env_runners/episode_return_mean";
const EVALUATION_METRIC = "evaluation/env_runners/episode_return_mean";
/** The mean return a threshold is checked on: of the last 100 training episodes, or of the greedy evaluations. */
export type ReturnMetric = typeof RETURN_METRIC | typeof EVALUATION_METRIC;
const RLTS_BIN = fileURLToPath(new URL("../bin/rlts.js", import.meta.url));

export interface SeedResult {
  seed: number;
  runDir: string;
  /** Env steps sampled when the mean return first reached the threshold; null if it never did. */
  stepsToThreshold: number | null;
  /** Training time (progress.jsonl `time_total_s`, so without process start-up) at that iteration. */
  secondsToThreshold: number | null;
  /** The whole `rlts train` process, start-up and the final checkpoint included. */
  processSeconds: number;
  finalReturn: number | null;
  finalSteps: number;
}

interface ProgressRow {
  /** null (JSON's NaN) until the first episode has ended. */
  [RETURN_METRIC]: number | null;
  /** Only on iterations that evaluated. */
  [EVALUATION_METRIC]?: number | null;
  num_env_steps_sampled_lifetime: number;
  time_total_s: number;
}

function readProgress(runDir: string): ProgressRow[] {
  const file = `${runDir}/progress.jsonl`;
  const lines = readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "");
  if (lines.length === 0) throw new Error(`${file} has no rows: the run stopped before its first iteration`);
  return lines.map((line) => JSON.parse(line) as ProgressRow);
}

/** The first iteration whose `metric` is >= threshold. The null check matters: `null >= -100` is true. */
export function firstCrossing(
  rows: ProgressRow[],
  threshold: number,
  metric: ReturnMetric = RETURN_METRIC,
): ProgressRow | undefined {
  return rows.find((row) => {
    const value = row[metric];
    return value !== null && value !== undefined && value >= threshold;
  });
}

/**
 * Runs `command args` (stderr passes through), waits for it, and parses the last line of its stdout as
 * JSON; `what` names the run in errors. Also returns the process's wall time.
 */
export async function runForLastJsonLine(
  command: string,
  args: string[],
  what: string,
): Promise<{ lastJson: unknown; processSeconds: number }> {
  const started = performance.now();
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  const processSeconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`${what} exited with code ${code}`);
  return { lastJson: JSON.parse(stdout.trimEnd().split("\n").at(-1) ?? ""), processSeconds };
}

/** Runs `rlts train <config> --set seed=<seed>` and waits for it; the CLI's final JSON line names the run dir. */
export async function trainSeed(
  configFile: string,
  seed: number,
  threshold: number,
  overrides: string[] = [],
  metric: ReturnMetric = RETURN_METRIC,
): Promise<SeedResult> {
  const args = [RLTS_BIN, "train", configFile, "--json", "--set", `seed=${seed}`];
  for (const assignment of overrides) args.push("--set", assignment);
  const { lastJson, processSeconds } = await runForLastJsonLine(
    process.execPath,
    args,
    `rlts train ${configFile} (seed ${seed})`,
  );
  const summary = lastJson as { done?: boolean; runDir?: string };
  if (!summary.done || !summary.runDir) {
    throw new Error(
      `rlts train ${configFile} (seed ${seed}): expected a final {"done": true, "runDir": ...} line`,
    );
  }
  const rows = readProgress(summary.runDir);
  const crossing = firstCrossing(rows, threshold, metric);
  const last = rows.findLast((row) => row[metric] !== undefined) ?? rows.at(-1)!;
  return {
    seed,
    runDir: summary.runDir,
    stepsToThreshold: crossing?.num_env_steps_sampled_lifetime ?? null,
    secondsToThreshold: crossing?.time_total_s ?? null,
    processSeconds,
    finalReturn: last[metric] ?? null,
    finalSteps: last.num_env_steps_sampled_lifetime,
  };
}

/** Median of the values that are not null; null when none are (no seed reached the threshold). */
export function median(values: (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null).sort((a, b) => a - b);
  if (known.length === 0) return null;
  const mid = Math.floor(known.length / 2);
  return known.length % 2 === 1 ? known[mid] : (known[mid - 1] + known[mid]) / 2;
}

export function formatNumber(value: number | null, digits = 0): string {
  return value === null ? "not reached" : value.toFixed(digits);
}

function seedTable(results: SeedResult[], threshold: number): string {
  const header = [
    `| seed | env steps to ${threshold} | training s to ${threshold} | process s | final return | final steps |`,
    "| ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  const rows = results.map(
    (r) =>
      `| ${r.seed} | ${formatNumber(r.stepsToThreshold)} | ${formatNumber(r.secondsToThreshold, 1)} | ` +
      `${r.processSeconds.toFixed(1)} | ${r.finalReturn?.toFixed(1) ?? "no episode"} | ${r.finalSteps} |`,
  );
  const reached = results.filter((r) => r.stepsToThreshold !== null).length;
  const medians =
    `| median (${reached}/${results.length} reached) | ${formatNumber(median(results.map((r) => r.stepsToThreshold)))} | ` +
    `${formatNumber(median(results.map((r) => r.secondsToThreshold)), 1)} | ` +
    `${median(results.map((r) => r.processSeconds))!.toFixed(1)} | | |`;
  return [...header, ...rows, medians].join("\n");
}

function parseSeeds(text: string): number[] {
  const seeds = text.split(",").map((part) => Number(part.trim()));
  if (seeds.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new Error(`--seeds: expected a comma-separated list of non-negative integers, got "${text}"`);
  }
  return seeds;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command("run_seeds")
    .argument("<config>", "the run config (YAML)")
    .option("--seeds <list>", "comma-separated seeds", "0,1,2")
    .option("--threshold <return>", "mean return that counts as solved (default: the config's stop return)")
    .option("--set <key=value>", "config override, as for rlts train (repeatable)", collect, [])
    .option("--output <dir>", "where the runs go (config key `output`)", "experiments/seeds")
    .parse(argv);
  const configFile = program.args[0];
  const options = program.opts<{ seeds: string; threshold?: string; set: string[]; output: string }>();
  const overrides = [`output=${options.output}`, ...options.set];
  const config = loadRunConfig(configFile, overrides);
  const metric: ReturnMetric =
    config.stop[RETURN_METRIC] === undefined && config.stop[EVALUATION_METRIC] !== undefined
      ? EVALUATION_METRIC
      : RETURN_METRIC;
  const threshold = options.threshold !== undefined ? Number(options.threshold) : config.stop[metric];
  if (threshold === undefined || Number.isNaN(threshold)) {
    throw new Error(`${configFile}: no stop.${RETURN_METRIC} in the config; pass --threshold <return>`);
  }
  const results: SeedResult[] = [];
  for (const seed of parseSeeds(options.seeds)) {
    const result = await trainSeed(configFile, seed, threshold, overrides, metric);
    console.error(
      `seed ${seed}: ${formatNumber(result.stepsToThreshold)} steps, ${formatNumber(result.secondsToThreshold, 1)} s (${result.runDir})`,
    );
    results.push(result);
  }
  console.log(`${config.name} (${config.env.id}), ${metric} threshold ${threshold}\n`);
  console.log(seedTable(results, threshold));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
