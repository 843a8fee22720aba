import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { sacConfigSchema } from "../../src/algos/sac/config.js";
import { SACLearner } from "../../src/algos/sac/learner.js";
import {
  actorLoss,
  actorLossWithGradients,
  alphaLoss,
  alphaLossGradient,
  criticLoss,
  criticLossWithGradients,
  criticTargets,
  type SACMinibatch,
  squashedSample,
  squashedSampleValues,
} from "../../src/algos/sac/loss.js";
import { allocateTransitions, type ReplaySample } from "../../src/buffers/replay.js";
import { Box } from "../../src/envs/spaces.js";
import { selectBackend } from "../../src/learner/backend.js";
import { initialWeights, type ModuleSpec, moduleSpecFor, qFunctionSpec } from "../../src/models/catalog.js";
import { SquashedGaussianActor, StateActionCritics } from "../../src/models/rl_module.js";
import { squashedLogStd } from "../../src/models/squashed_gaussian.js";
import { createRng, normal } from "../../src/utils/rng.js";

const batch = 40;
const model = { hiddens: [16, 8], activation: "relu" as const, vf_share_layers: false, initial_log_std: 0 };
const actorSpec: ModuleSpec = moduleSpecFor(new Box(-10, 10, [3]), new Box([-2, 0], [2, 1]), {
  type: "squashed_gaussian_actor",
  model,
  noiseCorrelation: 0,
});
const scale = new Float32Array([2, 0.5]);

function randomArray(n: number, seed: number, spread = 1): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => spread * normal(rng));
}

/** Weights scaled up from the initial ones, so outputs (and log-stds) spread over their range. */
function scaledWeights(spec: ModuleSpec, seed: number, factor: number): Float32Array {
  return initialWeights(spec, seed).map((w) => w * factor);
}

function randomMinibatch(): SACMinibatch {
  const actions = randomArray(batch * 2, 3).map((x) => Math.tanh(x));
  return {
    obs: tf.tensor2d(randomArray(batch * 3, 1), [batch, 3]),
    nextObs: tf.tensor2d(randomArray(batch * 3, 2), [batch, 3]),
    actions: tf.tensor2d(actions, [batch, 2]),
    rewards: randomArray(batch, 4),
    discounts: Float32Array.from({ length: batch }, (_, i) => (i % 5 === 0 ? 0 : 0.99)),
    // Prioritized replay's importance weights.
    weights: Float32Array.from({ length: batch }, (_, i) => 0.2 + (i % 7) / 7),
    count: batch,
  };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number) {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThan(tolerance);
}

const values = (t: tf.Tensor) => t.dataSync() as Float32Array;

/** The gradient of `loss` w.r.t. `variables` by autodiff, flat in their order. */
function autodiffGradient(loss: () => tf.Scalar, variables: tf.Variable[]): Float32Array {
  const { grads } = tf.variableGrads(loss, variables);
  const flat = tf.concat(variables.map((v) => tf.reshape(grads[v.name], [-1]))).dataSync() as Float32Array;
  tf.dispose(Object.values(grads));
  return flat;
}

describe("the squashed Gaussian", () => {
  it("has the log-density of tanh(N(mean, std)) scaled to the Box: a numeric change of variables, integrating to 1", () => {
    const low = -2;
    const high = 2;
    const mean = 0.4;
    const raw = -0.3;
    const std = Math.exp(squashedLogStd(raw));
    const points = 20_000;
    let integral = 0;
    for (let p = 0; p < points; p++) {
      const a = low + ((p + 0.5) / points) * (high - low);
      const x = Math.atanh((a - (low + high) / 2) / ((high - low) / 2));
      const noise = (x - mean) / std;
      const { logp } = squashedSampleValues(
        Float32Array.of(mean),
        Float32Array.of(raw),
        Float32Array.of(noise),
        Float32Array.of((high - low) / 2),
      );
      // The reference: log N(x) - log |da/dx| with the derivative taken numerically.
      const squash = (t: number) => (low + high) / 2 + ((high - low) / 2) * Math.tanh(t);
      const h = 1e-5;
      const slope = (squash(x + h) - squash(x - h)) / (2 * h);
      const reference = -0.5 * noise * noise - Math.log(std) - 0.5 * Math.log(2 * Math.PI) - Math.log(slope);
      // Away from the bounds, where CleanRL's 1e-6 inside the log is negligible.
      if (p % 97 === 0 && Math.abs(a) < 1.99) expect(logp[0]).toBeCloseTo(reference, 3);
      integral += Math.exp(logp[0]) * ((high - low) / points);
    }
    expect(integral).toBeCloseTo(1, 2);
  });

  it("the tensor form (autodiff) and the plain loops agree on actions and log-probabilities", () => {
    const mean = tf.tensor2d(randomArray(batch * 2, 5), [batch, 2]);
    const raw = tf.tensor2d(randomArray(batch * 2, 6, 2), [batch, 2]);
    const noise = randomArray(batch * 2, 7);
    const tensors = squashedSample(mean, raw, tf.tensor2d(noise, [batch, 2]), scale);
    const plain = squashedSampleValues(values(mean), values(raw), noise, scale);
    expectClose(plain.actions, tensors.actions.dataSync(), 1e-6);
    expectClose(plain.logp, tensors.logp.dataSync(), 1e-4);
    for (const a of plain.actions) expect(Math.abs(a)).toBeLessThanOrEqual(1);
  });
});

