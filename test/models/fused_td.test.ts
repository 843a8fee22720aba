import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dqnConfigSchema } from "../../src/algos/dqn/config.js";
import { DQNLearner } from "../../src/algos/dqn/learner.js";
import { tdLoss } from "../../src/algos/dqn/loss.js";
import { allocateTransitions, type ReplaySample } from "../../src/buffers/replay.js";
import { Box, Discrete } from "../../src/envs/spaces.js";
import { Adam, type OptimizerState } from "../../src/learner/adam.js";
import { selectBackend } from "../../src/learner/backend.js";
import { FusedMlpTrainer } from "../../src/learner/fused_mlp.js";
import { initialWeights, type ModuleSpec, moduleSpecFor } from "../../src/models/catalog.js";
import { QNetwork } from "../../src/models/rl_module.js";
import { createRng, normal } from "../../src/utils/rng.js";
import { expectClose, largestGap, useMutatedKernel, useShippedKernel } from "../fixtures/fused_kernel.js";

const qSpec = (hiddens: number[], headHiddens: number[], dueling: boolean, activation: "tanh" | "relu") =>
  moduleSpecFor(new Box(-10, 10, [6]), new Discrete(3), {
    type: "q",
    model: { hiddens, activation, vf_share_layers: false, initial_log_std: 0 },
    headHiddens,
    dueling,
  });
const plain = qSpec([20, 12], [], false, "tanh");
const dueling = qSpec([16], [10], true, "relu");
const batch = 37;
const lr = 1e-3;
const adamOptions = { adamEpsilon: 1e-8, gradClip: 10 };

function randomSample(spec: ModuleSpec, seed: number): { sample: ReplaySample; targets: Float32Array } {
  const rng = createRng(seed);
  const sample: ReplaySample = {
    ...allocateTransitions(batch, spec.obsDim, spec.actionDim),
    indices: new Int32Array(batch),
    weights: Float32Array.from({ length: batch }, () => 0.2 + rng()),
  };
  sample.count = batch;
  for (let i = 0; i < batch * spec.obsDim; i++) {
    sample.obs[i] = normal(rng);
    sample.nextObs[i] = normal(rng);
  }
  for (let i = 0; i < batch; i++) {
    sample.actions[i] = (i * 5) % 3;
    sample.rewards[i] = normal(rng);
    sample.discounts[i] = i % 5 === 0 ? 0 : 0.99;
  }
  // Spread wide: some TD errors beyond Huber's quadratic zone on both sides, some within.
  return { sample, targets: Float32Array.from({ length: batch }, () => 2 * normal(rng)) };
}

/** One fused TD step and the reference (autodiff through tdLoss, then the host Adam), from the same weights. */
function fusedAndReference(spec: ModuleSpec, lossFn: "huber" | "mse") {
  const weights = initialWeights(spec, 4).map((w, i) => w + 0.2 * Math.sin(i));
  const { sample, targets } = randomSample(spec, 5);
  const online = new QNetwork(spec, weights);
  const adam = new Adam(online, adamOptions);
  let loss = 0;
  let tdErrors: Float32Array = new Float32Array(0);
  let gradient: Float32Array = new Float32Array(0);
  let gradNorm = 0;
  tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const result = tdLoss(online, sample, tf.tensor1d(targets), { doubleQ: true, lossFn });
      tdErrors = result.tdErrors.dataSync() as Float32Array;
      return result.loss;
    }, online.variables);
    loss = value.dataSync()[0];
    const flat = tf.concat(online.variables.map((v) => tf.reshape(grads[v.name], [-1]) as tf.Tensor1D));
    gradient = flat.dataSync() as Float32Array;
    gradNorm = adam.step(flat, lr);
  });
  const reference = { loss, tdErrors, gradient, gradNorm, weights: adam.getFlatWeights() };
  adam.dispose();
  const trainer = new FusedMlpTrainer(spec, adamOptions, 8); // grows to the batch
  trainer.setWeights(weights);
  const fused = trainer.tdStep(sample, targets, batch, lossFn, lr);
  return { reference, fused, gradient: trainer.getGradient(), weights: trainer.getWeights(), targets };
}

