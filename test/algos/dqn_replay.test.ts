import { describe, expect, it } from "vitest";
import {
  allocateTransitions,
  PrioritizedReplayBuffer,
  ReplayBuffer,
  type TransitionBatch,
} from "../../src/buffers/replay.js";

/**
 * `count` transitions with obs [id, -id], action id (with `actionDim` 2: [id, id + 0.25]), reward id/10,
 * so a sampled row shows where it came from.
 */
function labelled(ids: number[], actionDim = 1): TransitionBatch {
  const batch = allocateTransitions(ids.length, 2, actionDim);
  batch.count = ids.length;
  ids.forEach((id, i) => {
    batch.obs.set([id, -id], 2 * i);
    batch.nextObs.set([id + 0.5, -id - 0.5], 2 * i);
    batch.actions.set([id, id + 0.25].slice(0, actionDim), actionDim * i);
    batch.rewards[i] = id / 10;
    batch.discounts[i] = id % 2 === 0 ? 0.99 : 0;
    batch.terminated[i] = id % 2 === 0 ? 0 : 1;
  });
  return batch;
}

/** Pearson's chi-square statistic of observed counts against expected probabilities. */
function chiSquare(counts: number[], probabilities: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.reduce(
    (sum, c, i) => sum + (c - total * probabilities[i]) ** 2 / (total * probabilities[i]),
    0,
  );
}

function countDraws(buffer: ReplayBuffer, draws: number, slots: number): number[] {
  const counts = new Array(slots).fill(0);
  for (let done = 0; done < draws; done += 500) {
    for (const slot of buffer.sample(500).indices) counts[slot]++;
  }
  return counts;
}

// Chi-square critical values at p = 0.001 (df 3: 16.27, df 4: 18.47): a correct sampler fails 1 run in 1000,
// and the seed is fixed, so the test is deterministic; a sampler off by a few percent fails it.
const CHI2_CRITICAL_DF3 = 16.27;
const CHI2_CRITICAL_DF4 = 18.47;

