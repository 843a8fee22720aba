import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ppoMinibatchUpdate } from "../../src/algos/ppo/learner.js";
import { PPO_LOSS_METRICS, ppoLossOf } from "../../src/algos/ppo/loss.js";
import { Box, Discrete, MultiBinary } from "../../src/envs/spaces.js";
import { Adam } from "../../src/learner/adam.js";
import { selectBackend } from "../../src/learner/backend.js";
import { installNativeBlas, nativeGemm } from "../../src/learner/blas.js";
import {
  FusedMlpTrainer,
  type FusedPPOCoefficients,
  type FusedPPOMinibatch,
  fusedUnsupported,
} from "../../src/learner/fused_mlp.js";
import { initialWeights, type ModuleSpec, moduleSpecFor } from "../../src/models/catalog.js";
import { ActorCritic } from "../../src/models/rl_module.js";
import { createRng, normal } from "../../src/utils/rng.js";
import { expectClose, largestGap, useMutatedKernel, useShippedKernel } from "../fixtures/fused_kernel.js";

const observationSpace = new Box(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, [5]);
const actorCritic = (
  actions: Box | Discrete,
  hiddens: number[],
  activation: "tanh" | "relu",
  shared: boolean,
) =>
  moduleSpecFor(observationSpace, actions, {
    type: "actor_critic",
    model: { hiddens, activation, vf_share_layers: shared, initial_log_std: -0.3 },
  });
/** Widths that are not multiples of 8 (the kernel's padding) and a batch that is not a multiple of 4. */
const categorical = actorCritic(new Discrete(3), [20, 13], "tanh", false);
const categoricalShared = actorCritic(new Discrete(4), [16], "relu", true);
const gaussian = actorCritic(new Box(-1, 1, [2]), [12, 9], "tanh", false);
const gaussianShared = actorCritic(new Box(-1, 1, [3]), [16], "relu", true);
const batch = 47;
const lr = 3e-3;
const adamOptions = { adamEpsilon: 1e-5, gradClip: 0.5 };

/** A minibatch around the module's current outputs, so ratios and value changes leave their clip ranges both ways. */
function randomMinibatch(spec: ModuleSpec, model: ActorCritic, seed: number): FusedPPOMinibatch {
  const rng = createRng(seed);
  const random = (n: number, scale = 1) => Float32Array.from({ length: n }, () => scale * normal(rng));
  const obs = random(batch * spec.obsDim);
  const actions =
    spec.head.kind === "categorical"
      ? Float32Array.from({ length: batch }, (_, i) => (i * 7) % (spec.head as { n: number }).n)
      : random(batch * spec.actionDim);
  const { logp, values } = tf.tidy(() => {
    const zeros = new Float32Array(batch);
    const t = tensors(spec, { obs, actions, logp: zeros, values: zeros, advantages: zeros, returns: zeros });
    const out = model.forward(t.obs);
    return {
      logp: model.distribution(out.policyOut).logProb(t.actions).dataSync() as Float32Array,
      values: out.values.dataSync() as Float32Array,
    };
  });
  return {
    obs,
    actions,
    logp: logp.map((x, i) => x + 0.3 * Math.sin(3 * i + seed)),
    values: values.map((x, i) => x + 0.3 * Math.cos(5 * i + seed)),
    advantages: random(batch),
    returns: random(batch),
  };
}

function tensors(spec: ModuleSpec, mb: FusedPPOMinibatch) {
  return {
    obs: tf.tensor2d(mb.obs, [batch, spec.obsDim]),
    actions:
      spec.head.kind === "categorical"
        ? tf.tensor1d(Int32Array.from(mb.actions), "int32")
        : tf.tensor2d(mb.actions, [batch, spec.actionDim]),
    logp: tf.tensor1d(mb.logp),
    values: tf.tensor1d(mb.values),
    advantages: tf.tensor1d(mb.advantages),
    returns: tf.tensor1d(mb.returns),
  };
}

