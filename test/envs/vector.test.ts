import { describe, expect, it } from "vitest";
import { makeEnv, registerEnv } from "../../src/envs/registry.js";
import { Box, MultiDiscrete, Tuple } from "../../src/envs/spaces.js";
import type { Env } from "../../src/envs/types.js";
import { makeVectorEnv, SyncVectorEnv } from "../../src/envs/vector.js";
import { RecordEpisodeStatistics } from "../../src/envs/wrappers.js";
import { MATCH_TARGET_ID } from "../fixtures/match_target_env.js";
import { WalkEnv } from "./toy-envs.js";

registerEnv("test/VecWalk-v0", (kwargs) => new WalkEnv(kwargs), { maxEpisodeSteps: 6 });

const NUM_ENVS = 4;

/** One env built the way makeVectorEnv builds each sub-env, typed with the toy env's observation. */
const makeWalk = (kwargs: Record<string, unknown> = {}) =>
  makeEnv("test/VecWalk-v0", kwargs) as Env<Float32Array>;

/** Action rows for step t: sub-env i walks right with a pattern that ends some episodes early, others by time. */
function discreteActions(t: number): Int32Array {
  return Int32Array.from({ length: NUM_ENVS }, (_, i) => (i === 0 ? 2 : i === 1 ? 1 : (t + i) % 3));
}

describe("SyncVectorEnv matches stepping the same envs one by one", () => {
  it("observations, rewards, flags, final observations and infos, across autoresets", () => {
    const vector = makeVectorEnv("test/VecWalk-v0", NUM_ENVS);
    const singles = Array.from({ length: NUM_ENVS }, () => makeWalk());
    const reset = vector.resetSync({ seed: 10 });
    singles.forEach((env, i) => {
      expect(Array.from(reset.observations.subarray(i * 2, i * 2 + 2))).toEqual(
        Array.from(env.reset({ seed: 10 + i })[0]),
      );
    });
    let terminations = 0;
    let truncations = 0;
    for (let t = 0; t < 40; t++) {
      const actions = discreteActions(t);
      const result = vector.stepSync(actions);
      singles.forEach((env, i) => {
        const [obs, reward, terminated, truncated, info] = env.step(actions[i]);
        expect(result.rewards[i]).toBe(reward);
        expect(result.terminated[i]).toBe(terminated ? 1 : 0);
        expect(result.truncated[i]).toBe(truncated ? 1 : 0);
        expect(result.infos[i]).toEqual(info);
        const row = Array.from(result.observations.subarray(i * 2, i * 2 + 2));
        if (terminated || truncated) {
          terminations += terminated ? 1 : 0;
          truncations += truncated ? 1 : 0;
          // The terminal observation is kept; the returned row is the next episode's first observation.
          expect(Array.from(result.finalObservations.subarray(i * 2, i * 2 + 2))).toEqual(Array.from(obs));
          const [resetObs] = env.reset();
          expect(row).toEqual(Array.from(resetObs));
          expect(resetObs[1]).toBe(0);
        } else {
          expect(row).toEqual(Array.from(obs));
        }
      });
    }
    // The pattern must exercise both ways an episode ends.
    expect(terminations).toBeGreaterThan(3);
    expect(truncations).toBeGreaterThan(3);
  });

  it("Box actions, through preallocated per-env holders", () => {
    const vector = makeVectorEnv("test/VecWalk-v0", NUM_ENVS, { kwargs: { continuous: true } });
    const singles = Array.from({ length: NUM_ENVS }, () => makeWalk({ continuous: true }));
    vector.resetSync({ seed: 3 });
    for (const [i, env] of singles.entries()) env.reset({ seed: 3 + i });
    for (let t = 0; t < 20; t++) {
      const actions = Float32Array.from({ length: NUM_ENVS }, (_, i) => Math.sin(t + i));
      const result = vector.stepSync(actions);
      singles.forEach((env, i) => {
        const [obs, reward, terminated, truncated] = env.step(Float32Array.of(actions[i]));
        expect(result.rewards[i]).toBe(reward);
        if (!terminated && !truncated)
          expect(Array.from(result.observations.subarray(i * 2, i * 2 + 2))).toEqual(Array.from(obs));
        else env.reset();
      });
    }
  });
});

