import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { packState, unpackState } from "../../src/algos/checkpoint.js";
import { type DQNRunConfig, dqnRunConfigSchema } from "../../src/algos/dqn/config.js";
import { apexEpsilons, DQN } from "../../src/algos/dqn/dqn.js";
import { huber, tdLoss, tdLossWithGradients, tdTargets } from "../../src/algos/dqn/loss.js";
import { parseRunConfig } from "../../src/algos/index.js";
import { allocateTransitions, type ReplaySample } from "../../src/buffers/replay.js";
import { modelConfigSchema } from "../../src/config/schema.js";
import { Box, Discrete } from "../../src/envs/spaces.js";
import { selectBackend } from "../../src/learner/backend.js";
import { initialWeights, type ModuleSpec, moduleSpecFor } from "../../src/models/catalog.js";
import type { ConvFilter } from "../../src/models/conv.js";
import { policyLayersModel } from "../../src/models/export.js";
import { ModuleInference } from "../../src/models/inference.js";
import { QNetwork } from "../../src/models/rl_module.js";
import { createRng, normal } from "../../src/utils/rng.js";
import { scheduleValue } from "../../src/utils/schedule.js";

beforeAll(async () => {
  await selectBackend("wasm");
});

/** The Q module the catalog builds for these sizes (what the old QNetworkSpec described). */
interface QSpec {
  obsDim: number;
  numActions: number;
  encoderHiddens: number[];
  headHiddens: number[];
  activation: "tanh" | "relu";
  dueling: boolean;
  /** Image observations `[h, w, c]` (h w c = obsDim) through a CNN of these layers. */
  image?: { shape: number[]; convFilters: ConvFilter[] };
}

function qModuleSpec(q: QSpec): ModuleSpec {
  return moduleSpecFor(new Box(-10, 10, q.image?.shape ?? [q.obsDim]), new Discrete(q.numActions), {
    type: "q",
    model: {
      hiddens: q.encoderHiddens,
      activation: q.activation,
      vf_share_layers: false,
      initial_log_std: 0,
      conv_filters: q.image?.convFilters ?? null,
    },
    headHiddens: q.headHiddens,
    dueling: q.dueling,
  });
}

/** Q values of a ModuleInference (the runners' float32 wasm kernel) for `batch` observations. */
function kernelQ(
  spec: ModuleSpec,
  weights: Float32Array,
  obs: Float32Array,
  batch: number,
  numActions: number,
) {
  const inference = new ModuleInference(spec, 0);
  inference.setWeights(weights);
  const q = new Float32Array(batch * numActions);
  inference.qValues(obs, batch, q);
  return q;
}

/** Random weights (not the initial ones: their zero biases would hide bias bugs). */
function randomWeights(spec: ModuleSpec, seed: number): Float32Array {
  const weights = initialWeights(spec, seed);
  const rng = createRng(seed);
  return weights.map((w) => w + 0.3 * normal(rng));
}

function randomObs(batch: number, obsDim: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: batch * obsDim }, () => 2 * normal(rng));
}

const Q_SPECS: [string, QSpec][] = [
  [
    "plain head",
    { obsDim: 3, numActions: 4, encoderHiddens: [8, 6], headHiddens: [], activation: "relu", dueling: false },
  ],
  [
    "plain head with hiddens",
    { obsDim: 3, numActions: 2, encoderHiddens: [5], headHiddens: [7], activation: "tanh", dueling: false },
  ],
  [
    "dueling, streams on the encoder",
    { obsDim: 4, numActions: 3, encoderHiddens: [8], headHiddens: [], activation: "relu", dueling: true },
  ],
  [
    "dueling with stream hiddens",
    { obsDim: 2, numActions: 5, encoderHiddens: [6, 6], headHiddens: [4], activation: "tanh", dueling: true },
  ],
  [
    "no encoder: the streams read the observation",
    { obsDim: 3, numActions: 3, encoderHiddens: [], headHiddens: [5], activation: "relu", dueling: true },
  ],
  [
    "CNN (stride 2, same padding; then stride 1) before a dueling head",
    {
      obsDim: 7 * 6 * 2,
      numActions: 3,
      encoderHiddens: [8],
      headHiddens: [],
      activation: "relu",
      dueling: true,
      image: {
        shape: [7, 6, 2],
        convFilters: [
          [4, [3, 3], 2, "same"],
          [3, [2, 2], 1],
        ],
      },
    },
  ],
];
const SPECS: [string, ModuleSpec, QSpec][] = Q_SPECS.map(([name, q]) => [name, qModuleSpec(q), q]);

