import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { plotRuns, readProgress } from "../../src/logging/plot.js";

const tmpRoot = mkdtempSync(join(tmpdir(), "rlts-plot-"));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

const RETURN = "env_runners/episode_return_mean";
const STEPS = "num_env_steps_sampled_lifetime";

function writeRun(runDir: string, rows: object[], tail = ""): string {
  mkdirSync(runDir, { recursive: true });
  writeFileSync(
    join(runDir, "progress.jsonl"),
    rows.map((row) => `${JSON.stringify(row)}\n`).join("") + tail,
  );
  return runDir;
}

/** The points of an SVG path's `d`, as [x, y] pixel pairs. */
const pathPoints = (d: string) =>
  [...d.matchAll(/[ML]([\d.]+),([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);

describe("plotRuns", () => {
  const experiments = join(tmpRoot, "experiments");
  // Three seeds of one experiment, logged at the same env steps; seed s returns 10 * iteration + s.
  const seeds = [0, 1, 2].map((seed) =>
    writeRun(
      join(experiments, "ppo_cartpole", `seed${seed}`),
      [1, 2, 3, 4].map((i) => ({ training_iteration: i, [STEPS]: 1000 * i, [RETURN]: 10 * i + seed })),
    ),
  );
  // A lone run, still writing its last row, with no episode finished in its first iteration.
  const lone = writeRun(
    join(experiments, "dqn_cartpole", "run0"),
    [
      { training_iteration: 1, [STEPS]: 500, [RETURN]: null },
      { training_iteration: 2, [STEPS]: 1500, [RETURN]: 12 },
      { training_iteration: 3, [STEPS]: 2500, [RETURN]: 30 },
    ],
    `{"training_iteration": 4, "num_env_st`,
  );
  const out = join(tmpRoot, "plots", "return.svg");
  const curves = plotRuns([...seeds, lone], { out });
  const svg = readFileSync(out, "utf8");

  it("averages seeds of one experiment, with their min–max band", () => {
    expect(curves.map((c) => c.label)).toEqual(["ppo_cartpole (3 seeds)", "dqn_cartpole/run0"]);
    expect(curves[0]).toMatchObject({
      x: [1000, 2000, 3000, 4000],
      y: [11, 21, 31, 41],
      band: { low: [10, 20, 30, 40], high: [12, 22, 32, 42] },
    });
    expect(curves[1]).toMatchObject({ x: [1500, 2500], y: [12, 30] });
    expect(curves[1].band).toBeUndefined();
  });

  it("writes an SVG with a path per curve, a band, axes, legend and title", () => {
    expect(svg.startsWith("<svg xmlns")).toBe(true);
    const paths = [...svg.matchAll(/<path class="curve" data-label="([^"]*)" d="([^"]*)"/g)];
    expect(paths.map((m) => m[1])).toEqual(["ppo_cartpole (3 seeds)", "dqn_cartpole/run0"]);
    expect(pathPoints(paths[0][2])).toHaveLength(4);
    expect(pathPoints(paths[1][2])).toHaveLength(2);
    expect(svg.match(/<path class="band"/g)).toHaveLength(1);
    // Higher returns are drawn higher (smaller SVG y).
    const ys = pathPoints(paths[0][2]).map(([, y]) => y);
    expect([...ys].sort((a, b) => b - a)).toEqual(ys);
    expect(svg).toContain(`<text class="title"`);
    expect(svg).toContain(`>${RETURN}</text>`);
    expect(svg).toContain(`>${STEPS}</text>`);
    expect(svg.match(/<text class="legend"/g)).toHaveLength(2);
    expect(svg.match(/<text class="tick"[^>]*>[^<]+<\/text>/g)!.length).toBeGreaterThanOrEqual(6);
  });

  it("interpolates seeds logged at different steps, over the range they share, with a ±std band", () => {
    const a = writeRun(join(experiments, "shifted", "a"), [
      { [STEPS]: 0, [RETURN]: 0 },
      { [STEPS]: 100, [RETURN]: 100 },
    ]);
    const b = writeRun(join(experiments, "shifted", "b"), [
      { [STEPS]: 50, [RETURN]: 0 },
      { [STEPS]: 150, [RETURN]: 0 },
    ]);
    const [curve] = plotRuns([a, b], { out: join(tmpRoot, "plots", "shifted.svg"), band: "std" });
    expect(curve.x).toEqual([50, 100]);
    expect(curve.y).toEqual([25, 50]);
    expect(curve.band).toEqual({ low: [0, 0], high: [50, 100] });
  });

  it("skips run folders with no rows yet, saying which, and fails only when none has any", () => {
    const empty = writeRun(join(tmpRoot, "exp-empty", "run-empty"), [], "");
    const skipped: string[] = [];
    const curves = plotRuns([lone, empty], {
      out: join(tmpRoot, "plots", "skip.svg"),
      onSkip: (d) => skipped.push(d),
    });
    expect(curves).toHaveLength(1);
    expect(skipped).toEqual([empty]);
    expect(() => plotRuns([empty], { out: join(tmpRoot, "plots", "none.svg") })).toThrow(
      /none of the 1 run folders has a row yet/,
    );
  });

  it("names the run and the columns it has when the metric is missing", () => {
    expect(() => plotRuns([lone], { out: join(tmpRoot, "x.svg"), metric: "learners/qf_loss" })).toThrow(
      /run0 has no rows with numbers for both "num_env_steps_sampled_lifetime" and "learners\/qf_loss" \(columns: training_iteration, num_env_steps_sampled_lifetime, env_runners\/episode_return_mean\)/,
    );
    expect(() => readProgress(join(tmpRoot, "nowhere"))).toThrow(/no progress.jsonl in/);
    const broken = writeRun(join(tmpRoot, "broken"), [], "{oops\n{}\n");
    expect(() => readProgress(broken)).toThrow(/progress.jsonl:1 is not JSON/);
  });
});