describe("seeding", () => {
  const rollout = (seed: number) => {
    const vector = makeVectorEnv("test/VecWalk-v0", NUM_ENVS);
    const seen = [Array.from(vector.resetSync({ seed }).observations)];
    for (let t = 0; t < 15; t++) seen.push(Array.from(vector.stepSync(discreteActions(t)).observations));
    return seen;
  };

  it("the same seed gives the same rollout, another seed another one", () => {
    expect(rollout(1)).toEqual(rollout(1));
    expect(rollout(2)).not.toEqual(rollout(1));
  });

  it("sub-env i is seeded with seed + i", () => {
    const vector = makeVectorEnv("test/VecWalk-v0", 3);
    const { observations } = vector.resetSync({ seed: 100 });
    const shifted = makeVectorEnv("test/VecWalk-v0", 2);
    expect(Array.from(shifted.resetSync({ seed: 101 }).observations)).toEqual(
      Array.from(observations.subarray(2)),
    );
  });
});

describe("the async interface and wrappers", () => {
  it("reset/step resolve to the same preallocated results as the sync calls", async () => {
    const vector = makeVectorEnv("test/VecWalk-v0", 2, {
      wrappers: [(env) => new RecordEpisodeStatistics(env)],
    });
    const reset = await vector.reset({ seed: 0 });
    const first = await vector.step(Int32Array.of(2, 2));
    expect(reset.observations).toBe(first.observations);
    expect(vector.stepSync(Int32Array.of(2, 2))).toBe(first);
    let episodes = 0;
    for (let t = 0; t < 10; t++) {
      const result = await vector.step(Int32Array.of(2, 2));
      for (const info of result.infos) if (info.episode) episodes++;
    }
    expect(episodes).toBeGreaterThan(0);
    expect(vector.obsDim).toBe(2);
    expect(vector.actionDim).toBe(1);
    await vector.close();
    await expect(vector.step(Int32Array.of(1, 1))).rejects.toThrow(/closed/);
  });
});

describe("clear errors", () => {
  const vector = makeVectorEnv("test/VecWalk-v0", 2);

  it("step before reset, and a wrong action buffer length", () => {
    expect(() => vector.stepSync(Int32Array.of(1, 1))).toThrow(/step\(\) was called before reset\(\)/);
    vector.resetSync();
    expect(() => vector.stepSync(Int32Array.of(1))).toThrow(
      /expected 2 envs x 1 action numbers = 2, got Int32Array\(1\)/,
    );
  });

  it("an invalid action names the sub-env, the env id and the space", () => {
    expect(() => vector.stepSync(Int32Array.of(1, 7))).toThrow(
      /^SyncVectorEnv sub-env 1: test\/VecWalk-v0: action 7 is not in the action space Discrete\(3\)/,
    );
    expect(() => vector.stepSync(Float32Array.of(0.5, 1))).toThrow(RangeError);
  });

  it("a fractional or NaN value for an integer action space is not truncated silently", () => {
    class MultiWalkEnv extends WalkEnv {
      override readonly actionSpace = new MultiDiscrete([3, 2]);
      override step(action: unknown) {
        return super.step((action as Int32Array)[0]);
      }
    }
    const multi = new SyncVectorEnv([() => new MultiWalkEnv(), () => new MultiWalkEnv()]);
    multi.resetSync({ seed: 0 });
    expect(multi.actionDim).toBe(2);
    multi.stepSync(Float32Array.of(2, 1, 0, 0));
    expect(() => multi.stepSync(Float32Array.of(2, 1, 1.5, 0))).toThrow(
      /sub-env 1: action row 1 element 0 = 1.5 does not fit MultiDiscrete/,
    );
    expect(() => multi.stepSync(Float32Array.of(Number.NaN, 1, 0, 0))).toThrow(
      /sub-env 0: action row 0 element 0 = NaN/,
    );
  });

  it("sub-envs with different spaces are refused", () => {
    const factories: (() => Env)[] = [() => new WalkEnv(), () => new WalkEnv({ continuous: true })];
    expect(() => new SyncVectorEnv(factories)).toThrow(
      /sub-env 1 has spaces .* \/ Box\(-1, 1, \(1,\), float32\), sub-env 0 has .* \/ Discrete\(3\)/,
    );
    expect(() => makeVectorEnv("test/VecWalk-v0", 0)).toThrow(/numEnvs must be a positive integer, got 0/);
  });
});