describe("Q network: tfjs, plain TypeScript and the layers export agree", () => {
  for (const [name, spec, q] of SPECS) {
    it(name, () => {
      const weights = randomWeights(spec, 1);
      const batch = 7;
      const obs = randomObs(batch, spec.obsDim, 2);
      const network = new QNetwork(spec, weights);
      expect(network.numActions).toBe(q.numActions);
      const fromTf = tf.tidy(() => network.forward(tf.tensor2d(obs, [batch, spec.obsDim])).dataSync());
      const fromBackwardPass = tf.tidy(() =>
        network.forwardWithBackward(tf.tensor2d(obs, [batch, spec.obsDim])).q.dataSync(),
      );
      const fromTs = kernelQ(spec, weights, obs, batch, q.numActions);
      const model = policyLayersModel(spec, weights);
      const fromLayers = tf.tidy(() =>
        (model.predict(tf.tensor2d(obs, [batch, spec.obsDim])) as tf.Tensor).dataSync(),
      );
      expect(fromTf.length).toBe(batch * q.numActions);
      expect(fromLayers.length).toBe(fromTf.length);
      for (let k = 0; k < fromTf.length; k++) {
        expect(fromTs[k]).toBeCloseTo(fromTf[k], 4);
        expect(fromLayers[k]).toBeCloseTo(fromTf[k], 4);
        expect(fromBackwardPass[k]).toBeCloseTo(fromTf[k], 5);
      }
      if (q.dueling) {
        // The dueling combination: the mean over actions of Q - V is 0, so Q varies by action at all.
        expect(new Set(Array.from(fromTf.subarray(0, q.numActions))).size).toBe(q.numActions);
      }
      expect(network.getFlatWeights()).toEqual(weights);
      network.dispose();
      model.dispose();
    });
  }

  it("moves the target by tau (Polyak) or copies it (tau 1)", () => {
    const spec = SPECS[2][1];
    const online = new QNetwork(spec, randomWeights(spec, 3));
    const targetWeights = randomWeights(spec, 4);
    const target = new QNetwork(spec, targetWeights, false);
    target.updateFrom(online, 0.25);
    const expected = online
      .getFlatWeights()
      .map((w: number, i: number) => 0.25 * w + 0.75 * targetWeights[i]);
    target.getFlatWeights().forEach((w: number, i: number) => {
      expect(w).toBeCloseTo(expected[i], 5);
    });
    target.updateFrom(online, 1);
    expect(target.getFlatWeights()).toEqual(online.getFlatWeights());
    online.dispose();
    target.dispose();
  });

  it("rejects weights of the wrong size", () => {
    expect(() => new ModuleInference(SPECS[0][1], 0).setWeights(new Float32Array(3))).toThrow(
      /expected \d+ float32s.*got 3/,
    );
    expect(() => new QNetwork(SPECS[0][1], new Float32Array(3))).toThrow(/expected \d+ float32s.*got 3/);
  });
});