describe("fused TD step (WebAssembly) against autodiff through tdLoss", () => {
  beforeAll(async () => {
    await selectBackend("cpu");
  });

  it.each([
    ["plain head, tanh, Huber", plain, "huber"],
    ["plain head, tanh, squared error", plain, "mse"],
    ["dueling head, relu, Huber", dueling, "huber"],
    ["dueling head, relu, squared error", dueling, "mse"],
  ] as const)("%s: loss, TD errors, metrics, gradient and the Adam step", (_, spec, lossFn) => {
    const { reference, fused, gradient, weights, targets } = fusedAndReference(spec, lossFn);
    const outside = Array.from(reference.tdErrors).filter((td) => Math.abs(td) > 1).length;
    expect(outside).toBeGreaterThan(3); // Huber's linear part is exercised
    expect(outside).toBeLessThan(batch - 3); // and its quadratic part
    expect(Math.abs(fused.metrics.qf_loss - reference.loss)).toBeLessThan(1e-5);
    expectClose(fused.tdErrors, reference.tdErrors, 1e-5, "TD errors");
    const qfMean = reference.tdErrors.reduce((sum, td, i) => sum + td + targets[i], 0) / batch;
    const tdErrorMean = reference.tdErrors.reduce((sum, td) => sum + Math.abs(td), 0) / batch;
    expect(Math.abs(fused.metrics.qf_mean - qfMean)).toBeLessThan(1e-5);
    expect(Math.abs(fused.metrics.td_error_mean - tdErrorMean)).toBeLessThan(1e-5);
    expect(Math.max(...reference.gradient.map(Math.abs))).toBeGreaterThan(1e-2);
    expectClose(gradient, reference.gradient, 1e-5, "gradient");
    expect(Math.abs(fused.gradNorm - reference.gradNorm) / reference.gradNorm).toBeLessThan(1e-5);
    expectClose(weights, reference.weights, 1e-6, "weights after Adam");
  });

  it.each([
    ["plain head", plain],
    ["dueling head", dueling],
  ])("%s: the forward pass's Q values (online and target weights) equal the tfjs module's", (_, spec) => {
    const online = initialWeights(spec, 6);
    const target = initialWeights(spec, 7);
    const { sample } = randomSample(spec, 8);
    const trainer = new FusedMlpTrainer(spec, adamOptions, 8); // grows to the batch
    trainer.setWeights(online);
    trainer.setTargetWeights(target);
    const n = 3;
    for (const [network, weights] of [
      ["online", online],
      ["target", target],
    ] as const) {
      const q = new Float32Array(batch * n);
      trainer.qValues(sample.nextObs, batch, network, q);
      const model = new QNetwork(spec, weights, false);
      const expected = tf.tidy(
        () =>
          model
            .predict(tf.tensor2d(sample.nextObs as Float32Array, [batch, spec.obsDim]))
            .dataSync() as Float32Array,
      );
      model.dispose();
      expectClose(q, expected, 1e-5, `${network} Q values`);
    }
  });

  describe("a deliberately broken kernel fails the check", () => {
    afterAll(useShippedKernel);

    it.each([
      // Huber's gradient not clipped (the squared error's)
      [
        "Huber's gradient unclipped",
        "(select (call $clamp (local.get $td) (f64.const -1) (f64.const 1)) (local.get $td) (local.get $huber))",
        "(local.get $td)",
      ],
      // dueling: mean(A) added instead of subtracted in Q
      [
        "dueling mean sign",
        "(f64.sub (local.get $qsa) (f64.div (local.get $mean)",
        "(f64.add (local.get $qsa) (f64.div (local.get $mean)",
      ],
      // the bias gradient's column sums skip the last row
      [
        "bias gradient drops a row",
        "(br_if $down (local.tee $left (i32.sub (local.get $left) (i32.const 1))))",
        "(br_if $down (i32.gt_u (local.tee $left (i32.sub (local.get $left) (i32.const 1))) (i32.const 1)))",
      ],
    ])("%s", async (_, from, to) => {
      await useMutatedKernel(from, to);
      const worst = [plain, dueling].flatMap((spec) => {
        const { reference, fused, gradient, weights } = fusedAndReference(spec, "huber");
        return [
          Math.abs(fused.metrics.qf_loss - reference.loss),
          largestGap(fused.tdErrors, reference.tdErrors),
          largestGap(gradient, reference.gradient),
          largestGap(weights, reference.weights),
        ];
      });
      expect(Math.max(...worst)).toBeGreaterThan(1e-4);
    });
  });
});

