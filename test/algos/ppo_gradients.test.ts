import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { PPO_LOSS_METRICS, ppoLossOf, ppoLossWithGradients } from "../../src/algos/ppo/loss.js";
import { Box, Dict, Discrete, MultiBinary, MultiDiscrete, Tuple } from "../../src/envs/spaces.js";
import { selectBackend } from "../../src/learner/backend.js";
import { initialWeights, type ModuleSpec, moduleSpecFor, weightsSize } from "../../src/models/catalog.js";
import { ActorCritic } from "../../src/models/rl_module.js";
import { createRng, normal } from "../../src/utils/rng.js";
import { randomObsAndActions } from "../fixtures/random_batch.js";

/**
 * The training loop's hand-derived path (`ppoLossWithGradients` + `ActorCritic.forwardWithBackward`)
 * against the reference: tfjs autodiff through `forward`, the distribution and `ppoLoss`. Same loss,
 * same metrics, same gradient of every weight, within 1e-5.
 */
const batch = 48;
const observationSpace = new Box(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, [4]);
const categorical: ModuleSpec = moduleSpecFor(observationSpace, new Discrete(3), {
  type: "actor_critic",
  model: { hiddens: [16, 8], activation: "tanh", vf_share_layers: false, initial_log_std: 0 },
});
const multiDiscrete: ModuleSpec = moduleSpecFor(observationSpace, new MultiDiscrete([3, 2, 4], [1, 0, -2]), {
  type: "actor_critic",
  model: { hiddens: [16], activation: "tanh", vf_share_layers: false, initial_log_std: 0 },
});
const multiBinary: ModuleSpec = moduleSpecFor(observationSpace, new MultiBinary(5), {
  type: "actor_critic",
  model: { hiddens: [16], activation: "relu", vf_share_layers: true, initial_log_std: 0 },
});
/** Dict and Tuple action spaces: a composite head, one part per sub-space. */
const dictDiscreteBox: ModuleSpec = moduleSpecFor(
  observationSpace,
  new Dict({ choose: new Discrete(3, 1), force: new Box(-1, 1, [2]) }),
  {
    type: "actor_critic",
    model: { hiddens: [16], activation: "tanh", vf_share_layers: false, initial_log_std: -0.3 },
  },
);
const tupleMultiDiscreteMultiBinary: ModuleSpec = moduleSpecFor(
  observationSpace,
  new Tuple([new MultiDiscrete([3, 2], [0, -1]), new MultiBinary(3)]),
  {
    type: "actor_critic",
    model: { hiddens: [16], activation: "relu", vf_share_layers: true, initial_log_std: 0 },
  },
);
/** Two Gaussian parts around a categorical: their log-stds sit side by side in the flat weights. */
const tupleBoxDiscreteBox: ModuleSpec = moduleSpecFor(
  observationSpace,
  new Tuple([new Box(-1, 1, [1]), new Discrete(2), new Box(-2, 2, [2])]),
  {
    type: "actor_critic",
    model: { hiddens: [16], activation: "tanh", vf_share_layers: true, initial_log_std: 0.2 },
  },
);
/** A CNN on [9, 8, 2] images (stride 2 with "same" padding, then stride 1) before separate towers. */
const cnnCategorical: ModuleSpec = moduleSpecFor(new Box(0, 1, [9, 8, 2]), new Discrete(3), {
  type: "actor_critic",
  model: {
    hiddens: [16],
    activation: "relu",
    vf_share_layers: false,
    initial_log_std: 0,
    conv_filters: [
      [4, [3, 3], 2, "same"],
      [3, [2, 2], 1],
    ],
  },
});
const gaussianShared: ModuleSpec = moduleSpecFor(observationSpace, new Box(-1, 1, [2]), {
  type: "actor_critic",
  model: { hiddens: [16], activation: "relu", vf_share_layers: true, initial_log_std: -0.3 },
});

function randomMinibatch(spec: ModuleSpec, model: ActorCritic) {
  const { obs, actions, random } = randomObsAndActions(spec, batch, 11);
  // Old log-probs and values around the current ones, spread wide enough that some ratios and some value
  // changes leave their clip ranges on both sides.
  const { policyOut, values } = model.forward(obs);
  const logp = model.distribution(policyOut).logProb(actions);
  return {
    obs,
    actions,
    oldLogp: tf.add(logp, tf.tensor1d(random(batch, 0.3))) as tf.Tensor1D,
    advantages: tf.tensor1d(random(batch)),
    oldValues: tf.add(values, tf.tensor1d(random(batch, 0.3))) as tf.Tensor1D,
    returns: tf.tensor1d(random(batch)),
  };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i] - expected[i]), `element ${i}`).toBeLessThan(tolerance);
  }
}