describe("Tuple and Dict action spaces", () => {
  it("each row becomes the space's value: a Dict of a number and a Box, as stepping the env by hand", () => {
    const vector = makeVectorEnv(MATCH_TARGET_ID, 3);
    const singles = Array.from({ length: 3 }, () => makeEnv(MATCH_TARGET_ID));
    expect(vector.actionDim).toBe(2);
    vector.resetSync({ seed: 3 });
    for (const [i, env] of singles.entries()) env.reset({ seed: 3 + i });
    for (let t = 0; t < 12; t++) {
      // Row i: the target's value (start 1 included), then the Box's one number.
      const rows = [
        [1 + (t % 3), 0.5],
        [3, -0.25 * (t % 5)],
        [2, 1],
      ];
      const result = vector.stepSync(Float32Array.from(rows.flat()));
      singles.forEach((env, i) => {
        const [, reward, , truncated] = env.step({ target: rows[i][0], value: Float32Array.of(rows[i][1]) });
        expect(result.rewards[i], `reward of sub-env ${i} at step ${t}`).toBe(reward);
        expect(result.truncated[i]).toBe(truncated ? 1 : 0);
        if (truncated) env.reset();
      });
    }
    expect(() => vector.stepSync(Float32Array.of(1, 0, 1.5, 0, 1, 0))).toThrow(
      /^SyncVectorEnv sub-env 1: rlts-test\/MatchTarget-v0: action .*1\.5.* is not in the action space Dict/,
    );
    expect(() => vector.stepSync(Float32Array.of(1, 0, 4, 0, 1, 0))).toThrow(/sub-env 1: .*action.* Dict/);
  });

  it("an integer part's fraction or NaN is caught where the row is read, naming the element", () => {
    class TupleWalkEnv extends WalkEnv {
      override readonly actionSpace = new Tuple([new Box(-1, 1, [1]), new MultiDiscrete([3, 2])]);
      readonly seen: unknown[] = [];
      override step(action: unknown) {
        this.seen.push(structuredClone(action));
        return super.step(((action as unknown[])[1] as Int32Array)[0]);
      }
    }
    const envs = [new TupleWalkEnv(), new TupleWalkEnv()];
    const vector = new SyncVectorEnv(envs.map((env) => () => env));
    vector.resetSync({ seed: 0 });
    expect(vector.actionDim).toBe(3);
    vector.stepSync(Float32Array.of(0.5, 2, 1, -0.5, 0, 0));
    expect(envs[0].seen).toEqual([[Float32Array.of(0.5), Int32Array.of(2, 1)]]);
    expect(envs[1].seen).toEqual([[Float32Array.of(-0.5), Int32Array.of(0, 0)]]);
    expect(() => vector.stepSync(Float32Array.of(0, 2, 1, 0, 1.5, 0))).toThrow(
      /sub-env 1: action row 1 element 1 = 1.5 does not fit MultiDiscrete\(\[3 2\]\)/,
    );
  });
});

describe("with a built-in env", () => {
  it("CartPole-v1 in a SyncVectorEnv matches single envs, truncation and termination included", () => {
    const vector = makeVectorEnv("CartPole-v1", 3, { kwargs: {} });
    const singles = Array.from({ length: 3 }, () => makeEnv("CartPole-v1") as Env<Float32Array>);
    // The observation buffer is reused every step, so this view always holds the newest observations.
    const { observations } = vector.resetSync({ seed: 42 });
    for (const [i, env] of singles.entries()) env.reset({ seed: 42 + i });
    let ends = 0;
    let truncations = 0;
    for (let t = 0; t < 600; t++) {
      // Sub-env 0 balances by a simple rule (long episodes, truncated at 500); the others push one way.
      const actions = Int32Array.from({ length: 3 }, (_, i) =>
        i === 0 ? (observations[2] + observations[3] > 0 ? 1 : 0) : i - 1,
      );
      const result = vector.stepSync(actions);
      singles.forEach((env, i) => {
        const [obs, reward, terminated, truncated] = env.step(actions[i]);
        expect(result.rewards[i]).toBe(reward);
        expect([result.terminated[i], result.truncated[i]]).toEqual([terminated ? 1 : 0, truncated ? 1 : 0]);
        if (terminated || truncated) {
          ends++;
          if (truncated) truncations++;
          expect(Array.from(result.finalObservations.subarray(i * 4, i * 4 + 4))).toEqual(Array.from(obs));
          env.reset();
        } else {
          expect(Array.from(result.observations.subarray(i * 4, i * 4 + 4))).toEqual(Array.from(obs));
        }
      });
    }
    expect(ends).toBeGreaterThan(20);
    expect(truncations).toBeGreaterThan(0);
  });
});
