import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { Box, Dict, Discrete, MultiBinary, MultiDiscrete, Tuple } from "../../src/envs/spaces.js";
import { selectBackend } from "../../src/learner/backend.js";
import { initialWeights, type ModuleSpec, moduleSpecFor, weightsSize } from "../../src/models/catalog.js";
import { policyLayersModel } from "../../src/models/export.js";
import { ModuleInference } from "../../src/models/inference.js";
import { orthogonalKernel } from "../../src/models/mlp.js";
import { ActorCritic, QNetwork } from "../../src/models/rl_module.js";
import { createRng } from "../../src/utils/rng.js";

const specs: Record<string, ModuleSpec> = {
  "categorical, separate tanh nets": moduleSpecFor(new Box(-10, 10, [4]), new Discrete(3), {
    type: "actor_critic",
    model: { hiddens: [16, 8], activation: "tanh", vf_share_layers: false, initial_log_std: 0 },
  }),
  "gaussian, shared relu trunk": moduleSpecFor(new Box(-10, 10, [3]), new Box(-1, 1, [2]), {
    type: "actor_critic",
    model: { hiddens: [12], activation: "relu", vf_share_layers: true, initial_log_std: -0.5 },
  }),
  "multi-categorical (MultiDiscrete), separate tanh nets": moduleSpecFor(
    new Box(-10, 10, [4]),
    new MultiDiscrete([3, 5], [0, -2]),
    {
      type: "actor_critic",
      model: { hiddens: [16], activation: "tanh", vf_share_layers: false, initial_log_std: 0 },
    },
  ),
  "bernoulli (MultiBinary), shared relu trunk": moduleSpecFor(new Box(-10, 10, [3]), new MultiBinary(4), {
    type: "actor_critic",
    model: { hiddens: [12], activation: "relu", vf_share_layers: true, initial_log_std: 0 },
  }),
  "composite Dict{Discrete, Box, MultiBinary}, separate tanh nets": moduleSpecFor(
    new Box(-10, 10, [4]),
    new Dict({ pick: new Discrete(3, 2), force: new Box(-1, 1, [2]), bits: new MultiBinary(2) }),
    {
      type: "actor_critic",
      model: { hiddens: [16], activation: "tanh", vf_share_layers: false, initial_log_std: -0.3 },
    },
  ),
  "composite Tuple{Box, MultiDiscrete, Box}, shared relu trunk": moduleSpecFor(
    new Box(-10, 10, [3]),
    new Tuple([new Box(-1, 1, [1]), new MultiDiscrete([2, 4], [0, -1]), new Box(-1, 1, [2])]),
    {
      type: "actor_critic",
      model: { hiddens: [12], activation: "relu", vf_share_layers: true, initial_log_std: 0 },
    },
  ),
};

/** Numbers per action: 1 (a class index), one per MultiDiscrete or MultiBinary entry, or the Gaussian's dimension. */
function actionDimOf(spec: ModuleSpec): number {
  return spec.actionDim;
}