describe("DQN learner: fused step against the tfjs path", () => {
  beforeAll(async () => {
    await selectBackend("wasm");
  });
  afterAll(async () => {
    await selectBackend("cpu");
  });

  const config = (overrides: Record<string, unknown> = {}) =>
    dqnConfigSchema.parse({ train_batch_size: batch, lr: 1e-3, ...overrides });

  it.each([
    ["dueling, double Q, Huber", dueling, {}],
    [
      "plain, no double Q, squared error",
      plain,
      { double_q: false, td_error_loss_fn: "mse", dueling: false },
    ],
  ])(
    "%s: 12 steps with target updates give the same metrics, TD errors, weights and state",
    (_, spec, overrides) => {
      const fused = new DQNLearner({ module: spec, config: config(overrides), seed: 2, fused: "auto" });
      const tfjs = new DQNLearner({ module: spec, config: config(overrides), seed: 2, fused: "off" });
      expect(fused.usesFusedStep).toBe(true);
      expect(tfjs.usesFusedStep).toBe(false);
      for (let step = 0; step < 12; step++) {
        const { sample } = randomSample(spec, 20 + step);
        const update = { sample, lr: 1e-3, targetTau: step % 4 === 3 ? 1 : null };
        const a = fused.update(update);
        const b = tfjs.update(update);
        for (const name of ["qf_loss", "qf_mean", "td_error_mean", "grad_norm"] as const) {
          expect(Math.abs(a.metrics[name]! - b.metrics[name]!), `step ${step} ${name}`).toBeLessThan(
            1e-4 * Math.max(1, Math.abs(b.metrics[name]!)),
          );
        }
        expectClose(a.tdErrors, b.tdErrors, 1e-4, `step ${step} TD errors`);
        expectClose(fused.getWeights(), tfjs.getWeights(), 1e-4, `step ${step} weights`);
      }
      const [fs, ts] = [fused.getState(), tfjs.getState()];
      expect(Object.keys(fs).sort()).toEqual(Object.keys(ts).sort());
      expectClose(fs.targetWeights as Float32Array, ts.targetWeights as Float32Array, 1e-4, "target weights");
      const [fo, to] = [fs.optimizer as OptimizerState, ts.optimizer as OptimizerState];
      expect(fo.step).toBe(12);
      expect(to.step).toBe(12);
      expectClose(fo.m, to.m, 1e-5, "m");
      // A restored checkpoint trains on alike in the other path.
      const restored = new DQNLearner({ module: spec, config: config(overrides), seed: 9, fused: "auto" });
      restored.setState(ts);
      const { sample } = randomSample(spec, 99);
      const a = restored.update({ sample, lr: 1e-3, targetTau: null });
      const b = tfjs.update({ sample, lr: 1e-3, targetTau: null });
      expectClose(a.tdErrors, b.tdErrors, 1e-4, "TD errors after a restore");
      fused.dispose();
      tfjs.dispose();
      restored.dispose();
    },
  );
});
