/**
 * Catch-v0 against bsuite's own Catch: test/fixtures/catch_reference.json holds episodes recorded from
 * `bsuite.environments.catch.Catch` by scripts/gen_catch_reference.py (every start column, fixed action
 * sequences, several board sizes). numpy's RandomState is not reproduced here, so each replay first
 * finds a seed whose reset puts the ball in the recorded column (checking the whole first observation),
 * then replays the actions and checks every observation, reward and termination exactly.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { CatchEnv } from "../../src/envs/catch.js";
import { checkEnv } from "../../src/envs/checker.js";
import { envRegistration, makeEnv } from "../../src/envs/registry.js";
import { Box, Discrete } from "../../src/envs/spaces.js";
import type { RgbArray } from "../../src/envs/types.js";

interface ReferenceEpisode {
  kwargs: { rows: number; columns: number };
  bsuite_seed: number;
  policy: string;
  ball_column: number;
  paddle_column_at_end: number;
  /** The reset's observation, then one per step: the board flattened row-major, 0/1. */
  obs: number[][];
  actions: number[];
  rewards: number[];
  discounts: number[];
  /** dm_env's StepType of each step: 1 MID, 2 LAST. */
  step_types: number[];
}

interface Reference {
  bsuite_version: string;
  step_types: Record<string, number>;
  observation_shape: number[];
  num_actions: number;
  episodes: ReferenceEpisode[];
}

const reference: Reference = JSON.parse(
  readFileSync(new URL("../fixtures/catch_reference.json", import.meta.url), "utf8"),
);
const LAST = reference.step_types.LAST;

/** A seed whose reset starts the ball in `column` (found by trying seeds; each column has a 1/columns chance). */
function seedForColumn(env: CatchEnv, column: number): number {
  for (let seed = 0; seed < 10_000; seed++) {
    env.reset({ seed });
    if (env.state![1] === column) return seed;
  }
  throw new Error(`no seed below 10000 starts the ball in column ${column}`);
}

/** Replays one reference episode; returns a description of the first mismatch, or null. */
function replay(episode: ReferenceEpisode): string | null {
  const env = new CatchEnv(episode.kwargs);
  const seed = seedForColumn(env, episode.ball_column);
  const [first] = env.reset({ seed });
  if (JSON.stringify(Array.from(first)) !== JSON.stringify(episode.obs[0])) {
    return `reset: obs [${Array.from(first).join(",")}], bsuite [${episode.obs[0].join(",")}]`;
  }
  for (let t = 0; t < episode.actions.length; t++) {
    const [obs, reward, terminated, truncated] = env.step(episode.actions[t]);
    const where = `step ${t + 1} (action ${episode.actions[t]})`;
    if (JSON.stringify(Array.from(obs)) !== JSON.stringify(episode.obs[t + 1])) {
      return `${where}: obs [${Array.from(obs).join(",")}], bsuite [${episode.obs[t + 1].join(",")}]`;
    }
    if (reward !== episode.rewards[t]) return `${where}: reward ${reward}, bsuite ${episode.rewards[t]}`;
    const last = episode.step_types[t] === LAST;
    if (terminated !== last || truncated) {
      return `${where}: terminated/truncated ${terminated}/${truncated}, bsuite step type ${episode.step_types[t]}`;
    }
    // dm_env's termination has discount 0, a transition discount 1.
    if ((terminated ? 0 : 1) !== episode.discounts[t]) {
      return `${where}: bsuite discount ${episode.discounts[t]} with terminated ${terminated}`;
    }
  }
  if (env.state![3] !== episode.paddle_column_at_end) {
    return `end: paddle in column ${env.state![3]}, bsuite ${episode.paddle_column_at_end}`;
  }
  return null;
}

describe("Catch-v0 replays bsuite's reference episodes", () => {
  it("the reference covers every start column, both rewards, both walls and other board sizes", () => {
    const standard = reference.episodes.filter((e) => e.kwargs.rows === 10 && e.kwargs.columns === 5);
    expect(new Set(standard.map((e) => e.ball_column))).toEqual(new Set([0, 1, 2, 3, 4]));
    expect(new Set(reference.episodes.map((e) => e.rewards.at(-1)))).toEqual(new Set([1, -1]));
    expect(new Set(reference.episodes.map((e) => e.paddle_column_at_end))).toContain(0);
    expect(standard.some((e) => e.paddle_column_at_end === 4)).toBe(true);
    expect(
      new Set(reference.episodes.map((e) => `${e.kwargs.rows}x${e.kwargs.columns}`)).size,
    ).toBeGreaterThan(3);
    expect(reference.observation_shape).toEqual([10, 5]);
    expect(reference.num_actions).toBe(3);
  });

  reference.episodes.forEach((episode, i) => {
    const { rows, columns } = episode.kwargs;
    it(`episode ${i}: ${rows}x${columns}, ball in column ${episode.ball_column}, ${episode.policy} actions`, () => {
      expect(replay(episode)).toBeNull();
    });
  });

  it("every reference episode is rows - 1 steps, ending with the only LAST step", () => {
    for (const episode of reference.episodes) {
      expect(episode.actions.length).toBe(episode.kwargs.rows - 1);
      expect(episode.step_types.map((s) => s === LAST)).toEqual(
        episode.actions.map((_, t) => t === episode.actions.length - 1),
      );
    }
  });
});