/** Random weights with non-zero biases, so every part of the layout is exercised. */
function randomWeights(size: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: size }, () => rng() - 0.5);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
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
    const model = new ActorCritic(spec, initialWeights(spec, 0));
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
    const model = new ActorCritic(spec, initialWeights(spec, 3));
    expect(model.size).toBe(weightsSize(spec));
    const flat = randomWeights(model.size, 7);
    model.setFlatWeights(flat);
    expect(model.getFlatWeights()).toEqual(flat);
    expect(() => model.setFlatWeights(new Float32Array(3))).toThrow(/expected \d+ float32s/);
    model.dispose();
  });

  // Batch 1 runs the one-row path only; batch 9 two blocks of four rows and one row.
  it.each([1, 9])(
    "rollout inference (ModuleInference) equals the tfjs module and the exported policy within 1e-5 (batch %i)",
    (batch) => {
      const model = new ActorCritic(spec, randomWeights(weightsSize(spec), 11));
      const flat = model.getFlatWeights();
      const obs = randomWeights(batch * spec.obsDim, 5).map((x) => x * 6);
      const inference = new ModuleInference(spec, 1);
      inference.setWeights(flat);
      const actionDim = actionDimOf(spec);
      const out = {
        actions: new Float32Array(batch * actionDim),
        logp: new Float32Array(batch),
        values: new Float32Array(batch),
      };
      inference.act(obs, batch, { greedy: false }, out);

      const obsTensor = tf.tensor2d(obs, [batch, spec.obsDim]);
      const forward = model.forward(obsTensor);
      const values = forward.values.dataSync();
      const dist = model.distribution(forward.policyOut);
      const actions =
        spec.head.kind === "categorical"
          ? tf.tensor1d(Int32Array.from(out.actions), "int32")
          : spec.head.kind === "gaussian" || spec.head.kind === "composite"
            ? tf.tensor2d(out.actions, [batch, actionDim])
            : tf.tensor2d(Int32Array.from(out.actions), [batch, actionDim], "int32");
      const logp = dist.logProb(actions).dataSync();
      for (let b = 0; b < batch; b++) {
        expect(Math.abs(out.values[b] - values[b])).toBeLessThan(1e-5);
        expect(Math.abs(out.logp[b] - logp[b])).toBeLessThan(1e-5);
      }
      // values() alone gives the same V(s).
      const onlyValues = new Float32Array(batch);
      inference.values(obs, batch, onlyValues);
      expect(maxAbsDiff(onlyValues, values)).toBeLessThan(1e-5);

      // The exported policy (a layers model) and the hand-derived pass agree with the autodiff forward.
      const exported = policyLayersModel(spec, flat);
      const exportedOut = exported.predict(obsTensor) as tf.Tensor2D;
      expect(maxAbsDiff(exportedOut.dataSync(), forward.policyOut.dataSync())).toBeLessThan(1e-5);
      const fused = model.forwardWithBackward(obsTensor);
      expect(maxAbsDiff(fused.policyOut.dataSync(), forward.policyOut.dataSync())).toBeLessThan(1e-5);
      expect(maxAbsDiff(fused.values.dataSync(), values)).toBeLessThan(1e-5);

      // Greedy actions are the argmax / the mean.
      inference.act(obs, batch, { greedy: true }, out);
      const greedy = dist.mode().dataSync();
      expect(maxAbsDiff(out.actions, greedy)).toBeLessThan(1e-5);
      exported.dispose();
      model.dispose();
    },
  );

  it("saves an exported policy that tf.loadLayersModel reads back with the same outputs", async () => {
    const flat = randomWeights(weightsSize(spec), 4);
    const model = new ActorCritic(spec, flat);
    const exported = policyLayersModel(spec, flat);
    let artifacts: tf.io.ModelArtifacts | undefined;
    await exported.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
      }),
    );
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
    const obs = tf.tensor2d(randomWeights(2 * spec.obsDim, 9), [2, spec.obsDim]);
    const diff = (loaded.predict(obs) as tf.Tensor)
      .sub(model.forward(obs).policyOut)
      .abs()
      .max()
      .dataSync()[0];
    expect(diff).toBeLessThan(1e-6);
    loaded.dispose();
    exported.dispose();
    model.dispose();
  });
});

describe("sampling", () => {
  it("categorical samples follow the softmax probabilities, reproducibly for a seed", () => {
    const spec = specs["categorical, separate tanh nets"];
    const inference = new ModuleInference(spec, 42);
    const weights = new Float32Array(weightsSize(spec));
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
    inference.act(new Float32Array(batch * 4), batch, { greedy: false }, out);
    const counts = [0, 0, 0];
    for (const a of out.actions) counts[a] += 1;
    expect(counts[0] / batch).toBeCloseTo(0.2, 1);
    expect(counts[2] / batch).toBeCloseTo(0.5, 1);
    expect(out.logp[0]).toBeCloseTo(Math.log([0.2, 0.3, 0.5][out.actions[0]]), 5);
    const again = new ModuleInference(spec, 42);
    again.setWeights(weights);
    const out2 = {
      actions: new Float32Array(batch),
      logp: new Float32Array(batch),
      values: new Float32Array(batch),
    };
    again.act(new Float32Array(batch * 4), batch, { greedy: false }, out2);
    expect(out2.actions).toEqual(out.actions);
  });
});