describe("TD loss", () => {
  it("Huber: 0.5 x^2 inside [-1, 1], |x| - 0.5 outside", () => {
    const values = tf.tidy(() => huber(tf.tensor1d([-2, -0.5, 0, 0.5, 3])).dataSync());
    expect(Array.from(values)).toEqual([1.5, 0.125, 0, 0.125, 2.5]);
  });

  it("targets: r + discount * Q_target(s', a') with a' from the online net (double) or the target net", () => {
    const [, spec, q] = SPECS[3];
    const online = new QNetwork(spec, randomWeights(spec, 5));
    const target = new QNetwork(spec, randomWeights(spec, 6), false);
    const batch = 16;
    const sample: ReplaySample = {
      ...allocateTransitions(batch, spec.obsDim, spec.actionDim),
      indices: new Int32Array(batch),
      weights: new Float32Array(batch).fill(1),
    };
    sample.count = batch;
    sample.nextObs.set(randomObs(batch, spec.obsDim, 7));
    for (let i = 0; i < batch; i++) {
      sample.rewards[i] = i - 3;
      sample.discounts[i] = i % 4 === 0 ? 0 : 0.99 ** (1 + (i % 3));
    }
    // Independent reference: Q values from the plain-TypeScript forward pass.
    const qOf = (weights: Float32Array) => {
      const values = kernelQ(spec, weights, sample.nextObs as Float32Array, batch, q.numActions);
      return (i: number) => Array.from(values.subarray(i * q.numActions, (i + 1) * q.numActions));
    };
    const onlineQ = qOf(online.getFlatWeights());
    const targetQ = qOf(target.getFlatWeights());
    const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));
    for (const doubleQ of [true, false]) {
      const values = tdTargets(online, target, sample, doubleQ);
      for (let i = 0; i < batch; i++) {
        const next = argmax(doubleQ ? onlineQ(i) : targetQ(i));
        expect(values[i]).toBeCloseTo(sample.rewards[i] + sample.discounts[i] * targetQ(i)[next], 4);
      }
    }
    online.dispose();
    target.dispose();
  });
});

describe("TD loss gradients by hand (the training path) match autodiff through tdLoss", () => {
  for (const [name, spec, q] of SPECS) {
    for (const lossFn of ["huber", "mse"] as const) {
      it(`${name}, ${lossFn}`, async () => {
        // tfjs differentiates a convolution on the cpu backend only (wasm has no Conv2DBackpropFilter).
        if (spec.encoder) await selectBackend("cpu");
        const online = new QNetwork(spec, randomWeights(spec, 8));
        const batch = 24;
        const rng = createRng(9);
        const sample: ReplaySample = {
          ...allocateTransitions(batch, spec.obsDim, spec.actionDim),
          indices: new Int32Array(batch),
          weights: Float32Array.from({ length: batch }, () => 0.2 + rng()),
        };
        sample.count = batch;
        sample.obs.set(randomObs(batch, spec.obsDim, 10));
        for (let i = 0; i < batch; i++) sample.actions[i] = i % q.numActions;
        // Targets spread wide, so some TD errors fall outside Huber's quadratic zone on both sides.
        const targets = Float32Array.from({ length: batch }, () => 3 * normal(rng));
        const options = { doubleQ: true, lossFn };
        let hand: ReturnType<typeof tdLossWithGradients> | undefined;
        let handGradient: Float32Array = new Float32Array(0);
        tf.tidy(() => {
          hand = tdLossWithGradients(online, sample, targets, options);
          handGradient = hand.gradient.dataSync() as Float32Array;
        });
        const targetsTensor = tf.tensor1d(targets);
        let tdErrors: Float32Array = new Float32Array(0);
        const { value, grads } = tf.variableGrads(() => {
          const result = tdLoss(online, sample, targetsTensor, options);
          tdErrors = result.tdErrors.dataSync() as Float32Array;
          return result.loss;
        }, online.variables);
        const reference = tf.tidy(() =>
          tf
            .concat(online.variables.map((v: tf.Variable) => tf.reshape(grads[v.name], [-1]) as tf.Tensor1D))
            .dataSync(),
        );
        // The metrics tdLoss's autodiff TD errors imply: Q(s, a) = td + target, |td|.
        const qfMean = tdErrors.reduce((sum, td, i) => sum + td + targets[i], 0) / batch;
        const tdErrorMean = tdErrors.reduce((sum, td) => sum + Math.abs(td), 0) / batch;
        expect(hand!.metrics.qf_loss).toBeCloseTo(value.dataSync()[0], 5);
        expect(hand!.metrics.qf_mean).toBeCloseTo(qfMean, 4);
        expect(hand!.metrics.td_error_mean).toBeCloseTo(tdErrorMean, 5);
        expect(Array.from(hand!.tdErrors)).toEqual(Array.from(tdErrors));
        expect(handGradient.length).toBe(reference.length);
        for (let i = 0; i < reference.length; i++) expect(handGradient[i]).toBeCloseTo(reference[i], 5);
        tf.dispose([value, targetsTensor]);
        tf.dispose(Object.values(grads));
        online.dispose();
        await selectBackend("wasm");
      });
    }
  }
});

