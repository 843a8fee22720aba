/**
 * PPO's learner with the fused WebAssembly step (`learner.fused: auto`) against its tfjs path (`off`):
 * the same metrics, weights and optimizer state after updates, checkpoints that move between the two,
 * the KL early stop and a refused non-finite gradient behaving alike; and which modules and backends
 * take the fused step.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PPOConfig, ppoConfigSchema, ppoRunConfigSchema } from "../../src/algos/ppo/config.js";
import { PPOLearner } from "../../src/algos/ppo/learner.js";
import { allocateTrainBatch, type TrainBatch } from "../../src/buffers/train_batch.js";
import { Box, Discrete, MultiDiscrete } from "../../src/envs/spaces.js";
import type { OptimizerState } from "../../src/learner/adam.js";
import { selectBackend } from "../../src/learner/backend.js";
import { type ModuleSpec, moduleSpecFor } from "../../src/models/catalog.js";
import { createRng, normal } from "../../src/utils/rng.js";
import { expectClose } from "../fixtures/fused_kernel.js";

const obsSpace = new Box(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, [4]);
const model = { hiddens: [32, 32], activation: "tanh" as const, vf_share_layers: false, initial_log_std: 0 };
const categorical = moduleSpecFor(obsSpace, new Discrete(2), { type: "actor_critic", model });
const gaussian = moduleSpecFor(obsSpace, new Box(-1, 1, [2]), {
  type: "actor_critic",
  model: { ...model, activation: "relu", vf_share_layers: true },
});

function config(overrides: Partial<PPOConfig> = {}): PPOConfig {
  return {
    ...ppoConfigSchema.parse({
      train_batch_size: 256,
      minibatch_size: 64,
      num_epochs: 3,
      vf_clip_param: 0.2,
    }),
    entropy_coeff: 0.01,
    ...overrides,
  };
}

function learner(spec: ModuleSpec, fused: "auto" | "off", ppo = config()): PPOLearner {
  return new PPOLearner({ module: spec, config: ppo, seed: 3, fused });
}

/** A batch whose old log-probs and values are near what the initial module gives (ratios near 1). */
function randomBatch(spec: ModuleSpec, size: number, seed: number): TrainBatch {
  const rng = createRng(seed);
  const batch = allocateTrainBatch(size, spec.obsDim, spec.actionDim);
  for (let i = 0; i < batch.obs.length; i++) batch.obs[i] = normal(rng);
  for (let i = 0; i < size; i++) {
    if (spec.head.kind === "categorical") batch.actions[i] = i % 2;
    else for (let j = 0; j < spec.actionDim; j++) batch.actions[i * spec.actionDim + j] = normal(rng);
    batch.logp[i] = (spec.head.kind === "categorical" ? -0.69 : -2.3) + 0.05 * normal(rng);
    batch.values[i] = 0.1 * normal(rng);
    batch.advantages[i] = normal(rng);
    batch.returns[i] = normal(rng);
  }
  return batch;
}

function expectMetricsClose(actual: Record<string, number>, expected: Record<string, number>) {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const [name, value] of Object.entries(expected)) {
    expect(Math.abs(actual[name] - value), name).toBeLessThan(1e-4 * Math.max(1, Math.abs(value)));
  }
}

