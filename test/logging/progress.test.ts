import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ProgressLogger, type ProgressOutput } from "../../src/logging/progress.js";
import { readWithTensorBoard } from "./readTfevents.js";

const tmpRoot = mkdtempSync(join(tmpdir(), "rlts-progress-"));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

/** Collects what the logger prints, posing as a terminal or a pipe. */
function capture(isTTY: boolean): ProgressOutput & { lines: () => string[] } {
  let text = "";
  return {
    isTTY,
    write: (s: string) => {
      text += s;
    },
    lines: () => text.split("\n").filter((line) => line !== ""),
  };
}

const readRows = (runDir: string) =>
  readFileSync(join(runDir, "progress.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));

// Three iterations of a PPO-like run; no episode has finished in the first.
const iterations = [1, 2, 3].map((i) => ({
  "env_runners/episode_return_mean": i === 1 ? Number.NaN : 100 * i,
  "env_runners/num_episodes": i === 1 ? 0 : 10 * i,
  num_env_steps_sampled_lifetime: 4000 * i,
  "learners/policy_loss": -0.01 * i,
  "throughput/env_steps_per_s": 5000 + i,
}));
const episodeReturns = [[], [90, 110], [250, 350]];

describe("ProgressLogger", () => {
  const runDir = join(tmpRoot, "experiments", "ppo_cartpole", "seed0");
  const terminal = capture(true);
  const logger = new ProgressLogger({
    runDir,
    stop: [
      { metric: "env_runners/episode_return_mean", target: 450 },
      { metric: "num_env_steps_sampled_lifetime", target: 100_000 },
    ],
    output: terminal,
  });
  logger.logText("config", "```yaml\nlr: 0.0003\n```");
  iterations.forEach((metrics, i) => {
    logger.log(i + 1, metrics, { "env_runners/episode_returns": episodeReturns[i] });
  });
  logger.close();

  it("appends one RLlib-style row per iteration to progress.jsonl", () => {
    const rows = readRows(runDir);
    expect(rows).toHaveLength(3);
    rows.forEach((row, i) => {
      const { "env_runners/episode_return_mean": returnMean, ...rest } = iterations[i];
      expect(row).toMatchObject({ training_iteration: i + 1, ...rest });
      // JSON has no NaN: no finished episode yet reads as null.
      expect(row["env_runners/episode_return_mean"]).toBe(i === 0 ? null : returnMean);
      expect(row.time_total_s).toBeGreaterThanOrEqual(i === 0 ? 0 : rows[i - 1].time_total_s);
    });
  });

  it("writes the same scalars to TensorBoard, stepped by env steps", () => {
    const seen = readWithTensorBoard(runDir);
    const policyLoss = seen.scalars["learners/policy_loss"];
    expect(policyLoss.map((e) => e.step)).toEqual([4000, 8000, 12000]);
    expect(policyLoss.map((e) => e.value)).toEqual(
      iterations.map((m) => Math.fround(m["learners/policy_loss"])),
    );
    expect(seen.scalars.training_iteration.map((e) => e.value)).toEqual([1, 2, 3]);
    expect(seen.scalars["env_runners/episode_return_mean"].map((e) => e.value)).toEqual(["NaN", 200, 300]);
    expect(Object.keys(seen.scalars)).toContain("time_total_s");
    // The empty histogram of iteration 1 is skipped.
    expect(seen.histograms["env_runners/episode_returns"].map((h) => [h.step, h.num, h.min, h.max])).toEqual([
      [8000, 2, 90, 110],
      [12000, 2, 250, 350],
    ]);
    expect(seen.texts.config).toEqual([{ step: 0, plugin_name: "text", text: "```yaml\nlr: 0.0003\n```" }]);
  });

  it("prints one line per iteration, with a bar towards the nearest stop condition on a terminal", () => {
    const lines = terminal.lines();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(
      /^iter {4}1 {2}steps {6}4,000 {2}return {8}- {4}5,001 steps\/s {2}0:00:00 {2}\[#-{19}\] {3}4% num_env/,
    );
    // Iteration 3: return 300 of 450 from a baseline of 0 is the nearer condition (66%).
    expect(lines[2]).toMatch(
      /return {3}300\.00 .* \[#{13}-{7}\] {2}66% env_runners\/episode_return_mean 300\.00\/450\.00$/,
    );
  });

  it("prints no bar to a pipe, JSON rows in json mode and nothing in quiet mode", () => {
    const pipe = capture(false);
    const json = capture(false);
    const quiet = capture(false);
    const stop = [{ metric: "num_env_steps_sampled_lifetime", target: 1e5 }];
    const loggers = [
      new ProgressLogger({ runDir: join(tmpRoot, "pipe"), stop, output: pipe }),
      new ProgressLogger({ runDir: join(tmpRoot, "json"), mode: "json", output: json }),
      new ProgressLogger({ runDir: join(tmpRoot, "quiet"), mode: "quiet", output: quiet }),
    ];
    for (const logger of loggers) {
      for (const [i, metrics] of iterations.entries()) logger.log(i + 1, metrics);
      logger.close();
    }
    expect(pipe.lines()).toHaveLength(3);
    expect(pipe.lines().join("\n")).not.toContain("[");
    expect(json.lines().map((line) => JSON.parse(line))).toEqual(readRows(join(tmpRoot, "json")));
    expect(quiet.lines()).toEqual([]);
  });

  it("shows the greedy evaluation's return on the iterations that evaluate", () => {
    const out = capture(false);
    const logger = new ProgressLogger({ runDir: join(tmpRoot, "evaluation"), output: out });
    logger.log(1, { num_env_steps_sampled_lifetime: 100, "env_runners/episode_return_mean": 20 });
    logger.log(2, {
      num_env_steps_sampled_lifetime: 200,
      "env_runners/episode_return_mean": 30,
      "evaluation/env_runners/episode_return_mean": 487.5,
    });
    logger.close();
    const [first, second] = out.lines();
    expect(first).not.toContain("eval");
    expect(second).toMatch(/eval 487\.5/);
  });

  it("keeps a resumed run's own time_total_s, and appends to its progress.jsonl", () => {
    const dir = join(tmpRoot, "resumed");
    for (const iteration of [1, 2]) {
      const logger = new ProgressLogger({ runDir: dir, mode: "quiet" });
      logger.log(iteration, { time_total_s: 100 * iteration });
      logger.close();
    }
    expect(readRows(dir)).toEqual([
      { training_iteration: 1, time_total_s: 100 },
      { training_iteration: 2, time_total_s: 200 },
    ]);
  });

  it("rejects bad input with errors naming what is wrong", () => {
    const output = capture(false);
    const dir = join(tmpRoot, "bad");
    expect(() => new ProgressLogger({ runDir: dir, mode: "verbose" as "line", output })).toThrow(
      /mode must be/,
    );
    expect(
      () => new ProgressLogger({ runDir: dir, stop: [{ metric: "x", target: Number.NaN }], output }),
    ).toThrow(/stop\[0\] must be/);
    const logger = new ProgressLogger({ runDir: dir, output });
    expect(() => logger.log(1.5, {})).toThrow(/iteration must be a non-negative integer/);
    expect(() => logger.log(1, { "learners/vf_loss": "0.1" as unknown as number })).toThrow(
      /metric "learners\/vf_loss" must be a number/,
    );
    logger.close();
    expect(() => logger.log(2, {})).toThrow(/is closed/);
  });
});
