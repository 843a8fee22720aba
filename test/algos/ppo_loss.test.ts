import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { ppoLoss } from "../../src/algos/ppo/loss.js";
import { selectBackend } from "../../src/learner/backend.js";

/**
 * Five samples, clip 0.2, each a hand-checkable case of min(r A, clip(r) A):
 *   r=1.5 A=+1 -> clipped 1.2 (no gradient)   r=1.5 A=-1 -> unclipped -1.5 (pessimistic side)
 *   r=0.5 A=+1 -> unclipped 0.5              r=0.5 A=-1 -> clipped -0.8 (no gradient)
 *   r=1.1 A=+2 -> inside the range, 2.2
 * policy loss = -(1.2 - 1.5 + 0.5 - 0.8 + 2.2) / 5 = -0.32; 4 of 5 ratios left the range.
 */
const ratios = [1.5, 1.5, 0.5, 0.5, 1.1];
const advantages = [1, -1, 1, -1, 2];

function inputs(logp: tf.Tensor1D, vfClipParam: number | null) {
  return {
    logp,
    oldLogp: tf.zeros([5]) as tf.Tensor1D,
    advantages: tf.tensor1d(advantages),
    values: tf.tensor1d([1, 2, 0, 0, 0]),
    oldValues: tf.zeros([5]) as tf.Tensor1D,
    returns: tf.tensor1d([2, 3, 0, 0, 0]),
    entropy: tf.tensor1d([0.5, 0.5, 0.5, 0.5, 0.5]),
    clipParam: 0.2,
    vfClipParam,
    vfLossCoeff: 0.5,
    entropyCoeff: 0.1,
  };
}

// The loss and its gradients must work on wasm (not every tfjs op has a wasm kernel) as on cpu.
describe.each(["cpu", "wasm"] as const)("ppoLoss on %s", (backend) => {
  it("gives the hand-computed losses and diagnostics", async () => {
    await selectBackend(backend);
    const logp = tf.tensor1d(ratios.map(Math.log));
    const loss = ppoLoss(inputs(logp, null));
    expect(loss.policyLoss.dataSync()[0]).toBeCloseTo(-0.32, 5);
    expect(loss.clipFraction.dataSync()[0]).toBeCloseTo(0.8, 6);
    // 0.5 * mean((V - R)^2) = 0.5 * (1 + 1) / 5
    expect(loss.vfLoss.dataSync()[0]).toBeCloseTo(0.2, 5);
    expect(loss.entropy.dataSync()[0]).toBeCloseTo(0.5, 6);
    expect(loss.total.dataSync()[0]).toBeCloseTo(-0.32 + 0.5 * 0.2 - 0.1 * 0.5, 5);
    const kl = ratios.reduce((s, r) => s + (r - 1 - Math.log(r)), 0) / 5;
    expect(loss.approxKl.dataSync()[0]).toBeCloseTo(kl, 5);
  });

  it("clips the value prediction to old value ± vf_clip_param", async () => {
    await selectBackend(backend);
    // V_clipped = [0.5, 0.5]: squared errors max((1, 1), (2.25, 6.25)) -> 0.5 * (2.25 + 6.25) / 5
    const loss = ppoLoss(inputs(tf.tensor1d(ratios.map(Math.log)), 0.5));
    expect(loss.vfLoss.dataSync()[0]).toBeCloseTo(0.85, 5);
  });

  it("passes gradient only through unclipped terms, with the advantage's sign", async () => {
    await selectBackend(backend);
    const grad = tf.grad((logp: tf.Tensor) => ppoLoss(inputs(logp as tf.Tensor1D, null)).policyLoss);
    const g = Array.from(grad(tf.tensor1d(ratios.map(Math.log))).dataSync());
    // d(-r A / 5)/d log r = -r A / 5 where unclipped; 0 where the clipped term is the minimum.
    const expected = [0, 0.3, -0.1, 0, -0.44];
    g.forEach((v, i) => {
      expect(v).toBeCloseTo(expected[i], 5);
    });
  });
});

afterAll(async () => {
  await selectBackend("cpu");
});
