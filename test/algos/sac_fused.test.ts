/**
 * SAC's fused step (fused_step.ts, on the WebAssembly kernel) against its tfjs path (the hand-derived
 * gradients sac_loss.test.ts checks against autodiff through the readable losses): the same updates from
 * the same seed give the same metrics, TD errors, weights, target critics, temperature and optimizer
 * state, with and without twin critics, clipping and alpha tuning; a checkpoint moves between the paths;
 * deliberately broken kernels fail.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SACConfig, sacConfigSchema } from "../../src/algos/sac/config.js";
import { SACLearner } from "../../src/algos/sac/learner.js";
import { allocateTransitions, type ReplaySample } from "../../src/buffers/replay.js";
import { Box } from "../../src/envs/spaces.js";
import type { OptimizerState } from "../../src/learner/adam.js";
import { selectBackend } from "../../src/learner/backend.js";
import { type ModuleSpec, moduleSpecFor } from "../../src/models/catalog.js";
import { createRng, normal } from "../../src/utils/rng.js";
import { expectClose, largestGap, useMutatedKernel, useShippedKernel } from "../fixtures/fused_kernel.js";

const batch = 29;

const actorSpec = (activation: "tanh" | "relu", hiddens: number[], obsDim = 5) =>
  moduleSpecFor(new Box(-3, 3, [obsDim]), new Box([-2, 0], [1, 4]), {
    type: "squashed_gaussian_actor",
    model: { hiddens, activation, vf_share_layers: false, initial_log_std: 0 },
    noiseCorrelation: 0,
  });

function randomSample(spec: ModuleSpec, seed: number): ReplaySample {
  const rng = createRng(seed);
  const { obsDim, actionDim } = spec;
  const sample: ReplaySample = {
    ...allocateTransitions(batch, obsDim, actionDim),
    indices: new Int32Array(batch),
    weights: Float32Array.from({ length: batch }, () => 0.3 + rng()),
  };
  sample.count = batch;
  for (let i = 0; i < batch * obsDim; i++) {
    sample.obs[i] = 2 * normal(rng);
    sample.nextObs[i] = 2 * normal(rng);
  }
  const low = [-2, 0];
  const high = [1, 4];
  for (let i = 0; i < batch * actionDim; i++) {
    const j = i % actionDim;
    sample.actions[i] = low[j] + (high[j] - low[j]) * rng();
  }
  for (let i = 0; i < batch; i++) {
    sample.rewards[i] = normal(rng);
    sample.discounts[i] = i % 7 === 0 ? 0 : 0.99;
  }
  return sample;
}

const METRICS = [
  "qf_loss",
  "qf_mean",
  "td_error_mean",
  "policy_loss",
  "logp_mean",
  "alpha_loss",
  "alpha_value",
  "critic_grad_norm",
  "actor_grad_norm",
] as const;

function expectSameState(a: SACLearner, b: SACLearner, tolerance: number, what: string): void {
  const [as, bs] = [a.getState(), b.getState()];
  expect(Object.keys(as).sort()).toEqual(Object.keys(bs).sort());
  for (const key of ["weights", "criticWeights", "targetCriticWeights", "logAlpha"]) {
    expectClose(as[key] as Float32Array, bs[key] as Float32Array, tolerance, `${what} ${key}`);
  }
  for (const key of ["optimizer", "criticOptimizer"]) {
    const [ao, bo] = [as[key] as OptimizerState, bs[key] as OptimizerState];
    expect(ao.step).toBe(bo.step);
    expectClose(ao.m, bo.m, tolerance, `${what} ${key} m`);
  }
}

describe("SAC learner: fused step against the tfjs path", () => {
  beforeAll(async () => {
    await selectBackend("wasm");
  });

  const config = (overrides: Record<string, unknown>): SACConfig =>
    sacConfigSchema.parse({
      train_batch_size: 16, // the kernels grow to the batch
      actor_lr: 3e-3,
      critic_lr: 3e-3,
      alpha_lr: 3e-3,
      ...overrides,
    });

  it.each([
    ["twin critics, relu, alpha tuned", actorSpec("relu", [24, 16]), { q_model: { hiddens: [20, 12] } }],
    [
      "one critic, tanh, clipped gradients, fixed alpha",
      actorSpec("tanh", [12]),
      { twin_q: false, grad_clip: 0.5, autotune_alpha: false, q_model: { hiddens: [10, 9] } },
    ],
    // The critics' input (60 + 2 floats, 64 padded) wider than any of their layers: the input
    // gradient's rows are the widest a product writes.
    ["twin critics on a wide observation", actorSpec("relu", [16], 60), { q_model: { hiddens: [16] } }],
  ] as const)(
    "%s: 10 steps with target moves give the same metrics, TD errors and state",
    (_, spec, overrides) => {
      const sectionConfig = config(overrides);
      const fused = new SACLearner({ module: spec, config: sectionConfig, seed: 3, fused: "auto" });
      const tfjs = new SACLearner({ module: spec, config: sectionConfig, seed: 3, fused: "off" });
      expect(fused.usesFusedStep).toBe(true);
      expect(tfjs.usesFusedStep).toBe(false);
      let largestNorm = 0;
      for (let step = 0; step < 10; step++) {
        const update = { sample: randomSample(spec, 40 + step), targetTau: step % 3 === 2 ? 0.3 : null };
        const a = fused.update(update);
        const b = tfjs.update(update);
        for (const name of METRICS) {
          expect(Math.abs(a.metrics[name]! - b.metrics[name]!), `step ${step} ${name}`).toBeLessThan(
            2e-4 * Math.max(1, Math.abs(b.metrics[name]!)),
          );
        }
        expectClose(a.tdErrors, b.tdErrors, 2e-4, `step ${step} TD errors`);
        expectClose(fused.getWeights(), tfjs.getWeights(), 2e-4, `step ${step} actor weights`);
        largestNorm = Math.max(largestNorm, b.metrics.critic_grad_norm!, b.metrics.actor_grad_norm!);
      }
      // With clipping at 0.5, the norms show it clipped.
      expect(largestNorm).toBeGreaterThan(1);
      expectSameState(fused, tfjs, 2e-4, "after 10 steps");
      fused.dispose();
      tfjs.dispose();
    },
  );

  it("a checkpoint of either path resumes in the other, and a resumed fused learner repeats itself exactly", () => {
    const spec = actorSpec("relu", [16, 16]);
    const sectionConfig = config({ q_model: { hiddens: [16, 16] } });
    const fused = new SACLearner({ module: spec, config: sectionConfig, seed: 5, fused: "auto" });
    for (let step = 0; step < 4; step++) fused.update({ sample: randomSample(spec, step), targetTau: 0.1 });
    const state = fused.getState();
    const tfjs = new SACLearner({ module: spec, config: sectionConfig, seed: 8, fused: "off" });
    const resumed = new SACLearner({ module: spec, config: sectionConfig, seed: 9, fused: "auto" });
    tfjs.setState(state);
    resumed.setState(state);
    for (let step = 4; step < 7; step++) {
      const update = { sample: randomSample(spec, step), targetTau: 0.1 };
      const a = fused.update(update);
      const b = resumed.update(update);
      const c = tfjs.update(update);
      expect(b.tdErrors).toEqual(a.tdErrors);
      expectClose(c.tdErrors, a.tdErrors, 2e-4, `step ${step} TD errors, tfjs path`);
    }
    expect(resumed.getState().targetCriticWeights).toEqual(fused.getState().targetCriticWeights);
    expectSameState(tfjs, fused, 2e-4, "resumed in the tfjs path");
    for (const learner of [fused, tfjs, resumed]) learner.dispose();
  });

  describe("a deliberately broken kernel fails the check", () => {
    afterAll(useShippedKernel);

    it.each([
      // no input gradient through a critic's first layer: dQ/da missing from the actor's loss
      [
        "the critics' input gradient",
        "(if (local.get $dIn)",
        "(if (i32.and (local.get $dIn) (i32.ne (local.get $layer) (local.get $first)))",
      ],
      // no weight gradient at all: the backward passes compute the input gradients alone
      ["parameter gradients always skipped", "(if (local.get $paramGrads)", "(if (i32.const 0)"],
      // the target keeps tau of itself instead of 1 - tau
      [
        "Polyak's weights swapped",
        "(local.set $rest (f32x4.splat (f32.sub (f32.const 1) (local.get $tau))))",
        "(local.set $rest (f32x4.splat (local.get $tau)))",
      ],
    ])("%s", async (_, from, to) => {
      await useMutatedKernel(from, to);
      const spec = actorSpec("relu", [16]);
      const sectionConfig = config({ q_model: { hiddens: [12] } });
      const fused = new SACLearner({ module: spec, config: sectionConfig, seed: 3, fused: "auto" });
      const tfjs = new SACLearner({ module: spec, config: sectionConfig, seed: 3, fused: "off" });
      const gaps: number[] = [];
      for (let step = 0; step < 3; step++) {
        const update = { sample: randomSample(spec, 70 + step), targetTau: 0.3 };
        gaps.push(largestGap(fused.update(update).tdErrors, tfjs.update(update).tdErrors));
        gaps.push(largestGap(fused.getWeights(), tfjs.getWeights()));
      }
      const targets = [fused, tfjs].map((learner) => learner.getState().targetCriticWeights as Float32Array);
      gaps.push(largestGap(targets[0], targets[1]));
      expect(Math.max(...gaps)).toBeGreaterThan(1e-3);
      fused.dispose();
      tfjs.dispose();
    });
  });
});