describe("ReplayBuffer (uniform ring)", () => {
  it("keeps every field of a transition together and overwrites the oldest once full", () => {
    const buffer = new ReplayBuffer({ capacity: 3, obsDim: 2, actionDim: 1, seed: 1 });
    buffer.addBatch(labelled([1, 2]));
    buffer.addBatch(labelled([3, 4, 5]));
    expect(buffer.size).toBe(3);
    const sample = buffer.sample(200);
    const seen = new Set(sample.actions);
    expect([...seen].sort()).toEqual([3, 4, 5]);
    for (let i = 0; i < sample.count; i++) {
      const id = sample.actions[i];
      expect(Array.from(sample.obs.subarray(2 * i, 2 * i + 2))).toEqual([id, -id]);
      expect(Array.from(sample.nextObs.subarray(2 * i, 2 * i + 2))).toEqual([id + 0.5, -id - 0.5]);
      expect(sample.rewards[i]).toBeCloseTo(id / 10, 6);
      expect(sample.discounts[i]).toBeCloseTo(id % 2 === 0 ? 0.99 : 0, 6);
      expect(sample.terminated[i]).toBe(id % 2);
      expect(sample.weights[i]).toBe(1);
    }
  });

  it("samples stored slots uniformly (chi-square, fixed seed)", () => {
    const buffer = new ReplayBuffer({ capacity: 5, obsDim: 2, actionDim: 1, seed: 7 });
    buffer.addBatch(labelled([0, 1, 2, 3, 4]));
    const counts = countDraws(buffer, 20_000, 5);
    expect(chiSquare(counts, [0.2, 0.2, 0.2, 0.2, 0.2])).toBeLessThan(CHI2_CRITICAL_DF4);
  });

  it("reports its memory and refuses to sample when empty", () => {
    const buffer = new ReplayBuffer({ capacity: 1000, obsDim: 4, actionDim: 1, seed: 0 });
    // obs + nextObs 2 * 4 * 4 bytes, action 4, reward 4, discount 4, terminated 1 = 45 bytes per transition.
    expect(buffer.memoryBytes()).toBe(1000 * 45);
    // Box actions of 3 numbers: 8 more bytes per transition.
    expect(new ReplayBuffer({ capacity: 1000, obsDim: 4, actionDim: 3, seed: 0 }).memoryBytes()).toBe(
      1000 * 53,
    );
    expect(() => buffer.sample(32)).toThrow(/empty/);
    expect(() => new ReplayBuffer({ capacity: 0, obsDim: 4, actionDim: 1 })).toThrow(
      /capacity must be a positive integer/,
    );
    expect(() => new ReplayBuffer({ capacity: 4, obsDim: 4, actionDim: 0 })).toThrow(
      /actionDim must be a positive integer/,
    );
  });

  it("resumes the same samples after getState/setState", () => {
    const buffer = new ReplayBuffer({ capacity: 8, obsDim: 2, actionDim: 1, seed: 3 });
    buffer.addBatch(labelled([1, 2, 3, 4, 5]));
    const restored = new ReplayBuffer({ capacity: 8, obsDim: 2, actionDim: 1, seed: 99 });
    restored.setState(buffer.getState());
    expect(Array.from(restored.sample(50).actions)).toEqual(Array.from(buffer.sample(50).actions));
    restored.addBatch(labelled([6]));
    buffer.addBatch(labelled([6]));
    expect(restored.getState()).toEqual(buffer.getState());
    expect(() =>
      new ReplayBuffer({ capacity: 4, obsDim: 2, actionDim: 1 }).setState(buffer.getState()),
    ).toThrow(/capacity 8/);
    expect(() =>
      new ReplayBuffer({ capacity: 8, obsDim: 2, actionDim: 2 }).setState(buffer.getState()),
    ).toThrow(/actionDim 1/);
  });

  it("keeps actions of several numbers (Box actions) with their transitions, through getState too", () => {
    const buffer = new ReplayBuffer({ capacity: 4, obsDim: 2, actionDim: 2, seed: 2 });
    buffer.addBatch(labelled([1, 2, 3], 2));
    const sample = buffer.sample(100);
    expect(sample.actions.length).toBe(200);
    for (let i = 0; i < sample.count; i++) {
      const id = sample.obs[2 * i];
      expect(Array.from(sample.actions.subarray(2 * i, 2 * i + 2))).toEqual([id, id + 0.25]);
    }
    expect(new Set(Array.from(sample.obs.filter((_, k) => k % 2 === 0)))).toEqual(new Set([1, 2, 3]));
    const restored = new ReplayBuffer({ capacity: 4, obsDim: 2, actionDim: 2, seed: 9 });
    restored.setState(buffer.getState());
    expect(restored.getState()).toEqual(buffer.getState());
    expect(Array.from(restored.sample(20).actions)).toEqual(Array.from(buffer.sample(20).actions));
  });
});