describe("spaces, reset and step", () => {
  it("observations are a one-channel float32 image [rows, columns, 1] in [0, 1]; actions Discrete(3)", () => {
    const env = new CatchEnv();
    expect(env.observationSpace).toBeInstanceOf(Box);
    expect(env.observationSpace.shape).toEqual([10, 5, 1]);
    expect(env.observationSpace.dtype).toBe("float32");
    expect(Array.from(new Set(env.observationSpace.low))).toEqual([0]);
    expect(Array.from(new Set(env.observationSpace.high))).toEqual([1]);
    expect(env.actionSpace).toBeInstanceOf(Discrete);
    expect(env.actionSpace.n).toBe(3);
    expect(new CatchEnv({ rows: 6, columns: 3 }).observationSpace.shape).toEqual([6, 3, 1]);
  });

  it("reset and step return Float32Arrays in the space: two 1s (one once the ball is caught)", () => {
    const env = new CatchEnv();
    const [obs, info] = env.reset({ seed: 0 });
    expect(obs).toBeInstanceOf(Float32Array);
    expect(obs.length).toBe(50);
    expect(env.observationSpace.contains(obs)).toBe(true);
    expect(info).toEqual({});
    // The paddle starts in the middle of the bottom row, the ball in row 0.
    expect(obs[9 * 5 + 2]).toBe(1);
    expect(Array.from(obs.subarray(0, 5)).reduce((a, b) => a + b)).toBe(1);
    const [next, reward, terminated, truncated, stepInfo] = env.step(1);
    expect(next).toBeInstanceOf(Float32Array);
    expect(next).not.toBe(obs);
    expect(env.observationSpace.contains(next)).toBe(true);
    expect(Array.from(next).reduce((a, b) => a + b)).toBe(2);
    expect([reward, terminated, truncated, stepInfo]).toEqual([0, false, false, {}]);
  });

  it("checkEnv passes", () => {
    expect(checkEnv(new CatchEnv({ render_mode: "ansi" }))).toEqual([]);
  });

  it("every episode terminates after rows - 1 steps with reward +1 or -1, 0 before", () => {
    for (const [rows, columns] of [
      [10, 5],
      [2, 1],
      [7, 4],
    ]) {
      const env = makeEnv("Catch-v0", { rows, columns });
      env.actionSpace.seed(1);
      env.reset({ seed: 1 });
      for (let episode = 0; episode < 20; episode++) {
        const rewards: number[] = [];
        let terminated = false;
        while (!terminated) {
          const [, reward, term, truncated] = env.step(env.actionSpace.sample());
          expect(truncated).toBe(false);
          rewards.push(reward);
          terminated = term;
        }
        expect(rewards.length).toBe(rows - 1);
        expect(rewards.slice(0, -1).every((r) => r === 0)).toBe(true);
        expect([1, -1]).toContain(rewards.at(-1));
        env.reset();
      }
    }
  });

  it("stepping after termination, or before reset, is an error naming the env", () => {
    const env = new CatchEnv({ rows: 2 });
    expect(() => env.step(1)).toThrow("Catch-v0: step() was called before reset()");
    env.reset({ seed: 0 });
    expect(env.step(1)[2]).toBe(true);
    expect(() => env.step(1)).toThrow(/Catch-v0: step\(\) was called after the episode terminated/);
    env.reset();
    expect(env.step(1)[2]).toBe(true);
  });
});

