import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { ppoLoss } from "../../src/algos/ppo/loss.js";
import { Box, Discrete } from "../../src/envs/spaces.js";
import { Adam } from "../../src/learner/adam.js";
import { selectBackend } from "../../src/learner/backend.js";
import {
  initialWeights,
  type ModelOptions,
  type ModuleSpec,
  moduleSpecFor,
} from "../../src/models/catalog.js";
import { ActorCritic, type TrainableModule } from "../../src/models/rl_module.js";
import { createRng, normal } from "../../src/utils/rng.js";

const rng = createRng(3);
const batch = 32;
const obs = Float32Array.from({ length: batch * 4 }, () => normal(rng));
const oldLogp = Float32Array.from({ length: batch }, () => -0.7 + 0.1 * normal(rng));
const advantages = Float32Array.from({ length: batch }, () => normal(rng));
const returns = Float32Array.from({ length: batch }, () => normal(rng));

/**
 * One Adam step on `computeLoss` through tfjs autodiff (what the removed `Learner.update` did): the
 * gradient of every variable, concatenated in the flat layout. Returns the metrics and grad_norm as numbers.
 */
function autodiffStep(
  optimizer: Adam,
  module: TrainableModule,
  computeLoss: () => { loss: tf.Scalar; metrics: Record<string, tf.Scalar> },
  lr: number,
): Record<string, number> {
  return tf.tidy(() => {
    let metrics: Record<string, number> = {};
    const { grads } = tf.variableGrads(() => {
      const result = computeLoss();
      // Read inside: variableGrads disposes every tensor but the loss.
      metrics = Object.fromEntries(
        Object.entries(result.metrics).map(([name, m]) => [name, m.dataSync()[0]]),
      );
      return result.loss;
    }, module.variables);
    const flat = tf.concat(module.variables.map((v) => tf.reshape(grads[v.name], [-1]))) as tf.Tensor1D;
    const gradNorm = optimizer.step(flat, lr);
    return {
      ...metrics,
      grad_norm: gradNorm,
    };
  });
}

/** A module of one variable `w` (a plain vector), for the optimizer's arithmetic. */
function vectorModule(initial: number[]): { w: tf.Variable; module: TrainableModule } {
  const w = tf.variable(tf.tensor1d(initial));
  const module: TrainableModule = {
    variables: [w],
    getFlatWeights: () => w.dataSync().slice() as Float32Array,
    setFlatWeights: (flat) => {
      tf.tidy(() => w.assign(tf.tensor1d(flat)));
    },
    dispose: () => w.dispose(),
  };
  return { w, module };
}

function actorCriticSpec(
  obsDim: number,
  action: "categorical" | "gaussian",
  model: ModelOptions,
): ModuleSpec {
  return moduleSpecFor(
    new Box(-10, 10, [obsDim]),
    action === "categorical" ? new Discrete(2) : new Box(-1, 1, [2]),
    { type: "actor_critic", model },
  );
}

/** Three PPO steps (every op of the loss and its gradients, clipping, Adam) on `backend`; returns the weights. */
async function threeSteps(
  backend: "cpu" | "wasm",
  spec: ModuleSpec,
  actions: Float32Array,
): Promise<Float32Array> {
  await selectBackend(backend);
  const model = new ActorCritic(spec, initialWeights(spec, 1));
  const learner = new Adam(model, { adamEpsilon: 1e-5, gradClip: 0.5 });
  for (let step = 0; step < 3; step++) {
    const metrics = autodiffStep(
      learner,
      model,
      () => {
        const { policyOut, values } = model.forward(tf.tensor2d(obs, [batch, 4]));
        const dist = model.distribution(policyOut);
        const a =
          spec.head.kind === "categorical"
            ? tf.tensor1d(Int32Array.from(actions.subarray(0, batch)), "int32")
            : tf.tensor2d(actions, [batch, 2]);
        const loss = ppoLoss({
          logp: dist.logProb(a),
          oldLogp: tf.tensor1d(oldLogp),
          advantages: tf.tensor1d(advantages),
          values,
          oldValues: tf.tensor1d(returns),
          returns: tf.tensor1d(returns),
          entropy: dist.entropy(),
          clipParam: 0.2,
          vfClipParam: 0.2,
          vfLossCoeff: 0.5,
          entropyCoeff: 0.01,
        });
        return { loss: loss.total, metrics: { kl: loss.approxKl } };
      },
      1e-3,
    );
    expect(Number.isFinite(metrics.grad_norm)).toBe(true);
    expect(Number.isFinite(metrics.kl)).toBe(true);
  }
  const weights = learner.getFlatWeights();
  learner.dispose();
  return weights;
}

