import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { Box, Discrete } from "../../src/envs/spaces.js";
import { selectBackend } from "../../src/learner/backend.js";
import { PolicyInference } from "../../src/models/inference.js";
import {
  ActorCritic,
  initialFlatWeights,
  orthogonalKernel,
  type PolicySpec,
} from "../../src/models/network.js";
import { createRng } from "../../src/utils/rng.js";

const specs: Record<string, PolicySpec> = {
  "categorical, separate tanh nets": {
    observationSpace: new Box(-10, 10, [4]).toJSON(),
    actionSpace: new Discrete(3).toJSON(),
    obsDim: 4,
    action: { kind: "categorical", n: 3 },
    hiddens: [16, 8],
    activation: "tanh",
    vfShareLayers: false,
    initialLogStd: 0,
  },
  "gaussian, shared relu trunk": {
    observationSpace: new Box(-10, 10, [3]).toJSON(),
    actionSpace: new Box(-1, 1, [2]).toJSON(),
    obsDim: 3,
    action: { kind: "gaussian", dim: 2 },
    hiddens: [12],
    activation: "relu",
    vfShareLayers: true,
    initialLogStd: -0.5,
  },
};

/** Random weights with non-zero biases, so every part of the layout is exercised. */
function randomWeights(size: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: size }, () => rng() - 0.5);
}

beforeAll(async () => {
  await selectBackend("cpu");
});

describe("orthogonal initialisation", () => {
  it.each([
    [64, 4],
    [4, 64],
    [32, 32],
  ])("kernel [%i, %i] has orthonormal columns or rows times the gain", (inDim, outDim) => {
    const k = orthogonalKernel(inDim, outDim, 2, createRng(1));
    const vectors = Math.min(inDim, outDim); // columns when tall, rows when wide
    const get = (v: number, r: number) => (inDim >= outDim ? k[r * outDim + v] : k[v * outDim + r]);
    const length = Math.max(inDim, outDim);
    for (let a = 0; a < vectors; a++) {
      for (let b = 0; b < vectors; b++) {
        let dot = 0;
        for (let r = 0; r < length; r++) dot += get(a, r) * get(b, r);
        expect(dot).toBeCloseTo(a === b ? 4 : 0, 4);
      }
    }
  });

  it("uses CleanRL's gains: policy head 0.01, value head 1, zero biases, initial log-std", () => {
    const spec = specs["gaussian, shared relu trunk"];
    const model = new ActorCritic(spec, initialFlatWeights(spec, 0));
    const [, trunkBias, piKernel, piBias, vfKernel, , logStd] = model.variables.map((v) =>
      Array.from(v.dataSync()),
    );
    expect(trunkBias.every((b) => b === 0) && piBias.every((b) => b === 0)).toBe(true);
    const norm = (x: number[]) => Math.sqrt(x.reduce((s, v) => s + v * v, 0));
    expect(norm(piKernel)).toBeCloseTo(0.01 * Math.sqrt(2), 5); // two orthonormal columns scaled by 0.01
    expect(norm(vfKernel)).toBeCloseTo(1, 5);
    expect(logStd).toEqual([-0.5, -0.5]);
    model.dispose();
  });
});