describe.each([
  ["twin critics", 2],
  ["one critic", 1],
])("SAC's hand-derived gradients equal autodiff through the readable losses (%s)", (_name, numCritics) => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  for (const backend of ["cpu", "wasm"] as const) {
    it(`critic loss: loss, TD errors and every weight's gradient (${backend})`, async () => {
      await selectBackend(backend);
      tf.tidy(() => {
        const criticSpec = qFunctionSpec(actorSpec, model, numCritics);
        const critics = new StateActionCritics(criticSpec, scaledWeights(criticSpec, 0, 2));
        const minibatch = randomMinibatch();
        const targets = randomArray(batch, 8, 2);
        const fast = criticLossWithGradients(critics, minibatch, targets);
        const reference = criticLoss(critics, minibatch, tf.tensor1d(targets));
        const gradient = autodiffGradient(
          () => criticLoss(critics, minibatch, tf.tensor1d(targets)).loss,
          critics.variables,
        );
        expect(fast.metrics.qf_loss).toBeCloseTo(reference.loss.dataSync()[0], 4);
        const td = reference.tdErrors.dataSync();
        const meanAbs = Array.from({ length: batch }, (_, i) => {
          let sum = 0;
          for (let c = 0; c < numCritics; c++) sum += Math.abs(td[i * numCritics + c]);
          return sum / numCritics;
        });
        expectClose(fast.tdErrors, meanAbs, 1e-5);
        expectClose(fast.gradient.dataSync(), gradient, 1e-4);
        critics.dispose();
      });
    });

    it(`actor loss: loss, log-probabilities and every weight's gradient (${backend})`, async () => {
      await selectBackend(backend);
      tf.tidy(() => {
        const criticSpec = qFunctionSpec(actorSpec, model, numCritics);
        const critics = new StateActionCritics(criticSpec, scaledWeights(criticSpec, 1, 2));
        // Large weights spread the log-stds over their range and push some actions near +-1 (not so near
        // that float32's tanh rounds to 1, where tfjs's and Math.tanh's last bits decide log pi).
        const actor = new SquashedGaussianActor(actorSpec, scaledWeights(actorSpec, 2, 15));
        const minibatch = randomMinibatch();
        const noise = randomArray(batch * 2, 9);
        const alpha = 0.37;
        const fast = actorLossWithGradients(actor, critics, minibatch, alpha, noise, scale);
        const { mean, rawLogStd } = actor.forward(minibatch.obs);
        const actions = squashedSampleValues(values(mean), values(rawLogStd), noise, scale).actions;
        expect(Math.max(...actions.map(Math.abs))).toBeGreaterThan(0.99);
        const logStds = Array.from(rawLogStd.dataSync(), squashedLogStd);
        expect(Math.min(...logStds)).toBeLessThan(-3);
        expect(Math.max(...logStds)).toBeGreaterThan(0);
        const noiseTensor = tf.tensor2d(noise, [batch, 2]);
        const reference = actorLoss(actor, critics, minibatch, alpha, noiseTensor, scale);
        const gradient = autodiffGradient(
          () => actorLoss(actor, critics, minibatch, alpha, noiseTensor, scale).loss,
          actor.variables,
        );
        expect(fast.metrics.policy_loss).toBeCloseTo(reference.loss.dataSync()[0], 3);
        expectClose(fast.logp, reference.logp.dataSync(), 2e-3);
        const scaleOfGradient = Math.max(...gradient.map(Math.abs));
        expectClose(fast.gradient.dataSync(), gradient, 1e-3 * Math.max(1, scaleOfGradient));
        actor.dispose();
        critics.dispose();
      });
    });
  }

  it("alpha loss: the gradient by hand equals autodiff on log alpha", () => {
    tf.tidy(() => {
      const logp = tf.tensor1d(randomArray(batch, 10));
      const logAlpha = tf.variable(tf.scalar(Math.log(0.2)));
      const gradient = autodiffGradient(() => alphaLoss(logAlpha, logp, -2), [logAlpha]);
      const logpMean = tf.mean(logp).dataSync()[0];
      expect(alphaLossGradient(0.2, logpMean, -2)).toBeCloseTo(gradient[0], 5);
      logAlpha.dispose();
    });
  });
});