describe("Adam", () => {
  it.each([
    [
      "categorical, tanh",
      actorCriticSpec(4, "categorical", {
        hiddens: [16, 16],
        activation: "tanh",
        vf_share_layers: false,
        initial_log_std: 0,
      }),
    ],
    [
      "gaussian, relu, shared",
      actorCriticSpec(4, "gaussian", {
        hiddens: [16],
        activation: "relu",
        vf_share_layers: true,
        initial_log_std: 0,
      }),
    ],
  ] as [string, ModuleSpec][])("%s: wasm trains to the same weights as cpu", async (_, spec) => {
    const actions = Float32Array.from({ length: batch * 2 }, (_, i) =>
      spec.head.kind === "categorical" ? i % 2 : normal(rng),
    );
    const cpu = await threeSteps("cpu", spec, actions);
    const wasm = await threeSteps("wasm", spec, actions);
    const initial = initialWeights(spec, 1);
    let moved = 0;
    for (let i = 0; i < cpu.length; i++) {
      expect(Math.abs(cpu[i] - wasm[i])).toBeLessThan(1e-4);
      moved = Math.max(moved, Math.abs(cpu[i] - initial[i]));
    }
    expect(moved).toBeGreaterThan(1e-3); // three Adam steps at lr 1e-3 really moved the weights
    await selectBackend("cpu");
  });

  it("takes PyTorch's first Adam step: each weight moves by lr * g / (|g| + eps)", async () => {
    await selectBackend("cpu");
    const { w, module } = vectorModule([1, -2, 3]);
    const learner = new Adam(module, { adamEpsilon: 1e-8, gradClip: null });
    // loss = sum(w^2 / 2) has gradient w; the first bias-corrected step is lr * sign(w).
    autodiffStep(
      learner,
      module,
      () => ({ loss: tf.sum(tf.mul(0.5, tf.square(w))) as tf.Scalar, metrics: {} }),
      0.1,
    );
    expect(Array.from(w.dataSync()).map((x) => Number(x.toFixed(5)))).toEqual([0.9, -1.9, 2.9]);
    expect(Array.from(learner.getFlatWeights()).map((x) => Number(x.toFixed(5)))).toEqual([0.9, -1.9, 2.9]);
    const state = learner.getOptimizerState();
    expect(state.step).toBe(1);
    expect(Array.from(state.m).map((x) => Number(x.toFixed(5)))).toEqual([0.1, -0.2, 0.3]);
    learner.setOptimizerState({ step: 5, m: new Float32Array(3), v: new Float32Array(3) });
    expect(learner.getOptimizerState().step).toBe(5);
    expect(() =>
      learner.setOptimizerState({ step: 1, m: new Float32Array(2), v: new Float32Array(3) }),
    ).toThrow(/expected 3/);
    expect(() => learner.step(tf.tensor1d([1, 2]), 0.1)).toThrow(/expected 3/);
    learner.dispose();
  });

  it("clips the global gradient norm", async () => {
    await selectBackend("cpu");
    const { w, module } = vectorModule([3, 4]);
    const learner = new Adam(module, { adamEpsilon: 1e-8, gradClip: 1 });
    const metrics = autodiffStep(
      learner,
      module,
      () => ({ loss: tf.sum(tf.mul(0.5, tf.square(w))) as tf.Scalar, metrics: {} }),
      0.1,
    );
    expect(metrics.grad_norm).toBeCloseTo(5, 5); // the norm before clipping
    // After clipping to norm 1 the gradient is (0.6, 0.8): m = 0.1 * g
    expect(Array.from(learner.getOptimizerState().m)).toEqual([
      expect.closeTo(0.06, 5),
      expect.closeTo(0.08, 5),
    ]);
    learner.dispose();
  });
});