/** The reference through autodiff: metrics, the flat gradient, its norm, and the weights after one host Adam step. */
function reference(
  spec: ModuleSpec,
  weights: Float32Array,
  mb: FusedPPOMinibatch,
  coeffs: FusedPPOCoefficients,
) {
  const model = new ActorCritic(spec, weights);
  const adam = new Adam(model, adamOptions);
  let metrics: ArrayLike<number> = [];
  let gradient: Float32Array = new Float32Array(0);
  let gradNorm = 0;
  tf.tidy(() => {
    const t = tensors(spec, mb);
    const { grads } = tf.variableGrads(() => {
      const loss = ppoLossOf(model, { ...t, oldLogp: t.logp, oldValues: t.values }, coeffs);
      metrics = tf
        .stack([loss.policyLoss, loss.vfLoss, loss.entropy, loss.approxKl, loss.clipFraction])
        .dataSync();
      return loss.total;
    }, model.variables);
    const flat = tf.concat(model.variables.map((v) => tf.reshape(grads[v.name], [-1]) as tf.Tensor1D));
    gradient = flat.dataSync() as Float32Array;
    gradNorm = adam.step(flat, lr);
  });
  const after = adam.getFlatWeights();
  adam.dispose();
  return { metrics, gradient, gradNorm, weights: after };
}

/** The fused step from the same weights, and its largest difference from the reference (NaN counts as large). */
function fusedAgainstReference(
  spec: ModuleSpec,
  coeffs: FusedPPOCoefficients,
  seed = 3,
  native: ConstructorParameters<typeof FusedMlpTrainer>[3] = null,
) {
  const weights = initialWeights(spec, 5);
  // Perturbed, so the policy is not near-uniform and every gradient is sizeable.
  const rng = createRng(seed + 10);
  for (let i = 0; i < weights.length; i++) weights[i] += 0.3 * normal(rng);
  const model = new ActorCritic(spec, weights);
  const mb = randomMinibatch(spec, model, seed);
  model.dispose();
  const expected = reference(spec, weights, mb, coeffs);
  const trainer = new FusedMlpTrainer(spec, adamOptions, 16, native); // grows to the batch
  trainer.setWeights(weights);
  const { metrics, gradNorm } = trainer.ppoStep(mb, batch, coeffs, lr);
  return { expected, metrics, gradNorm, gradient: trainer.getGradient(), weights: trainer.getWeights() };
}

const branches: [string, ModuleSpec, FusedPPOCoefficients][] = [
  ["categorical, tanh, vf clip 0.2, entropy 0.05", categorical, coefficients(0.2, 0.05)],
  ["categorical, tanh, no vf clip, entropy 0", categorical, coefficients(null, 0)],
  ["categorical, tanh, vf clip 0.2, entropy 0", categorical, coefficients(0.2, 0)],
  ["categorical, relu, shared trunk, no vf clip, entropy 0.05", categoricalShared, coefficients(null, 0.05)],
  ["gaussian, tanh, vf clip 0.2, entropy 0.05", gaussian, coefficients(0.2, 0.05)],
  ["gaussian, tanh, no vf clip, entropy 0", gaussian, coefficients(null, 0)],
  ["gaussian, relu, shared trunk, vf clip 0.2, entropy 0.01", gaussianShared, coefficients(0.2, 0.01)],
];

function coefficients(vfClipParam: number | null, entropyCoeff: number): FusedPPOCoefficients {
  return { clipParam: 0.2, vfClipParam, vfLossCoeff: 0.5, entropyCoeff };
}