describe("registration", () => {
  it("Catch-v0 is registered without a step limit, solved at a mean return of 0.9", () => {
    expect(envRegistration("Catch-v0")).toMatchObject({ maxEpisodeSteps: undefined, rewardThreshold: 0.9 });
    const env = makeEnv("Catch-v0", { rows: 4 });
    expect(env.spec).toMatchObject({ id: "Catch-v0", maxEpisodeSteps: undefined, kwargs: { rows: 4 } });
    expect(env.observationSpace).toMatchObject({ shape: [4, 5, 1] });
  });

  it("an action outside Discrete(3) is refused with a message naming the env", () => {
    const env = makeEnv("Catch-v0");
    env.reset({ seed: 0 });
    expect(() => env.step(3)).toThrow(/Catch-v0: action 3 is not in the action space Discrete\(3\)/);
    expect(() => env.step(-1)).toThrow(/Catch-v0: action -1 is not in the action space/);
    const raw = new CatchEnv();
    raw.reset({ seed: 0 });
    expect(() => raw.step(3)).toThrow("Catch-v0: action must be 0, 1 or 2 (Discrete(3)), got 3");
    expect(() => raw.step(0.5)).toThrow("Catch-v0: action must be 0, 1 or 2");
  });

  it("kwargs are checked: unknown keys, wrong types, boards too small", () => {
    expect(() => makeEnv("Catch-v0", { row: 5 })).toThrow(
      /Catch-v0: unknown kwarg "row" \(did you mean "rows"\?\); accepted kwargs: render_mode, rows, columns/,
    );
    expect(() => makeEnv("Catch-v0", { rows: "10" })).toThrow(
      /Catch-v0: kwarg "rows" must be a finite number/,
    );
    expect(() => new CatchEnv({ rows: 1 })).toThrow('Catch-v0: kwarg "rows" must be an integer >= 2, got 1');
    expect(() => new CatchEnv({ columns: 0 })).toThrow('Catch-v0: kwarg "columns" must be an integer >= 1');
    expect(() => new CatchEnv({ columns: 2.5 })).toThrow(/kwarg "columns" must be an integer/);
    expect(() => new CatchEnv({ render_mode: "human" as "ansi" })).toThrow(/render_mode must be one of/);
  });
});

/** The ball's start columns of `episodes` seeded (or continued) resets. */
function startColumns(env: CatchEnv, seed: number | undefined, episodes = 40): number[] {
  const columns: number[] = [];
  for (let i = 0; i < episodes; i++) {
    const [obs] = env.reset(i === 0 && seed !== undefined ? { seed } : undefined);
    columns.push(Array.from(obs.subarray(0, 5)).indexOf(1));
  }
  return columns;
}

describe("seeding", () => {
  it("the same seed gives the same start columns, another seed others; reset() continues the stream", () => {
    const a = startColumns(new CatchEnv(), 7);
    expect(startColumns(new CatchEnv(), 7)).toEqual(a);
    expect(startColumns(new CatchEnv(), 8)).not.toEqual(a);
    const env = new CatchEnv();
    const first = startColumns(env, 3, 1)[0];
    const continued = startColumns(env, undefined, 30);
    expect(startColumns(env, 3, 1)[0]).toBe(first);
    expect(new Set(continued).size).toBeGreaterThan(1);
  });

  it("start columns are uniform over the board", () => {
    const counts = [0, 0, 0, 0, 0];
    for (const column of startColumns(new CatchEnv(), 0, 5000)) counts[column]++;
    for (const count of counts) expect(Math.abs(count - 1000)).toBeLessThan(120);
  });

  it("bad seeds are errors naming the env", () => {
    expect(() => new CatchEnv().reset({ seed: -1 })).toThrow(
      /Catch-v0: reset seed must be a non-negative integer/,
    );
  });
});

describe("render", () => {
  it("ansi draws the board: the ball, the paddle, and the caught ball", () => {
    const env = new CatchEnv({ rows: 3, columns: 4, render_mode: "ansi" });
    expect(env.metadata.renderModes).toEqual(["ansi", "rgb_array"]);
    env.reset({ seed: 0 });
    env.state = Float64Array.of(0, 3, 2, 2);
    expect(env.render()).toBe("...o\n....\n..=.");
    expect(env.step(2).slice(1, 3)).toEqual([0, false]);
    expect(env.render()).toBe("....\n...o\n...=");
    expect(env.step(1).slice(1, 3)).toEqual([1, true]);
    expect(env.render()).toBe("....\n....\n...@");
  });

  it("rgb_array is 16 pixels a cell: a red ball and a black paddle where the state puts them", () => {
    const env = new CatchEnv({ render_mode: "rgb_array" });
    env.reset({ seed: 0 });
    env.state = Float64Array.of(2, 4, 9, 1);
    const { data, width, height } = env.render() as RgbArray;
    expect([height, width, data.length]).toEqual([160, 80, 160 * 80 * 3]);
    const pixel = (x: number, yDown: number) =>
      Array.from(data.subarray((yDown * width + x) * 3).slice(0, 3));
    expect(pixel(4 * 16 + 8, 2 * 16 + 8)).toEqual([220, 40, 40]);
    expect(pixel(1 * 16 + 8, 9 * 16 + 12)).toEqual([0, 0, 0]);
    expect(pixel(0, 0)).toEqual([255, 255, 255]);
    expect(pixel(3 * 16 + 8, 9 * 16 + 12)).toEqual([255, 255, 255]);
  });

  it("render() without a render_mode warns and returns undefined", () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    const env = new CatchEnv();
    env.reset();
    expect(env.render()).toBeUndefined();
    expect(warn).toHaveBeenCalledOnce();
    warn.mockRestore();
  });
});