describe("exploration", () => {
  it("epsilon follows the [[t0, e0], [t1, e1]] schedule and holds after it", () => {
    const schedule: [number, number][] = [
      [0, 1.0],
      [10_000, 0.05],
    ];
    expect([0, 5_000, 10_000, 50_000].map((t) => scheduleValue(schedule, t))).toEqual([1, 0.525, 0.05, 0.05]);
  });

  it("Ape-X epsilons run from 0.4 down to 0.4^8", () => {
    const epsilons = apexEpsilons(8);
    expect(epsilons[0]).toBeCloseTo(0.4, 12);
    expect(epsilons[7]).toBeCloseTo(0.4 ** 8, 12);
    expect(epsilons[1]).toBeCloseTo(0.4 ** 2, 12);
    expect(Array.from(apexEpsilons(1))).toEqual([0.4]);
  });
});

function runConfig(
  dqn: Record<string, unknown>,
  envRunners: Record<string, unknown> = {},
  envId = "CartPole-v1",
): DQNRunConfig {
  return dqnRunConfigSchema.parse({
    algo: "DQN",
    env: { id: envId },
    env_runners: { num_envs_per_env_runner: 1, rollout_fragment_length: 10, ...envRunners },
    model: { hiddens: [16], activation: "relu" },
    learner: { backend: "wasm" },
    dqn,
  });
}

describe("DQN training loop", () => {
  it("moves the target network every target_network_update_freq sampled steps once learning started", async () => {
    // Fragments of 10 steps, iterations of 60, learning from step 100, target every 120 steps.
    const algo = await DQN.create(
      runConfig({
        min_sample_timesteps_per_iteration: 60,
        num_steps_sampled_before_learning_starts: 100,
        target_network_update_freq: 120,
        train_batch_size: 8,
        hiddens: [],
      }),
    );
    const seen: [number, number, number, boolean][] = [];
    for (let i = 0; i < 5; i++) {
      const metrics = await algo.train();
      const { learner } = (await algo.getState()) as {
        learner: { weights: Float32Array; targetWeights: Float32Array };
      };
      const same = learner.weights.every((w, k) => w === learner.targetWeights[k]);
      seen.push([
        metrics.num_env_steps_sampled_lifetime,
        metrics["learners/last_target_update_ts"],
        metrics["learners/num_target_updates_lifetime"],
        same,
      ]);
    }
    await algo.stop();
    expect(seen).toEqual([
      [60, 0, 0, true], // nothing learned yet: both are the initial weights
      [120, 120, 1, true], // first learning fragments at 100, 110 (no update: 110 < 120), copy at 120
      [180, 120, 1, false], // learned at 130..180 without an update
      [240, 240, 2, true],
      [300, 240, 2, false],
    ]);
  });

  it("anneals epsilon with sampled steps and counts trained transitions by the replay ratio", async () => {
    const algo = await DQN.create(
      runConfig({
        min_sample_timesteps_per_iteration: 100,
        num_steps_sampled_before_learning_starts: 100,
        epsilon: [
          [0, 1],
          [400, 0.2],
        ],
        train_batch_size: 16,
        training_intensity: 4, // 4 x 10 steps / 16 = 2.5 gradient steps per fragment
        replay_buffer_config: { type: "uniform", capacity: 150 },
        hiddens: [],
      }),
    );
    const rows: number[][] = [];
    for (let i = 0; i < 3; i++) {
      const m = await algo.train();
      rows.push([
        m.num_env_steps_sampled_lifetime,
        m["env_runners/epsilon"],
        m.num_env_steps_trained_lifetime,
        m["replay/size"],
      ]);
    }
    await algo.stop();
    expect(rows[0]).toEqual([100, expect.closeTo(0.8, 9), 2 * 16, 100]); // learning starts after the 10th fragment
    expect(rows[1]).toEqual([200, expect.closeTo(0.6, 9), (2 + 25) * 16, 150]);
    expect(rows[2]).toEqual([300, expect.closeTo(0.4, 9), (2 + 50) * 16, 150]);
  });

  it("says clearly when the env's actions are not Discrete", async () => {
    await expect(DQN.create(runConfig({}, {}, "Pendulum-v1"))).rejects.toThrow(
      /\(DQN\) needs a Discrete action space/,
    );
  });
});

