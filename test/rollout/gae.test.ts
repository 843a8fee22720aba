import { describe, expect, it } from "vitest";
import { allocateFragment } from "../../src/buffers/fragment.js";
import { computeGae } from "../../src/buffers/gae.js";

/**
 * Three envs, three steps, gamma 0.9, lambda 0.8 (gamma * lambda = 0.72); rows are time-major (t * 3 + env).
 *   env 0: terminates at t=1 mid-fragment, then runs to the end (bootstraps from lastValues = 0.4)
 *   env 1: truncated at t=0 (V(final obs) = 5) and again at the last step (V(final obs) = 4; lastValues ignored)
 *   env 2: terminates at the last step (lastValues = 100 must be ignored)
 */
function handFragment() {
  const f = allocateFragment({ numSteps: 3, numEnvs: 3, obsDim: 1, actionDim: 1, obsDtype: "float32" });
  const perEnv = (a: number[], b: number[], c: number[]) => [
    a[0],
    b[0],
    c[0],
    a[1],
    b[1],
    c[1],
    a[2],
    b[2],
    c[2],
  ];
  f.rewards.set(perEnv([1, 1, 1], [2, 0, 1], [0, 0, 1]));
  f.values.set(perEnv([0.5, 0.6, 0.7], [1, 2, 3], [0, 0, 0.5]));
  f.terminated.set(perEnv([0, 1, 0], [0, 0, 0], [0, 0, 1]));
  f.truncated.set(perEnv([0, 0, 0], [1, 0, 1], [0, 0, 0]));
  f.bootstrapValues.set(perEnv([0, 0, 0], [5, 0, 4], [0, 0, 0]));
  f.lastValues.set([0.4, 10, 100]);
  return f;
}

describe("computeGae", () => {
  it("matches hand-computed advantages across terminations and truncations", () => {
    const { advantages, returns } = computeGae(handFragment(), 0.9, 0.8);
    // env 0: t2 = 1 + 0.9*0.4 - 0.7 = 0.66; t1 (terminal) = 1 - 0.6 = 0.4; t0 = (1 + 0.9*0.6 - 0.5) + 0.72*0.4 = 1.328
    // env 1: t2 (truncated) = 1 + 0.9*4 - 3 = 1.6; t1 = (0 + 0.9*3 - 2) + 0.72*1.6 = 1.852; t0 (truncated) = 2 + 0.9*5 - 1 = 5.5
    // env 2: t2 (terminal) = 1 - 0.5 = 0.5; t1 = 0.9*0.5 + 0.72*0.5 = 0.81; t0 = 0 + 0.72*0.81 = 0.5832
    const expected = [1.328, 5.5, 0.5832, 0.4, 1.852, 0.81, 0.66, 1.6, 0.5];
    expected.forEach((a, row) => {
      expect(advantages[row]).toBeCloseTo(a, 5);
    });
    const values = handFragment().values;
    expected.forEach((a, row) => {
      expect(returns[row]).toBeCloseTo(a + values[row], 5);
    });
  });

  it("with lambda 1 and no value function gives discounted returns to the episode end", () => {
    const f = allocateFragment({ numSteps: 4, numEnvs: 1, obsDim: 1, actionDim: 1, obsDtype: "float32" });
    f.rewards.set([1, 1, 1, 1]);
    f.terminated.set([0, 0, 1, 0]);
    const { returns } = computeGae(f, 0.5, 1);
    expect(Array.from(returns)).toEqual([1.75, 1.5, 1, 1]);
  });
});