describe.each(Object.entries(specs))("%s", (_, spec) => {
  it("round-trips the flat weights", () => {
    const model = new ActorCritic(spec, initialFlatWeights(spec, 3));
    const flat = randomWeights(model.layout.size, 7);
    model.setFlatWeights(flat);
    expect(model.getFlatWeights()).toEqual(flat);
    expect(() => model.setFlatWeights(new Float32Array(3))).toThrow(/expected \d+ float32s/);
    model.dispose();
  });

  // Batch 1 runs the one-row path only; batch 9 two blocks of four rows and one row.
  it.each([1, 9])(
    "rollout inference (PolicyInference) equals the tfjs actor and critic within 1e-5 (batch %i)",
    (batch) => {
      const model = new ActorCritic(
        spec,
        randomWeights(new ActorCritic(spec, initialFlatWeights(spec, 0)).layout.size, 11),
      );
      const obs = randomWeights(batch * spec.obsDim, 5).map((x) => x * 6);
      const inference = new PolicyInference(spec, 1);
      inference.setWeights(model.getFlatWeights());
      const actionDim = spec.action.kind === "categorical" ? 1 : spec.action.dim;
      const out = {
        actions: new Float32Array(batch * actionDim),
        logp: new Float32Array(batch),
        values: new Float32Array(batch),
      };
      inference.act(obs, batch, false, out);

      const obsTensor = tf.tensor2d(obs, [batch, spec.obsDim]);
      const policyOut = model.actor.predict(obsTensor) as tf.Tensor2D;
      const values = (model.critic.predict(obsTensor) as tf.Tensor2D).dataSync();
      const dist = model.distribution(policyOut);
      const actions =
        spec.action.kind === "categorical"
          ? tf.tensor1d(Int32Array.from(out.actions), "int32")
          : tf.tensor2d(out.actions, [batch, actionDim]);
      const logp = dist.logProb(actions).dataSync();
      for (let b = 0; b < batch; b++) {
        expect(Math.abs(out.values[b] - values[b])).toBeLessThan(1e-5);
        expect(Math.abs(out.logp[b] - logp[b])).toBeLessThan(1e-5);
      }
      // The training forward pass (fused matmuls on the same variables) agrees with the layers model.
      const forward = model.forward(obsTensor);
      expect(Math.max(...forward.policyOut.sub(policyOut).abs().dataSync())).toBeLessThan(1e-5);

      // Greedy actions are the argmax / the mean.
      inference.act(obs, batch, true, out);
      const greedy = dist.mode().dataSync();
      for (let k = 0; k < batch * actionDim; k++)
        expect(Math.abs(out.actions[k] - greedy[k])).toBeLessThan(1e-5);
      model.dispose();
    },
  );

  it("saves an actor that tf.loadLayersModel reads back with the same outputs", async () => {
    const model = new ActorCritic(spec, initialFlatWeights(spec, 2));
    model.setFlatWeights(randomWeights(model.layout.size, 4));
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.actor.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
      }),
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
    const obs = tf.tensor2d(randomWeights(2 * spec.obsDim, 9), [2, spec.obsDim]);
    const diff = (loaded.predict(obs) as tf.Tensor)
      .sub(model.actor.predict(obs) as tf.Tensor)
      .abs()
      .max()
      .dataSync()[0];
    expect(diff).toBeLessThan(1e-6);
    model.dispose();
  });
});

describe("sampling", () => {
  it("categorical samples follow the softmax probabilities, reproducibly for a seed", () => {
    const spec = specs["categorical, separate tanh nets"];
    const inference = new PolicyInference(spec, 42);
    const weights = new Float32Array(new ActorCritic(spec, initialFlatWeights(spec, 0)).layout.size);
    // Zero weights except the policy head bias: logits = log([0.2, 0.3, 0.5]).
    const headBias = 4 * 16 + 16 + 16 * 8 + 8 + 8 * 3;
    weights.set([Math.log(0.2), Math.log(0.3), Math.log(0.5)], headBias);
    inference.setWeights(weights);
    const batch = 20000;
    const out = {
      actions: new Float32Array(batch),
      logp: new Float32Array(batch),
      values: new Float32Array(batch),
    };
    inference.act(new Float32Array(batch * 4), batch, false, out);
    const counts = [0, 0, 0];
    for (const a of out.actions) counts[a] += 1;
    expect(counts[0] / batch).toBeCloseTo(0.2, 1);
    expect(counts[2] / batch).toBeCloseTo(0.5, 1);
    expect(out.logp[0]).toBeCloseTo(Math.log([0.2, 0.3, 0.5][out.actions[0]]), 5);
    const again = new PolicyInference(spec, 42);
    again.setWeights(weights);
    const out2 = {
      actions: new Float32Array(batch),
      logp: new Float32Array(batch),
      values: new Float32Array(batch),
    };
    again.act(new Float32Array(batch * 4), batch, false, out2);
    expect(out2.actions).toEqual(out.actions);
  });
});