describe("DQN checkpoints", () => {
  it("restores weights, optimizer, counters and the stored replay buffer through the checkpoint packing", async () => {
    const config = runConfig({
      min_sample_timesteps_per_iteration: 200,
      num_steps_sampled_before_learning_starts: 100,
      train_batch_size: 8,
      store_buffer_in_checkpoints: true,
    });
    const algo = await DQN.create(config);
    await algo.train();
    const { json, blob } = packState(await algo.getState());
    const restored = await DQN.create(config);
    await restored.setState(unpackState(JSON.parse(JSON.stringify(json)), blob) as Record<string, unknown>);
    expect(await restored.getState()).toEqual(await algo.getState());
    // The exported layers model answers like the restored network.
    const obs = tf.tensor2d([[0.01, -0.02, 0.03, 0.04]]);
    const q = (a: DQN) => {
      const model = a.policyModel();
      const values = tf.tidy(() => Array.from((model.predict(obs) as tf.Tensor).dataSync()));
      model.dispose();
      return values;
    };
    expect(q(restored)).toEqual(q(algo));
    const metrics = await restored.train();
    expect(metrics.num_env_steps_sampled_lifetime).toBe(400);
    expect(metrics["replay/size"]).toBe(400);
    obs.dispose();
    await algo.stop();
    await restored.stop();
  });
});

describe("DQN learns CartPole", () => {
  it("the greedy policy reaches a return of 200 within 12k env steps (seed 0)", async () => {
    // A fast config: small net, replay ratio 32, 3-step returns; a random policy scores ~22 and an untrained
    // greedy one ~10, so 200 needs working targets, loss, replay and exploration together.
    const algo = await DQN.create({
      ...runConfig(
        {
          lr: 1e-3,
          train_batch_size: 64,
          hiddens: [64],
          n_step: 3,
          epsilon: [
            [0, 1],
            [8000, 0.02],
          ],
          training_intensity: 32,
          replay_buffer_config: { type: "uniform" },
          min_sample_timesteps_per_iteration: 2000,
        },
        { rollout_fragment_length: 4 },
      ),
      model: modelConfigSchema.parse({ hiddens: [64, 64], activation: "relu" }),
    });
    const evaluations: number[] = [];
    try {
      while (evaluations.length < 6 && !(evaluations.at(-1)! >= 200)) {
        await algo.train();
        evaluations.push((await algo.evaluate(10))["evaluation/env_runners/episode_return_mean"]);
      }
    } finally {
      await algo.stop();
    }
    expect(
      Math.max(...evaluations),
      `greedy returns every 2k steps: ${evaluations.join(", ")}`,
    ).toBeGreaterThanOrEqual(200);
  });
});

describe("shipped DQN configs", () => {
  for (const file of ["dqn-cartpole", "dqn-acrobot", "dqn-mountaincar", "dqn-rainbow-cartpole"]) {
    it(`configs/${file}.yaml is valid`, () => {
      const raw = YAML.parse(readFileSync(new URL(`../../configs/${file}.yaml`, import.meta.url), "utf8"));
      expect(parseRunConfig(raw, `${file}.yaml`).algo).toBe("DQN");
    });
  }
});
