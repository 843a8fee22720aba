import { describe, expect, it } from "vitest";
import { NStepAccumulator } from "../../src/buffers/nstep.js";
import type { TransitionBatch } from "../../src/buffers/replay.js";
import type { VectorStepResult } from "../../src/envs/types.js";
import { createRng } from "../../src/utils/rng.js";

interface StepSpec {
  /** Per sub-env: observation after the step (after autoreset), reward, ended how, final observation. */
  next: number[];
  rewards: number[];
  terminated?: number[];
  truncated?: number[];
  final?: number[];
}

/** A one-dimensional-observation vector step result. */
function stepResult(spec: StepSpec): VectorStepResult {
  const n = spec.next.length;
  return {
    observations: Float32Array.from(spec.next),
    rewards: Float64Array.from(spec.rewards),
    terminated: Uint8Array.from(spec.terminated ?? new Array(n).fill(0)),
    truncated: Uint8Array.from(spec.truncated ?? new Array(n).fill(0)),
    finalObservations: Float32Array.from(spec.final ?? new Array(n).fill(Number.NaN)),
    infos: new Array(n).fill({}),
  };
}

interface Row {
  obs: number;
  action: number;
  reward: number;
  discount: number;
  nextObs: number;
  terminated: number;
}

function rows(batch: TransitionBatch): Row[] {
  return Array.from({ length: batch.count }, (_, i) => ({
    obs: batch.obs[i],
    action: batch.actions[i],
    reward: batch.rewards[i],
    discount: batch.discounts[i],
    nextObs: batch.nextObs[i],
    terminated: batch.terminated[i],
  }));
}