describe("ActorCritic.forward gradients", () => {
  it.each([
    ["tanh, separate", "tanh", false],
    ["relu, shared", "relu", true],
  ] as const)("%s: equal tfjs autodiff through plain matMul ops", async (_, activation, shared) => {
    await selectBackend("cpu");
    const hiddens = [8, 5];
    const spec = moduleSpecFor(new Box(-10, 10, [4]), new Discrete(3), {
      type: "actor_critic",
      model: { hiddens, activation, vf_share_layers: shared, initial_log_std: 0 },
    });
    const model = new ActorCritic(spec, initialWeights(spec, 2));
    model.setFlatWeights(Float32Array.from({ length: model.size }, () => 0.5 * normal(rng)));
    const x = tf.tensor2d(obs.subarray(0, 6 * 4), [6, 4]);
    // A loss that weighs every output differently, so each gradient entry matters.
    const weightsPi = tf.tensor2d(
      Float32Array.from({ length: 18 }, (_, i) => Math.sin(i)),
      [6, 3],
    );
    const weightsV = tf.tensor1d([1, -2, 3, -0.5, 0.25, 2]);
    const loss = (out: { policyOut: tf.Tensor2D; values: tf.Tensor1D }) =>
      tf.add(
        tf.sum(tf.mul(out.policyOut, weightsPi)),
        tf.sum(tf.mul(tf.square(out.values), weightsV)),
      ) as tf.Scalar;
    const reference = () => {
      // The same network written with plain tfjs ops, differentiated by tfjs itself.
      const params = model.variables;
      let k = 0;
      const layer = (h: tf.Tensor2D, act: boolean) => {
        const y = tf.add(tf.matMul(h, params[k] as tf.Tensor2D), params[k + 1]) as tf.Tensor2D;
        k += 2;
        return act ? (activation === "tanh" ? tf.tanh(y) : tf.relu(y)) : y;
      };
      const piHidden = hiddens.reduce((h) => layer(h, true), x);
      const policyOut = layer(piHidden, false);
      const vfHidden = shared ? piHidden : hiddens.reduce((h) => layer(h, true), x);
      return { policyOut, values: tf.reshape(layer(vfHidden, false), [-1]) as tf.Tensor1D };
    };
    const ours = tf.variableGrads(() => loss(model.forward(x)), model.variables);
    const theirs = tf.variableGrads(() => loss(reference()), model.variables);
    expect(Math.abs(ours.value.dataSync()[0] - theirs.value.dataSync()[0])).toBeLessThan(1e-4);
    for (const v of model.variables) {
      const a = ours.grads[v.name].dataSync();
      const b = theirs.grads[v.name].dataSync();
      expect(a.length).toBe(b.length);
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-4);
    }
    model.dispose();
  });
});

describe("selectBackend", () => {
  it("falls through to wasm when the native packages are absent, and explains a forced one", async () => {
    expect(["tensorflow-gpu", "tensorflow", "wasm"]).toContain(await selectBackend("auto"));
    expect(tf.getBackend()).not.toBe("cpu");
    let nativeInstalled = true;
    try {
      await import("@tensorflow/tfjs-node" as string);
    } catch {
      nativeInstalled = false;
    }
    if (!nativeInstalled)
      await expect(selectBackend("tensorflow")).rejects.toThrow(/npm install @tensorflow\/tfjs-node/);
    await selectBackend("cpu");
  });
});