describe("PPO learner: fused step against the tfjs path", () => {
  beforeAll(async () => {
    await selectBackend("wasm");
  });
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("takes the fused step for covered modules on wasm and cpu, unless learner.fused is off", async () => {
    expect(learner(categorical, "auto").usesFusedStep).toBe(true);
    expect(learner(categorical, "off").usesFusedStep).toBe(false);
    const multiDiscrete = moduleSpecFor(obsSpace, new MultiDiscrete([2, 3]), { type: "actor_critic", model });
    expect(learner(multiDiscrete, "auto").usesFusedStep).toBe(false);
    // The default (no `fused` in the spec) is auto.
    expect(new PPOLearner({ module: categorical, config: config(), seed: 0 }).usesFusedStep).toBe(true);
    expect(
      new PPOLearner({ module: categorical, config: config(), seed: 0, optimizerOnBackend: true })
        .usesFusedStep,
    ).toBe(false);
    await selectBackend("cpu");
    expect(learner(gaussian, "auto").usesFusedStep).toBe(true);
    await selectBackend("wasm");
  });

  it("learner.fused is in the config: auto by default, off accepted, anything else refused", () => {
    expect(ppoRunConfigSchema.parse({ env: { id: "CartPole-v1" } }).learner.fused).toBe("auto");
    expect(
      ppoRunConfigSchema.parse({ env: { id: "CartPole-v1" }, learner: { fused: "off" } }).learner.fused,
    ).toBe("off");
    expect(() =>
      ppoRunConfigSchema.parse({ env: { id: "CartPole-v1" }, learner: { fused: "on" } }),
    ).toThrow();
  });

  it.each([
    ["categorical, tanh, separate towers", categorical],
    ["gaussian, relu, shared trunk", gaussian],
  ])("%s: three updates give the same metrics, weights and optimizer state", (_, spec) => {
    const fused = learner(spec, "auto");
    const tfjs = learner(spec, "off");
    for (let update = 0; update < 3; update++) {
      const batch = randomBatch(spec, 256, update);
      const a = fused.update({ batch, numEnvStepsSampled: 256 * update });
      const b = tfjs.update({ batch, numEnvStepsSampled: 256 * update });
      expectMetricsClose(a, b);
    }
    expectClose(fused.getWeights(), tfjs.getWeights(), 1e-4, "weights");
    const [fusedState, tfjsState] = [fused.getState(), tfjs.getState()];
    expect(Object.keys(fusedState).sort()).toEqual(Object.keys(tfjsState).sort());
    const [fo, to] = [fusedState.optimizer as OptimizerState, tfjsState.optimizer as OptimizerState];
    expect(fo.step).toBe(to.step);
    expect(fo.step).toBe(3 * 3 * 4); // epochs x minibatches per update
    expectClose(fo.m, to.m, 1e-5, "m");
    expectClose(fo.v, to.v, 1e-6, "v");
    expect(fusedState.shuffleRng).toEqual(tfjsState.shuffleRng);
  });

  it("a checkpoint of either path restores into the other and trains on alike", () => {
    const source = learner(categorical, "off");
    source.update({ batch: randomBatch(categorical, 256, 7), numEnvStepsSampled: 0 });
    const state = source.getState();
    const fused = learner(categorical, "auto");
    const tfjs = learner(categorical, "off");
    fused.setState(state);
    tfjs.setState(state);
    const batch = randomBatch(categorical, 256, 8);
    expectMetricsClose(
      fused.update({ batch, numEnvStepsSampled: 256 }),
      tfjs.update({ batch, numEnvStepsSampled: 256 }),
    );
    expectClose(fused.getWeights(), tfjs.getWeights(), 1e-5, "weights");
    // And back: the fused learner's state into a tfjs one.
    const back = learner(categorical, "off");
    back.setState(fused.getState());
    expect(back.getWeights()).toEqual(fused.getWeights());
  });

  it("the KL early stop ends the epochs at the same point", () => {
    const ppo = config({ kl_target: 1e-4, num_epochs: 8, lr: 3e-3 });
    const batch = randomBatch(categorical, 256, 9);
    const a = learner(categorical, "auto", ppo).update({ batch, numEnvStepsSampled: 0 });
    const b = learner(categorical, "off", ppo).update({ batch, numEnvStepsSampled: 0 });
    expect(a.num_epochs).toBeLessThan(8);
    expect(a.num_epochs).toBe(b.num_epochs);
    expectMetricsClose(a, b);
  });

  it("a non-finite gradient is refused with the same error; the steps before it are kept", () => {
    const batch = randomBatch(categorical, 256, 10);
    batch.returns[200] = Number.POSITIVE_INFINITY;
    const fused = learner(categorical, "auto");
    const tfjs = learner(categorical, "off");
    const message = /learners\/grad_norm is (NaN|Infinity)/;
    expect(() => fused.update({ batch, numEnvStepsSampled: 0 })).toThrow(message);
    expect(() => tfjs.update({ batch, numEnvStepsSampled: 0 })).toThrow(message);
    expect(Array.from(fused.getWeights()).every(Number.isFinite)).toBe(true);
    expectClose(fused.getWeights(), tfjs.getWeights(), 1e-5, "weights after the refusal");
    expect((fused.getState().optimizer as OptimizerState).step).toBe(
      (tfjs.getState().optimizer as OptimizerState).step,
    );
  });
});