describe("Q modules", () => {
  /** Encoder hiddens, head hiddens (per stream when dueling), dueling, activation. */
  const cases: [string, number[], number[], boolean, "tanh" | "relu"][] = [
    ["plain, no head hiddens", [16], [], false, "relu"],
    ["plain, head hiddens", [16], [8], false, "tanh"],
    ["dueling, no head hiddens", [16], [], true, "relu"],
    ["dueling, head hiddens", [16, 12], [8], true, "tanh"],
    ["dueling, no encoder, head hiddens", [], [8], true, "relu"],
    ["dueling, no encoder, no head hiddens", [], [], true, "tanh"],
  ];
  const qSpec = (encoder: number[], head: number[], dueling: boolean, activation: "tanh" | "relu") =>
    moduleSpecFor(new Box(-10, 10, [5]), new Discrete(4), {
      type: "q",
      model: { hiddens: encoder, activation, vf_share_layers: false, initial_log_std: 0 },
      headHiddens: head,
      dueling,
    });

  it.each(cases)(
    "%s: ModuleInference's Q values equal QNetwork.forward, and the exported policy's (batch 1 and 9)",
    (_, encoder, head, dueling, activation) => {
      const spec = qSpec(encoder, head, dueling, activation);
      expect(spec.head).toEqual({ kind: "q_values", n: 4, dueling });
      expect(spec.valueTower >= 0).toBe(dueling);
      const flat = randomWeights(weightsSize(spec), 13);
      const network = new QNetwork(spec, flat);
      expect(network.numActions).toBe(4);
      const inference = new ModuleInference(spec, 3);
      inference.setWeights(flat);
      const exported = policyLayersModel(spec, flat);
      for (const batch of [1, 9]) {
        const obs = randomWeights(batch * spec.obsDim, 17 + batch).map((x) => x * 6);
        const obsTensor = tf.tensor2d(obs, [batch, spec.obsDim]);
        const reference = network.forward(obsTensor).dataSync();
        const q = new Float32Array(batch * 4);
        inference.qValues(obs, batch, q);
        expect(maxAbsDiff(q, reference)).toBeLessThan(1e-5);
        // The hand-derived pass the learner trains through, and the targets' predict, agree too.
        expect(maxAbsDiff(network.predict(obsTensor).dataSync(), reference)).toBeLessThan(1e-5);
        // The exported policy folds the dueling streams into one Dense layer: same Q values.
        const exportedQ = (exported.predict(obsTensor) as tf.Tensor2D).dataSync();
        expect(maxAbsDiff(exportedQ, reference)).toBeLessThan(1e-5);

        // Greedy actions are argmax Q; with epsilon 1 every row explores, with 0 none does.
        const out = {
          actions: new Float32Array(batch),
          logp: new Float32Array(batch),
          values: new Float32Array(batch),
        };
        inference.act(obs, batch, { greedy: true }, out);
        const argmax = Array.from({ length: batch }, (_, b) => {
          const row = Array.from(reference.subarray(b * 4, b * 4 + 4));
          return row.indexOf(Math.max(...row));
        });
        expect(Array.from(out.actions)).toEqual(argmax);
        inference.act(obs, batch, { greedy: false, epsilons: new Array(batch).fill(0) }, out);
        expect(Array.from(out.actions)).toEqual(argmax);
        inference.act(obs, batch, { greedy: false, epsilons: new Array(batch).fill(1) }, out);
        expect(out.actions.every((a) => Number.isInteger(a) && a >= 0 && a < 4)).toBe(true);
      }
      exported.dispose();
      network.dispose();
    },
  );

  it("the dueling Q module's Q values differ from its advantage stream alone (the fold is not a no-op)", () => {
    const spec = qSpec([16], [8], true, "relu");
    const flat = randomWeights(weightsSize(spec), 21);
    const obs = randomWeights(3 * spec.obsDim, 22).map((x) => x * 6);
    const q = new Float32Array(3 * 4);
    const inference = new ModuleInference(spec, 0);
    inference.setWeights(flat);
    inference.qValues(obs, 3, q);
    // The same weights read as a plain Q module (the value stream's weights dropped).
    const plain = qSpec([16], [8], false, "relu");
    const plainInference = new ModuleInference(plain, 0);
    plainInference.setWeights(flat.subarray(0, weightsSize(plain)));
    const advantages = new Float32Array(3 * 4);
    plainInference.qValues(obs, 3, advantages);
    expect(maxAbsDiff(q, advantages)).toBeGreaterThan(1e-3);
  });

  it("initial weights are the same for one seed, and differ between seeds", () => {
    const spec = qSpec([16], [8], true, "relu");
    expect(initialWeights(spec, 1)).toEqual(initialWeights(spec, 1));
    expect(maxAbsDiff(initialWeights(spec, 1), initialWeights(spec, 2))).toBeGreaterThan(0);
  });
});