describe("fused MLP training step (WebAssembly)", () => {
  beforeAll(async () => {
    await selectBackend("cpu");
  });

  it("covers MLP actor-critics with a categorical or Gaussian head, and says why not otherwise", () => {
    expect(fusedUnsupported(categorical)).toBeNull();
    expect(fusedUnsupported(gaussianShared)).toBeNull();
    const bernoulli = moduleSpecFor(observationSpace, new MultiBinary(3), {
      type: "actor_critic",
      model: { hiddens: [8], activation: "tanh", vf_share_layers: false, initial_log_std: 0 },
    });
    expect(fusedUnsupported(bernoulli)).toMatch(/bernoulli/);
  });

  it.each(branches)(
    "%s: metrics, gradient, norm and the Adam step equal autodiff through ppoLoss",
    (_, spec, coeffs) => {
      const { expected, metrics, gradNorm, gradient, weights } = fusedAgainstReference(spec, coeffs);
      expect(PPO_LOSS_METRICS).toHaveLength(metrics.length);
      // Both branches of the surrogate are exercised.
      expect(expected.metrics[4]).toBeGreaterThan(0.1);
      expect(expected.metrics[4]).toBeLessThan(0.9);
      expect(Math.max(...expected.gradient.map(Math.abs))).toBeGreaterThan(1e-2);
      expectClose(metrics, expected.metrics, 1e-5, "metrics");
      expectClose(gradient, expected.gradient, 1e-5, "gradient");
      expect(Math.abs(gradNorm - expected.gradNorm) / expected.gradNorm).toBeLessThan(1e-5);
      expect(expected.gradNorm).toBeGreaterThan(adamOptions.gradClip); // the clip is exercised
      expectClose(weights, expected.weights, 1e-6, "weights after Adam");
    },
  );

  it("with every product on the native BLAS (learner.blas), the same equality holds", async (context) => {
    await selectBackend("wasm");
    const library = await installNativeBlas();
    await selectBackend("cpu");
    const native = nativeGemm();
    if (!library || !native) {
      context.skip(); // no CBLAS on this machine (npm run setup:blas)
      return;
    }
    for (const [, spec, coeffs] of branches) {
      const { expected, metrics, gradNorm, gradient, weights } = fusedAgainstReference(spec, coeffs, 3, {
        ...native,
        minMultiplyAdds: 1,
      });
      expectClose(metrics, expected.metrics, 1e-5, "metrics");
      expectClose(gradient, expected.gradient, 1e-5, "gradient");
      expect(Math.abs(gradNorm - expected.gradNorm) / expected.gradNorm).toBeLessThan(1e-5);
      expectClose(weights, expected.weights, 1e-6, "weights after Adam");
    }
  });

  it("value clipping takes both branches in these minibatches (the test above would miss one otherwise)", () => {
    const off = fusedAgainstReference(categorical, coefficients(null, 0.05));
    const on = fusedAgainstReference(categorical, coefficients(0.2, 0.05));
    expect(on.expected.metrics[1]).toBeGreaterThan(off.expected.metrics[1]); // some clipped errors are larger
    expect(on.gradient).not.toEqual(off.gradient);
  });

  it.each([
    ["categorical, tanh", categorical],
    ["gaussian, relu, shared trunk", gaussianShared],
  ])(
    "%s: 6 steps equal the training loop's tfjs path with the host Adam (weights, moments, metrics)",
    async (_, spec) => {
      for (const backend of ["cpu", "wasm"] as const) {
        await selectBackend(backend);
        const weights = initialWeights(spec, 1);
        const model = new ActorCritic(spec, weights);
        const adam = new Adam(model, adamOptions);
        const trainer = new FusedMlpTrainer(spec, adamOptions, batch);
        trainer.setWeights(weights);
        trainer.setOptimizerState(adam.getOptimizerState());
        const coeffs = coefficients(0.2, 0.01);
        for (let step = 0; step < 6; step++) {
          const mb = randomMinibatch(spec, model, 100 + step);
          const hostMetrics = tf.tidy(() => {
            const t = tensors(spec, mb);
            const minibatch = {
              obs: t.obs,
              actions: t.actions,
              logp: t.logp,
              values: t.values,
              advantages: t.advantages,
              returns: t.returns,
            };
            return ppoMinibatchUpdate(model, adam, minibatch, coeffs, lr).dataSync();
          });
          const fused = trainer.ppoStep(mb, batch, coeffs, lr);
          expectClose(fused.metrics, hostMetrics.subarray(0, 5), 2e-5, `${backend} step ${step} metrics`);
          expect(Math.abs(fused.gradNorm - hostMetrics[5]) / hostMetrics[5]).toBeLessThan(1e-4);
        }
        expectClose(trainer.getWeights(), adam.getFlatWeights(), 2e-5, `${backend} weights`);
        const fusedState = trainer.getOptimizerState();
        const hostState = adam.getOptimizerState();
        expect(fusedState.step).toBe(hostState.step);
        expectClose(fusedState.m, hostState.m, 1e-6, `${backend} m`);
        expectClose(fusedState.v, hostState.v, 1e-7, `${backend} v`);
        adam.dispose();
      }
      await selectBackend("cpu");
    },
  );

  it("a non-finite gradient leaves weights and moments unchanged and is reported", () => {
    const weights = initialWeights(categorical, 2);
    const trainer = new FusedMlpTrainer(categorical, adamOptions, batch);
    trainer.setWeights(weights);
    const model = new ActorCritic(categorical, weights);
    const mb = randomMinibatch(categorical, model, 4);
    model.dispose();
    mb.returns[3] = Number.NaN;
    const { gradNorm } = trainer.ppoStep(mb, batch, coefficients(0.2, 0.01), lr);
    expect(Number.isFinite(gradNorm)).toBe(false);
    expect(trainer.getWeights()).toEqual(weights);
    expect(trainer.getOptimizerState().m.every((x) => x === 0)).toBe(true);
  });

  describe("a deliberately broken kernel fails the equality check", () => {
    afterAll(useShippedKernel);

    it.each([
      // tanh' = 1 - y^2 with the sign of y^2 flipped
      [
        "tanh backward 1 + y^2",
        "(f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $out) (local.get $out)))",
        "(f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $out) (local.get $out)))",
      ],
      // the surrogate's gradient passed where the clipped term is the minimum
      [
        "surrogate's tie-break flipped",
        "(f64.le (local.get $unclipped) (local.get $clipped))",
        "(f64.ge (local.get $unclipped) (local.get $clipped))",
      ],
      // the entropy term's sign
      [
        "entropy gradient sign",
        "(i32.shl (local.get $j) (i32.const 2))) (f32.demote_f64 (local.get $grad)))",
        "(i32.shl (local.get $j) (i32.const 2))) (f32.demote_f64 (f64.add (local.get $grad) (f64.mul (f64.const 2) (f64.mul (local.get $dEntropy) (f64.mul (local.get $p) (f64.add (local.get $l) (local.get $entropy))))))))",
      ],
      // value clipping: the smaller squared error taken instead of the larger
      [
        "value clipping's max as min",
        "(f64.lt (local.get $squared) (local.get $squaredClipped))",
        "(f64.gt (local.get $squared) (local.get $squaredClipped))",
      ],
      // Adam's update in the wrong direction
      [
        "Adam ascends",
        "(f32x4.sub (v128.load (i32.add (local.get $params) (local.get $offset)))",
        "(f32x4.add (v128.load (i32.add (local.get $params) (local.get $offset)))",
      ],
    ])("%s", async (_, from, to) => {
      await useMutatedKernel(from, to);
      const differences = branches.slice(0, 3).map(([, spec, coeffs]) => {
        const { expected, metrics, gradient, weights } = fusedAgainstReference(spec, coeffs);
        return Math.max(
          largestGap(metrics, expected.metrics),
          largestGap(gradient, expected.gradient),
          largestGap(weights, expected.weights),
        );
      });
      expect(Math.max(...differences)).toBeGreaterThan(1e-4);
    });
  });
});
