/**
 * BackendAdam, the optimizer for backends where reading back every step costs more than the step (tfjs-node
 * on CPU or GPU): it trains to the weights the host Adam does, a PPO update reads the backend once per
 * epoch (its metrics) and once for the weights, and a non-finite gradient leaves the weights as they were.
 * Run on the cpu backend.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ppoConfigSchema } from "../../src/algos/ppo/config.js";
import { PPOLearner } from "../../src/algos/ppo/learner.js";
import { allocateTrainBatch } from "../../src/buffers/train_batch.js";
import { Box, Discrete } from "../../src/envs/spaces.js";
import { selectBackend } from "../../src/learner/backend.js";
import { moduleSpecFor } from "../../src/models/catalog.js";
import { createRng, normal } from "../../src/utils/rng.js";

const spec = moduleSpecFor(new Box(-5, 5, [4]), new Discrete(3), {
  type: "actor_critic",
  model: { hiddens: [16, 16], activation: "tanh", vf_share_layers: false, initial_log_std: 0 },
});
const config = ppoConfigSchema.parse({ train_batch_size: 128, minibatch_size: 32, num_epochs: 3, lr: 3e-3 });

function randomBatch(seed: number) {
  const rng = createRng(seed);
  const batch = allocateTrainBatch(128, 4, 1);
  for (let i = 0; i < batch.obs.length; i++) batch.obs[i] = normal(rng);
  for (let i = 0; i < 128; i++) {
    batch.actions[i] = i % 3;
    batch.logp[i] = -Math.log(3) + 0.2 * normal(rng);
    batch.values[i] = normal(rng);
    batch.advantages[i] = normal(rng);
    batch.returns[i] = normal(rng);
  }
  return batch;
}

/** Calls `body` and counts its reads of tensor data (every dataSync / data / arraySync). */
function countReads<T>(body: () => T): { result: T; reads: number } {
  const prototype = tf.Tensor.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const names = ["dataSync", "data", "arraySync", "array"];
  const originals = names.map((name) => prototype[name]);
  let reads = 0;
  names.forEach((name, i) => {
    prototype[name] = function (this: unknown, ...args: unknown[]) {
      reads += 1;
      return originals[i].apply(this, args);
    };
  });
  try {
    return { result: body(), reads };
  } finally {
    names.forEach((name, i) => {
      prototype[name] = originals[i];
    });
  }
}

describe("BackendAdam", () => {
  beforeAll(async () => {
    await selectBackend("cpu");
  });
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it("trains PPO to the host Adam's weights and moments, reading the backend once per epoch and once for the weights", () => {
    const host = new PPOLearner({ module: spec, config, seed: 1, optimizerOnBackend: false });
    const backend = new PPOLearner({ module: spec, config, seed: 1, optimizerOnBackend: true });
    for (const iteration of [0, 1]) {
      const batch = randomBatch(iteration);
      const expected = host.update({ batch, numEnvStepsSampled: 0 });
      const { result, reads } = countReads(() => {
        const metrics = backend.update({ batch, numEnvStepsSampled: 0 });
        return { metrics, weights: backend.getWeights() };
      });
      // 4 minibatches x 3 epochs of steps; the reads are the 3 epochs' metrics and the weights.
      expect(reads).toBe(config.num_epochs + 1);
      for (const [name, value] of Object.entries(expected))
        expect(result.metrics[name], name).toBeCloseTo(value, 4);
      const hostWeights = host.getWeights();
      for (let i = 0; i < hostWeights.length; i++) expect(result.weights[i]).toBeCloseTo(hostWeights[i], 5);
    }
    const hostState = host.getState() as { optimizer: { step: number; m: Float32Array; v: Float32Array } };
    const backendState = backend.getState() as typeof hostState;
    expect(backendState.optimizer.step).toBe(hostState.optimizer.step);
    for (let i = 0; i < hostState.optimizer.m.length; i += 97) {
      expect(backendState.optimizer.m[i]).toBeCloseTo(hostState.optimizer.m[i], 5);
      expect(backendState.optimizer.v[i]).toBeCloseTo(hostState.optimizer.v[i], 7);
    }
    // A restored state trains on alike.
    const restored = new PPOLearner({ module: spec, config, seed: 9, optimizerOnBackend: true });
    restored.setState(backend.getState());
    const batch = randomBatch(5);
    restored.update({ batch, numEnvStepsSampled: 0 });
    backend.update({ batch, numEnvStepsSampled: 0 });
    expect(Array.from(restored.getWeights())).toEqual(Array.from(backend.getWeights()));
    for (const learner of [host, backend, restored]) learner.dispose();
  });

  it("refuses a non-finite gradient in one line and leaves the weights as they were", () => {
    const learner = new PPOLearner({ module: spec, config, seed: 2, optimizerOnBackend: true });
    const before = Array.from(learner.getWeights());
    const batch = randomBatch(3);
    batch.advantages.fill(Number.NaN);
    expect(() => learner.update({ batch, numEnvStepsSampled: 0 })).toThrow(
      /^learners\/grad_norm is NaN: the loss or its inputs are not finite; training stops, and no non-finite step changed the weights$/,
    );
    expect(Array.from(learner.getWeights())).toEqual(before);
    learner.dispose();
  });
});