describe("PrioritizedReplayBuffer (sum-tree)", () => {
  /** Four transitions with raw priorities 1, 2, 3, 4 (TD errors minus epsilon). */
  function withPriorities1234(alpha: number, capacity = 4): PrioritizedReplayBuffer {
    const buffer = new PrioritizedReplayBuffer({
      capacity,
      obsDim: 2,
      actionDim: 1,
      alpha,
      epsilon: 0.01,
      seed: 11,
    });
    buffer.addBatch(labelled([0, 1, 2, 3]));
    buffer.updatePriorities(Int32Array.from([0, 1, 2, 3]), [0.99, -1.99, 2.99, -3.99]);
    return buffer;
  }

  it("samples in proportion to priority^alpha (chi-square, fixed seed)", () => {
    const proportional = withPriorities1234(1);
    expect([0, 1, 2, 3].map((i) => proportional.probability(i))).toEqual(
      [0.1, 0.2, 0.3, 0.4].map((p) => expect.closeTo(p, 12)),
    );
    const counts = countDraws(proportional, 20_000, 4);
    expect(chiSquare(counts, [0.1, 0.2, 0.3, 0.4])).toBeLessThan(CHI2_CRITICAL_DF3);

    // alpha 0.5 on a capacity that is not a power of two: P(i) = sqrt(p_i) / sum_k sqrt(p_k).
    const flattened = withPriorities1234(0.5, 6);
    const roots = [1, 2, 3, 4].map(Math.sqrt);
    const expected = roots.map((r) => r / roots.reduce((a, b) => a + b, 0));
    const flattenedCounts = countDraws(flattened, 20_000, 4);
    expect(chiSquare(flattenedCounts, expected)).toBeLessThan(CHI2_CRITICAL_DF3);
  });

  it("a wrong distribution fails the same test (the test can fail)", () => {
    const uniform = new ReplayBuffer({ capacity: 4, obsDim: 2, actionDim: 1, seed: 11 });
    uniform.addBatch(labelled([0, 1, 2, 3]));
    expect(chiSquare(countDraws(uniform, 20_000, 4), [0.1, 0.2, 0.3, 0.4])).toBeGreaterThan(
      CHI2_CRITICAL_DF3,
    );
  });

  it("weights samples by (N P(i))^-beta normalised by the largest weight", () => {
    const buffer = withPriorities1234(1);
    // P = [.1, .2, .3, .4], N = 4: (N P)^-beta / (N P_min)^-beta = (p_min / p_i)^beta.
    const atBeta = (beta: number) => {
      const sample = buffer.sample(400, beta);
      const bySlot = new Map<number, number>();
      sample.indices.forEach((slot: number, i: number) => {
        bySlot.set(slot, sample.weights[i]);
      });
      return [0, 1, 2, 3].map((slot) => bySlot.get(slot));
    };
    expect(atBeta(0.5)).toEqual([1, Math.SQRT1_2, 1 / Math.sqrt(3), 0.5].map((w) => expect.closeTo(w, 6)));
    expect(atBeta(1)).toEqual([1, 1 / 2, 1 / 3, 1 / 4].map((w) => expect.closeTo(w, 6)));
    expect(atBeta(0)).toEqual([1, 1, 1, 1]);
  });

  it("gives new transitions the largest priority seen and updates from |TD error| + epsilon", () => {
    const buffer = new PrioritizedReplayBuffer({
      capacity: 8,
      obsDim: 2,
      actionDim: 1,
      alpha: 1,
      epsilon: 0.5,
      seed: 0,
    });
    buffer.addBatch(labelled([0, 1]));
    // Before any update every transition has the initial priority 1.
    expect(buffer.probability(0)).toBeCloseTo(0.5, 12);
    buffer.updatePriorities(Int32Array.from([0, 1]), [-2.5, 0.5]);
    // priorities 3 and 1: P = 3/4, 1/4
    expect(buffer.probability(0)).toBeCloseTo(0.75, 12);
    buffer.addBatch(labelled([2]));
    // the new one enters with the max priority 3: P = 3/7, 1/7, 3/7
    expect([0, 1, 2].map((i) => buffer.probability(i))).toEqual(
      [3 / 7, 1 / 7, 3 / 7].map((p) => expect.closeTo(p, 12)),
    );
    expect(() => buffer.updatePriorities(Int32Array.from([1]), [Number.NaN])).toThrow(
      /TD error NaN at slot 1/,
    );
    expect(() => buffer.updatePriorities(Int32Array.from([5]), [1])).toThrow(/index 5 is not a stored slot/);
  });

  it("after wrapping, overwritten slots take the new priority", () => {
    const buffer = new PrioritizedReplayBuffer({ capacity: 3, obsDim: 2, actionDim: 1, alpha: 1, seed: 0 });
    buffer.addBatch(labelled([0, 1, 2]));
    buffer.updatePriorities(Int32Array.from([0, 1, 2]), [9, 0, 0]);
    buffer.addBatch(labelled([3])); // lands in slot 0 with max priority ~9
    buffer.updatePriorities(Int32Array.from([0]), [0]);
    expect([0, 1, 2].map((i) => buffer.probability(i))).toEqual(
      [1 / 3, 1 / 3, 1 / 3].map((p) => expect.closeTo(p, 6)),
    );
    expect(buffer.sample(30).actions.every((a: number) => a !== 0)).toBe(true);
  });

  it("restores trees and random stream from getState", () => {
    const buffer = withPriorities1234(0.6);
    const restored = new PrioritizedReplayBuffer({
      capacity: 4,
      obsDim: 2,
      actionDim: 1,
      alpha: 0.6,
      seed: 5,
    });
    restored.setState(buffer.getState());
    const a = buffer.sample(64, 0.4);
    const b = restored.sample(64, 0.4);
    expect(Array.from(b.indices)).toEqual(Array.from(a.indices));
    expect(Array.from(b.weights)).toEqual(Array.from(a.weights));
    expect(() =>
      new ReplayBuffer({ capacity: 4, obsDim: 2, actionDim: 1 }).setState(buffer.getState()),
    ).toThrow(/prioritized buffer/);
  });
});