describe("the squashed-Gaussian head on the runners", () => {
  const spec = (noiseCorrelation: number) =>
    moduleSpecFor(new Box(-10, 10, [2]), new Box([-2], [6]), {
      type: "squashed_gaussian_actor",
      model: { hiddens: [8], activation: "relu", vf_share_layers: false, initial_log_std: 0 },
      noiseCorrelation,
    });

  /** The noise z behind `steps` actions of 4 envs with all-zero weights (mean 0, log-std -1.5: std e^-1.5). */
  function noiseSeries(noiseCorrelation: number, epsilon: number, steps: number): number[][] {
    const inference = new ModuleInference(spec(noiseCorrelation), 1);
    inference.setWeights(new Float32Array(weightsSize(spec(noiseCorrelation))));
    const out = { actions: new Float32Array(4), logp: new Float32Array(4), values: new Float32Array(4) };
    const series: number[][] = [[], [], [], []];
    for (let t = 0; t < steps; t++) {
      inference.act(
        new Float32Array(8),
        4,
        { greedy: false, epsilons: [epsilon, epsilon, epsilon, epsilon] },
        out,
      );
      for (let env = 0; env < 4; env++) {
        const a = out.actions[env];
        expect(a).toBeGreaterThanOrEqual(-2);
        expect(a).toBeLessThanOrEqual(6);
        series[env].push((a - 2) / 4); // back to [-1, 1]
      }
    }
    return series;
  }

  function lagOneCorrelation(x: number[]): number {
    const m = x.reduce((a, b) => a + b, 0) / x.length;
    let num = 0;
    let den = 0;
    for (let t = 0; t < x.length; t++) {
      den += (x[t] - m) ** 2;
      if (t > 0) num += (x[t] - m) * (x[t - 1] - m);
    }
    return num / den;
  }

  it("draws white noise by default and AR(1) noise with noise correlation rho, N(0, 1) at every step", () => {
    const std = Math.exp(-1.5);
    for (const rho of [0, 0.95]) {
      const z = noiseSeries(rho, 0, 4000).map((env) => env.map((unit) => Math.atanh(unit) / std));
      for (const env of z) {
        const variance = env.reduce((s, x) => s + x * x, 0) / env.length;
        expect(variance).toBeGreaterThan(0.7);
        expect(variance).toBeLessThan(1.3);
        expect(Math.abs(lagOneCorrelation(env) - rho)).toBeLessThan(0.05);
      }
    }
  });

  it("warms up with uniform actions in the Box, correlated in time when asked", () => {
    for (const rho of [0, 0.95]) {
      const units = noiseSeries(rho, 1, 4000).flat();
      const mean = units.reduce((a, b) => a + b, 0) / units.length;
      const variance = units.reduce((s, x) => s + (x - mean) ** 2, 0) / units.length;
      // Uniform on [-1, 1]: mean 0, variance 1/3 (the correlated series wanders, so wider bounds).
      expect(Math.abs(mean)).toBeLessThan(rho === 0 ? 0.03 : 0.15);
      expect(Math.abs(variance - 1 / 3)).toBeLessThan(rho === 0 ? 0.02 : 0.06);
      expect(Math.abs(lagOneCorrelation(noiseSeries(rho, 1, 2000)[0]) - rho)).toBeLessThan(0.1);
    }
  });

  it("acts greedily with tanh of the mean, scaled to the Box", () => {
    const inference = new ModuleInference(spec(0), 1);
    inference.setWeights(new Float32Array(weightsSize(spec(0))));
    const out = { actions: new Float32Array(1), logp: new Float32Array(1), values: new Float32Array(1) };
    inference.act(new Float32Array(2), 1, { greedy: true }, out);
    // Mean 0: tanh(0) = 0 is the Box's centre, 2.
    expect(out.actions[0]).toBeCloseTo(2, 6);
  });
});