describe("NStepAccumulator", () => {
  it("3-step returns with a termination and a truncation inside the window (hand-computed, gamma 0.5)", () => {
    const acc = new NStepAccumulator({ numEnvs: 2, obsDim: 1, actionDim: 1, nStep: 3, gamma: 0.5 });
    // env 0: obs 10, 11, 12, 13; truncated by the time limit on its 4th step (final obs 99, reset obs 50).
    // env 1: obs 20, 21; terminated on its 2nd step (final obs 88, reset obs 30).
    const actions = Float32Array.from([0, 1]);
    let obs = Float32Array.from([10, 20]);
    const feed = (spec: StepSpec) => {
      const out = rows(acc.add(obs, actions, stepResult(spec)));
      obs = Float32Array.from(spec.next);
      return out;
    };

    expect(feed({ next: [11, 21], rewards: [1, 1] })).toEqual([]);
    // env 1 terminates: both pending transitions flush with discount 0 and no bootstrap.
    expect(feed({ next: [12, 30], rewards: [2, 3], terminated: [0, 1], final: [0, 88] })).toEqual([
      { obs: 20, action: 1, reward: 1 + 0.5 * 3, discount: 0, nextObs: 88, terminated: 1 },
      { obs: 21, action: 1, reward: 3, discount: 0, nextObs: 88, terminated: 1 },
    ]);
    // env 0's window is full: r 1 + 0.5 * 2 + 0.25 * 4 = 3, bootstrap from obs 13 with 0.5^3.
    expect(feed({ next: [13, 31], rewards: [4, 1] })).toEqual([
      { obs: 10, action: 0, reward: 3, discount: 0.125, nextObs: 13, terminated: 0 },
    ]);
    // env 0 truncated: the three pending transitions bootstrap from the final obs 99 (not the reset obs 50).
    expect(feed({ next: [50, 32], rewards: [8, 1], truncated: [1, 0], final: [99, 0] })).toEqual([
      { obs: 11, action: 0, reward: 2 + 0.5 * 4 + 0.25 * 8, discount: 0.125, nextObs: 99, terminated: 0 },
      { obs: 12, action: 0, reward: 4 + 0.5 * 8, discount: 0.25, nextObs: 99, terminated: 0 },
      { obs: 13, action: 0, reward: 8, discount: 0.5, nextObs: 99, terminated: 0 },
    ]);
    // env 1's new episode filled its window: 1 + 0.5 + 0.25, bootstrap from obs 33 after 3 steps.
    expect(feed({ next: [51, 33], rewards: [16, 1] })).toEqual([
      { obs: 30, action: 1, reward: 1.75, discount: 0.125, nextObs: 33, terminated: 0 },
    ]);
  });

  it("n_step 1 is the plain one-step transition", () => {
    const acc = new NStepAccumulator({ numEnvs: 2, obsDim: 1, actionDim: 1, nStep: 1, gamma: 0.9 });
    const out = rows(
      acc.add(
        Float32Array.from([1, 2]),
        Float32Array.from([3, 4]),
        stepResult({ next: [5, 7], rewards: [0.5, 2], terminated: [0, 1], final: [0, 6] }),
      ),
    );
    expect(out).toEqual([
      { obs: 1, action: 3, reward: 0.5, discount: expect.closeTo(0.9, 6), nextObs: 5, terminated: 0 },
      { obs: 2, action: 4, reward: 2, discount: 0, nextObs: 6, terminated: 1 },
    ]);
  });

  it("matches a direct per-episode computation on random episodes", () => {
    const numEnvs = 3;
    const nStep = 4;
    const gamma = 0.9;
    const rng = createRng(5);
    const acc = new NStepAccumulator({ numEnvs, obsDim: 1, actionDim: 1, nStep, gamma });
    // Each env's episodes as lists of (obs, reward) plus how they ended; observations are unique ids.
    type Episode = {
      obs: number[];
      rewards: number[];
      end: "terminated" | "truncated" | "open";
      final: number;
    };
    const episodes: Episode[][] = Array.from({ length: numEnvs }, () => []);
    let nextId = 0;
    const current = Array.from({ length: numEnvs }, () => {
      const ep: Episode = { obs: [nextId++], rewards: [], end: "open", final: Number.NaN };
      return ep;
    });
    current.forEach((ep, env) => {
      episodes[env].push(ep);
    });
    const emitted: Row[] = [];
    for (let t = 0; t < 300; t++) {
      const obs = Float32Array.from(current.map((ep) => ep.obs[ep.obs.length - 1]));
      const spec: StepSpec = { next: [], rewards: [], terminated: [], truncated: [], final: [] };
      current.forEach((ep, env) => {
        const reward = Math.round(rng() * 20 - 10);
        ep.rewards.push(reward);
        const u = rng();
        const end = u < 0.08 ? "terminated" : u < 0.16 ? "truncated" : "open";
        const observed = nextId++;
        spec.rewards.push(reward);
        spec.terminated!.push(end === "terminated" ? 1 : 0);
        spec.truncated!.push(end === "truncated" ? 1 : 0);
        if (end === "open") {
          ep.obs.push(observed);
          spec.next.push(observed);
          spec.final!.push(Number.NaN);
        } else {
          ep.end = end;
          ep.final = observed;
          const fresh: Episode = { obs: [nextId++], rewards: [], end: "open", final: Number.NaN };
          current[env] = fresh;
          episodes[env].push(fresh);
          spec.next.push(fresh.obs[0]);
          spec.final!.push(observed);
        }
      });
      emitted.push(...rows(acc.add(obs, Float32Array.from([0, 0, 0]), stepResult(spec))));
    }

    const expected: Row[] = [];
    for (const ep of episodes.flat()) {
      const T = ep.rewards.length;
      for (let t = 0; t < T; t++) {
        const k = Math.min(nStep, T - t);
        if (ep.end === "open" && t + nStep > T) continue; // window not complete yet
        let reward = 0;
        for (let j = 0; j < k; j++) reward += gamma ** j * ep.rewards[t + j];
        const endsEpisode = t + k === T && ep.end !== "open";
        expected.push({
          obs: ep.obs[t],
          action: 0,
          reward: expect.closeTo(reward, 4) as unknown as number,
          discount: expect.closeTo(
            endsEpisode && ep.end === "terminated" ? 0 : gamma ** k,
            6,
          ) as unknown as number,
          nextObs: endsEpisode ? ep.final : ep.obs[t + k],
          terminated: endsEpisode && ep.end === "terminated" ? 1 : 0,
        });
      }
    }
    const byObs = (a: Row, b: Row) => a.obs - b.obs;
    expect(emitted.length).toBeGreaterThan(500);
    expect(emitted.sort(byObs)).toEqual(expected.sort(byObs));
  });

  it("carries actions of several numbers each (Box actions) with their transitions", () => {
    const acc = new NStepAccumulator({ numEnvs: 2, obsDim: 2, actionDim: 3, nStep: 2, gamma: 0.5 });
    const first = acc.add(Float32Array.from([1, 2, 3, 4]), Float32Array.from([0.1, 0.2, 0.3, -1, -2, -3]), {
      ...stepResult({ next: [0, 0], rewards: [1, 2], terminated: [0, 1], final: [0, 0] }),
      observations: Float32Array.from([5, 6, 7, 8]),
      finalObservations: Float32Array.from([Number.NaN, Number.NaN, 9, 10]),
    });
    // env 1 terminated: its transition is out at once, with its three action numbers.
    expect(first.count).toBe(1);
    expect(Array.from(first.obs.subarray(0, 2))).toEqual([3, 4]);
    expect(Array.from(first.actions.subarray(0, 3))).toEqual([-1, -2, -3]);
    expect(Array.from(first.nextObs.subarray(0, 2))).toEqual([9, 10]);
    const second = acc.add(Float32Array.from([5, 6, 7, 8]), Float32Array.from([0.4, 0.5, 0.6, 7, 8, 9]), {
      ...stepResult({ next: [0, 0], rewards: [4, 0] }),
      observations: Float32Array.from([11, 12, 13, 14]),
      finalObservations: Float32Array.from([Number.NaN, Number.NaN, Number.NaN, Number.NaN]),
    });
    // env 0's window of 2 is full: the first step's obs and actions, r 1 + 0.5 * 4, bootstrap from obs 11, 12.
    expect(second.count).toBe(1);
    expect(Array.from(second.obs.subarray(0, 2))).toEqual([1, 2]);
    expect(Array.from(second.actions.subarray(0, 3))).toEqual([
      Math.fround(0.1),
      Math.fround(0.2),
      Math.fround(0.3),
    ]);
    expect(second.rewards[0]).toBe(3);
    expect(second.discounts[0]).toBe(0.25);
    expect(Array.from(second.nextObs.subarray(0, 2))).toEqual([11, 12]);
  });

  it("rejects a bad n_step or gamma", () => {
    expect(() => new NStepAccumulator({ numEnvs: 1, obsDim: 1, actionDim: 1, nStep: 0, gamma: 0.9 })).toThrow(
      /n_step must be an integer >= 1/,
    );
    expect(() => new NStepAccumulator({ numEnvs: 1, obsDim: 1, actionDim: 1, nStep: 3, gamma: 1.5 })).toThrow(
      /gamma must be in \[0, 1\]/,
    );
  });
});