describe("SACLearner", () => {
  const config = sacConfigSchema.parse({ q_model: { hiddens: [16, 8] }, actor_lr: 1e-3, critic_lr: 1e-3 });

  function replaySample(): ReplaySample {
    const transitions = allocateTransitions(batch, 3, 2);
    transitions.count = batch;
    transitions.obs.set(randomArray(batch * 3, 11));
    transitions.nextObs.set(randomArray(batch * 3, 12));
    // Box actions: dimension 0 in [-2, 2], dimension 1 in [0, 1].
    const rng = createRng(13);
    for (let i = 0; i < batch; i++) {
      transitions.actions[2 * i] = 4 * rng() - 2;
      transitions.actions[2 * i + 1] = rng();
      transitions.rewards[i] = normal(rng);
      transitions.discounts[i] = 0.99;
    }
    return { ...transitions, indices: new Int32Array(batch), weights: new Float32Array(batch).fill(1) };
  }

  it("moves the target critics by tau toward the critics, and only when asked", () => {
    const learner = new SACLearner({ module: actorSpec, config, seed: 0 });
    learner.update({ sample: replaySample(), targetTau: null });
    const before = learner.getState();
    const critics = before.criticWeights as Float32Array;
    const target = before.targetCriticWeights as Float32Array;
    // One gradient step moved the critics but not the targets.
    expect(Array.from(target)).toEqual(
      Array.from(initialWeights(qFunctionSpec(actorSpec, config.q_model, 2), 0)),
    );
    expect(Array.from(critics)).not.toEqual(Array.from(target));
    learner.update({ sample: null, targetTau: 0.3 });
    const after = learner.getState().targetCriticWeights as Float32Array;
    expectClose(
      after,
      critics.map((c, i) => 0.3 * c + 0.7 * target[i]),
      1e-6,
    );
    learner.dispose();
  });

  it("tunes alpha toward the target entropy: down while the policy's entropy is above it", () => {
    const learner = new SACLearner({ module: actorSpec, config: { ...config, alpha_lr: 0.01 }, seed: 0 });
    const first = learner.update({ sample: replaySample(), targetTau: 0.005 });
    // A fresh policy is wide: -log pi is above the target entropy -2, so alpha must fall.
    expect(-first.metrics.logp_mean!).toBeGreaterThan(-2);
    expect(first.metrics.alpha_value).toBeCloseTo(1, 6);
    for (let k = 0; k < 5; k++) learner.update({ sample: replaySample(), targetTau: 0.005 });
    expect(learner.alpha).toBeLessThan(1);
    const fixed = new SACLearner({
      module: actorSpec,
      config: { ...config, autotune_alpha: false },
      seed: 0,
    });
    for (let k = 0; k < 5; k++) fixed.update({ sample: replaySample(), targetTau: 0.005 });
    expect(fixed.alpha).toBeCloseTo(1, 6);
    learner.dispose();
    fixed.dispose();
  });

  it("leaves no tensors behind per update, and restores its whole state exactly", () => {
    const learner = new SACLearner({ module: actorSpec, config, seed: 0 });
    learner.update({ sample: replaySample(), targetTau: 0.005 });
    const tensors = tf.memory().numTensors;
    for (let k = 0; k < 3; k++) learner.update({ sample: replaySample(), targetTau: 0.005 });
    expect(tf.memory().numTensors).toBe(tensors);
    const state = learner.getState();
    const copy = new SACLearner({ module: actorSpec, config, seed: 5 });
    copy.setState(state);
    const a = learner.update({ sample: replaySample(), targetTau: 0.005 });
    const b = copy.update({ sample: replaySample(), targetTau: 0.005 });
    expect(b.metrics).toEqual(a.metrics);
    expect(Array.from(copy.getWeights())).toEqual(Array.from(learner.getWeights()));
    learner.dispose();
    copy.dispose();
  });
});

describe("criticTargets", () => {
  it("is R + discount (min_k Qtarget_k(s', a') - alpha log pi(a'|s'))", () => {
    tf.tidy(() => {
      const criticSpec = qFunctionSpec(actorSpec, model, 2);
      const target = new StateActionCritics(criticSpec, scaledWeights(criticSpec, 3, 2), false);
      const actor = new SquashedGaussianActor(actorSpec, scaledWeights(actorSpec, 4, 5));
      const minibatch = randomMinibatch();
      const noise = randomArray(batch * 2, 14);
      const y = criticTargets(
        actor,
        target,
        minibatch,
        0.5,
        tf.tensor2d(noise, [batch, 2]),
        scale,
      ).dataSync();
      const { mean, rawLogStd } = actor.forward(minibatch.nextObs);
      const next = squashedSampleValues(values(mean), values(rawLogStd), noise, scale);
      const q = target.predict(minibatch.nextObs, tf.tensor2d(next.actions, [batch, 2])).dataSync();
      for (let i = 0; i < batch; i++) {
        const soft = Math.min(q[2 * i], q[2 * i + 1]) - 0.5 * next.logp[i];
        expect(y[i]).toBeCloseTo(minibatch.rewards[i] + minibatch.discounts[i] * soft, 3);
      }
      actor.dispose();
      target.dispose();
    });
  });
});