describe("ppoLossWithGradients + forwardWithBackward", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it.each([
    ["cpu", "categorical, tanh", null, categorical],
    ["cpu", "categorical, tanh", 0.2, categorical],
    ["cpu", "gaussian, relu, shared trunk", null, gaussianShared],
    ["cpu", "gaussian, relu, shared trunk", 0.2, gaussianShared],
    ["wasm", "categorical, tanh", 0.2, categorical],
    ["wasm", "gaussian, relu, shared trunk", 0.2, gaussianShared],
    ["cpu", "multi-categorical (MultiDiscrete), tanh", 0.2, multiDiscrete],
    ["wasm", "multi-categorical (MultiDiscrete), tanh", null, multiDiscrete],
    ["cpu", "bernoulli (MultiBinary), relu, shared trunk", 0.2, multiBinary],
    ["wasm", "bernoulli (MultiBinary), relu, shared trunk", null, multiBinary],
    ["cpu", "composite Dict{Discrete, Box}, tanh", 0.2, dictDiscreteBox],
    ["wasm", "composite Dict{Discrete, Box}, tanh", null, dictDiscreteBox],
    [
      "cpu",
      "composite Tuple{MultiDiscrete, MultiBinary}, relu, shared trunk",
      null,
      tupleMultiDiscreteMultiBinary,
    ],
    [
      "wasm",
      "composite Tuple{MultiDiscrete, MultiBinary}, relu, shared trunk",
      0.2,
      tupleMultiDiscreteMultiBinary,
    ],
    ["cpu", "composite Tuple{Box, Discrete, Box}, tanh, shared trunk", 0.2, tupleBoxDiscreteBox],
    // tfjs differentiates a convolution on the cpu backend only; conv.test.ts checks wasm's fast path equal to cpu's.
    ["cpu", "CNN then categorical, relu", 0.2, cnnCategorical],
  ] as const)(
    "%s, %s, vf clip %s: loss, metrics and gradients equal autodiff through ppoLoss",
    async (backend, _, vfClipParam, spec) => {
      await selectBackend(backend);
      const kinds = new Map<ModuleSpec, string>([
        [categorical, "categorical"],
        [gaussianShared, "gaussian"],
        [multiDiscrete, "multi_categorical"],
        [multiBinary, "bernoulli"],
        [cnnCategorical, "categorical"],
        [dictDiscreteBox, "composite"],
        [tupleMultiDiscreteMultiBinary, "composite"],
        [tupleBoxDiscreteBox, "composite"],
      ]);
      expect(spec.head.kind).toBe(kinds.get(spec));
      const model = new ActorCritic(spec, initialWeights(spec, 5));
      // Perturb the initial weights so the policy head is not near-uniform and every gradient is sizeable.
      const rng = createRng(7);
      model.setFlatWeights(model.getFlatWeights().map((w: number) => w + 0.3 * normal(rng)));
      tf.tidy(() => {
        const mb = randomMinibatch(spec, model);
        const coeffs = { clipParam: 0.2, vfClipParam, vfLossCoeff: 0.5, entropyCoeff: 0.05 };

        let referenceMetrics = tf.zeros([5]);
        const reference = tf.variableGrads(() => {
          const loss = ppoLossOf(model, mb, coeffs);
          const metrics = [loss.policyLoss, loss.vfLoss, loss.entropy, loss.approxKl, loss.clipFraction];
          expect(PPO_LOSS_METRICS).toHaveLength(metrics.length);
          referenceMetrics = tf.keep(tf.stack(metrics));
          return loss.total;
        }, model.variables);
        const referenceGradient = tf.concat(
          model.variables.map((v: tf.Variable) => tf.reshape(reference.grads[v.name], [-1])),
        );

        const { policyOut, values, backward } = model.forwardWithBackward(mb.obs);
        const fast = ppoLossWithGradients({
          dist: model.distribution(policyOut),
          actions: mb.actions,
          oldLogp: mb.oldLogp,
          advantages: mb.advantages,
          values,
          oldValues: mb.oldValues,
          returns: mb.returns,
          ...coeffs,
        });
        const gradient = backward(fast.dPolicyOut, fast.dValues, fast.dLogStd);

        const metrics = referenceMetrics.dataSync();
        const clipFraction = metrics[4];
        expect(clipFraction).toBeGreaterThan(0.1); // both branches of the surrogate are exercised
        expect(clipFraction).toBeLessThan(0.9);
        expectClose(fast.total.dataSync(), reference.value.dataSync());
        expectClose(fast.metrics.dataSync(), metrics);
        expect(gradient.size).toBe(weightsSize(spec));
        expect(model.size).toBe(weightsSize(spec));
        const expected = referenceGradient.dataSync();
        expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(1e-2);
        expectClose(gradient.dataSync(), expected);
      });
      model.dispose();
    },
  );
});
