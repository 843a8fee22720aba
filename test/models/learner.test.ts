import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { ppoLoss } from "../../src/algos/ppo/loss.js";
import { selectBackend } from "../../src/learner/backend.js";
import { Learner } from "../../src/learner/learner.js";
import { ActorCritic, initialFlatWeights, type PolicySpec } from "../../src/models/network.js";
import { createRng, normal } from "../../src/utils/rng.js";

const rng = createRng(3);
const batch = 32;
const obs = Float32Array.from({ length: batch * 4 }, () => normal(rng));
const oldLogp = Float32Array.from({ length: batch }, () => -0.7 + 0.1 * normal(rng));
const advantages = Float32Array.from({ length: batch }, () => normal(rng));
const returns = Float32Array.from({ length: batch }, () => normal(rng));

/** Three PPO steps (every op of the loss and its gradients, clipping, Adam) on `backend`; returns the weights. */
async function threeSteps(
  backend: "cpu" | "wasm",
  spec: PolicySpec,
  actions: Float32Array,
): Promise<Float32Array> {
  await selectBackend(backend);
  const model = new ActorCritic(spec, initialFlatWeights(spec, 1));
  const learner = new Learner(model, { adamEpsilon: 1e-5, gradClip: 0.5 });
  for (let step = 0; step < 3; step++) {
    const metrics = tf.tidy(() =>
      learner.update(() => {
        const { policyOut, values } = model.forward(tf.tensor2d(obs, [batch, 4]));
        const dist = model.distribution(policyOut);
        const a =
          spec.action.kind === "categorical"
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
      }, 1e-3),
    );
    expect(Number.isFinite(metrics.grad_norm.dataSync()[0])).toBe(true);
    tf.dispose(Object.values(metrics));
  }
  const weights = learner.getFlatWeights();
  learner.dispose();
  return weights;
}

describe("Learner", () => {
  it.each([
    [
      "categorical, tanh",
      {
        obsDim: 4,
        action: { kind: "categorical", n: 2 },
        hiddens: [16, 16],
        activation: "tanh",
        vfShareLayers: false,
        initialLogStd: 0,
      },
    ],
    [
      "gaussian, relu, shared",
      {
        obsDim: 4,
        action: { kind: "gaussian", dim: 2 },
        hiddens: [16],
        activation: "relu",
        vfShareLayers: true,
        initialLogStd: 0,
      },
    ],
  ] as [string, PolicySpec][])("%s: wasm trains to the same weights as cpu", async (_, spec) => {
    const actions = Float32Array.from({ length: batch * 2 }, (_, i) =>
      spec.action.kind === "categorical" ? i % 2 : normal(rng),
    );
    const cpu = await threeSteps("cpu", spec, actions);
    const wasm = await threeSteps("wasm", spec, actions);
    const initial = initialFlatWeights(spec, 1);
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
    const w = tf.variable(tf.tensor1d([1, -2, 3]));
    const module = {
      variables: [w],
      getFlatWeights: () => w.dataSync() as Float32Array,
      setFlatWeights: () => {},
      dispose: () => w.dispose(),
    };
    const learner = new Learner(module, { adamEpsilon: 1e-8, gradClip: null });
    // loss = sum(w^2 / 2) has gradient w; the first bias-corrected step is lr * sign(w).
    tf.dispose(
      Object.values(
        learner.update(() => ({ loss: tf.sum(tf.mul(0.5, tf.square(w))) as tf.Scalar, metrics: {} }), 0.1),
      ),
    );
    expect(Array.from(w.dataSync()).map((x) => Number(x.toFixed(5)))).toEqual([0.9, -1.9, 2.9]);
    const state = learner.getOptimizerState();
    expect(state.step).toBe(1);
    expect(Array.from(state.m).map((x) => Number(x.toFixed(5)))).toEqual([0.1, -0.2, 0.3]);
    learner.setOptimizerState({ step: 5, m: new Float32Array(3), v: new Float32Array(3) });
    expect(learner.getOptimizerState().step).toBe(5);
    expect(() =>
      learner.setOptimizerState({ step: 1, m: new Float32Array(2), v: new Float32Array(3) }),
    ).toThrow(/expected 3/);
    learner.dispose();
  });

  it("clips the global gradient norm", async () => {
    await selectBackend("cpu");
    const w = tf.variable(tf.tensor1d([3, 4]));
    const module = {
      variables: [w],
      getFlatWeights: () => w.dataSync() as Float32Array,
      setFlatWeights: () => {},
      dispose: () => w.dispose(),
    };
    const learner = new Learner(module, { adamEpsilon: 1e-8, gradClip: 1 });
    const metrics = learner.update(
      () => ({ loss: tf.sum(tf.mul(0.5, tf.square(w))) as tf.Scalar, metrics: {} }),
      0.1,
    );
    expect(metrics.grad_norm.dataSync()[0]).toBeCloseTo(5, 5); // the norm before clipping
    // After clipping to norm 1 the gradient is (0.6, 0.8): m = 0.1 * g
    expect(Array.from(learner.getOptimizerState().m)).toEqual([
      expect.closeTo(0.06, 5),
      expect.closeTo(0.08, 5),
    ]);
    tf.dispose(Object.values(metrics));
    learner.dispose();
  });
});

describe("ActorCritic.forward gradients", () => {
  it.each([
    ["tanh, separate", "tanh", false],
    ["relu, shared", "relu", true],
  ] as const)("%s: equal tfjs autodiff through plain matMul ops", async (_, activation, shared) => {
    await selectBackend("cpu");
    const spec: PolicySpec = {
      observationSpace: { type: "Box" } as PolicySpec["observationSpace"],
      actionSpace: { type: "Discrete" } as PolicySpec["actionSpace"],
      obsDim: 4,
      action: { kind: "categorical", n: 3 },
      hiddens: [8, 5],
      activation,
      vfShareLayers: shared,
      initialLogStd: 0,
    };
    const model = new ActorCritic(spec, initialFlatWeights(spec, 2));
    model.setFlatWeights(Float32Array.from({ length: model.layout.size }, () => 0.5 * normal(rng)));
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
      const piHidden = spec.hiddens.reduce((h) => layer(h, true), x);
      const policyOut = layer(piHidden, false);
      const vfHidden = shared ? piHidden : spec.hiddens.reduce((h) => layer(h, true), x);
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
