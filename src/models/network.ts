/**
 * The actor-critic MLP: its plain-data description (`PolicySpec`), CleanRL's orthogonal initialisation,
 * the flat weight layout shared by tfjs and the rollout inference kernel, and the tfjs `ActorCritic`.
 *
 * Flat weight layout (`getFlatWeights()`, what travels between threads), in this order, float32:
 *   1. policy trunk (the shared trunk when `vfShareLayers`): per hidden layer, kernel `[in, out]`
 *      row-major then bias `[out]`;
 *   2. policy head: kernel `[lastHidden, policyOutDim]`, bias (logits for Discrete, the mean for Box);
 *   3. value trunk (absent when `vfShareLayers`): as 1.;
 *   4. value head: kernel `[lastHidden, 1]`, bias `[1]`;
 *   5. Box actions only: the state-independent log standard deviation `[actionDim]`.
 */
import * as tf from "@tensorflow/tfjs";
import type { ModelConfig } from "../config/schema.js";
import { Box, Discrete, type Space, type SpaceJSON } from "../envs/spaces.js";
import { createRng, normal, type Rng } from "../utils/rng.js";
import {
  chainBackward,
  chainForward,
  type DenseVariables,
  denseBackward,
  denseForward,
  denseLayer,
  denseVariables,
} from "./dense.js";
import { CategoricalDistribution, DiagGaussianDistribution } from "./distributions.js";

export type ActionHead = { kind: "categorical"; n: number } | { kind: "gaussian"; dim: number };

/** Everything needed to rebuild the network from plain data (in a worker thread, say). */
export interface PolicySpec {
  /** The env's spaces, so an exported policy can say what its input and output mean. */
  observationSpace: SpaceJSON;
  actionSpace: SpaceJSON;
  obsDim: number;
  action: ActionHead;
  hiddens: number[];
  activation: "tanh" | "relu";
  vfShareLayers: boolean;
  initialLogStd: number;
}

export interface DenseShape {
  inDim: number;
  outDim: number;
}

export interface NetworkLayout {
  policyTrunk: DenseShape[];
  policyHead: DenseShape;
  /** Empty when the value head sits on the policy trunk. */
  valueTrunk: DenseShape[];
  valueHead: DenseShape;
  /** Length of the log-std block at the end (0 for Discrete). */
  logStdDim: number;
  /** Total float32s in the flat weights. */
  size: number;
}

export function policySpecFor(observationSpace: Space, actionSpace: Space, model: ModelConfig): PolicySpec {
  let action: ActionHead;
  if (actionSpace instanceof Discrete) action = { kind: "categorical", n: actionSpace.n };
  else if (actionSpace instanceof Box && !actionSpace.isInteger)
    action = { kind: "gaussian", dim: actionSpace.size };
  else {
    throw new TypeError(
      `action space ${actionSpace}: the MLP policy supports Discrete and float Box action spaces`,
    );
  }
  return {
    observationSpace: observationSpace.toJSON(),
    actionSpace: actionSpace.toJSON(),
    obsDim: observationSpace.flatDim,
    action,
    hiddens: [...model.hiddens],
    activation: model.activation,
    vfShareLayers: model.vf_share_layers,
    initialLogStd: model.initial_log_std,
  };
}

export function policyOutDim(action: ActionHead): number {
  return action.kind === "categorical" ? action.n : action.dim;
}

function trunkShapes(obsDim: number, hiddens: number[]): DenseShape[] {
  return hiddens.map((outDim, i) => ({ inDim: i === 0 ? obsDim : hiddens[i - 1], outDim }));
}

export function networkLayout(spec: PolicySpec): NetworkLayout {
  const last = spec.hiddens[spec.hiddens.length - 1];
  const policyTrunk = trunkShapes(spec.obsDim, spec.hiddens);
  const policyHead = { inDim: last, outDim: policyOutDim(spec.action) };
  const valueTrunk = spec.vfShareLayers ? [] : trunkShapes(spec.obsDim, spec.hiddens);
  const valueHead = { inDim: last, outDim: 1 };
  const logStdDim = spec.action.kind === "gaussian" ? spec.action.dim : 0;
  const dense = [...policyTrunk, policyHead, ...valueTrunk, valueHead];
  const size = dense.reduce((n, d) => n + d.inDim * d.outDim + d.outDim, 0) + logStdDim;
  return { policyTrunk, policyHead, valueTrunk, valueHead, logStdDim, size };
}

/**
 * An orthogonal `[inDim, outDim]` kernel scaled by `gain`, as `torch.nn.init.orthogonal_`: QR of a
 * standard-normal matrix with R's diagonal made positive, which is what Gram-Schmidt yields directly.
 */
export function orthogonalKernel(inDim: number, outDim: number, gain: number, rng: Rng): Float32Array {
  const long = Math.max(inDim, outDim);
  const short = Math.min(inDim, outDim);
  const q = Array.from({ length: short }, () => Float64Array.from({ length: long }, () => normal(rng)));
  for (let j = 0; j < short; j++) {
    for (let k = 0; k < j; k++) {
      let dot = 0;
      for (let r = 0; r < long; r++) dot += q[j][r] * q[k][r];
      for (let r = 0; r < long; r++) q[j][r] -= dot * q[k][r];
    }
    let norm = 0;
    for (let r = 0; r < long; r++) norm += q[j][r] * q[j][r];
    norm = Math.sqrt(norm);
    for (let r = 0; r < long; r++) q[j][r] /= norm;
  }
  const kernel = new Float32Array(inDim * outDim);
  for (let i = 0; i < inDim; i++) {
    for (let o = 0; o < outDim; o++) {
      // Orthonormal columns when the kernel is tall, orthonormal rows when it is wide.
      kernel[i * outDim + o] = gain * (inDim >= outDim ? q[o][i] : q[i][o]);
    }
  }
  return kernel;
}

/** CleanRL's initial weights in the flat layout: gains sqrt(2) hidden, 0.01 policy head, 1 value head; zero biases. */
export function initialFlatWeights(spec: PolicySpec, seed: number): Float32Array {
  const layout = networkLayout(spec);
  const rng = createRng(`init-${seed}`);
  const flat = new Float32Array(layout.size);
  let offset = 0;
  const put = (shape: DenseShape, gain: number) => {
    flat.set(orthogonalKernel(shape.inDim, shape.outDim, gain, rng), offset);
    offset += shape.inDim * shape.outDim + shape.outDim; // the bias stays zero
  };
  for (const shape of layout.policyTrunk) put(shape, Math.SQRT2);
  put(layout.policyHead, 0.01);
  for (const shape of layout.valueTrunk) put(shape, Math.SQRT2);
  put(layout.valueHead, 1.0);
  flat.fill(spec.initialLogStd, offset);
  return flat;
}

/**
 * The tfjs actor-critic. `actor` (observation -> logits or Gaussian mean) and `critic` (observation -> value)
 * are plain `tf.LayersModel`s of Dense layers, so `actor.save()` writes a model `tf.loadLayersModel`
 * reads back. Training uses `forwardWithBackward()` (the same variables, one fused matmul per layer, and a
 * hand-written backward pass); `forward()` is the same forward pass for autodiff, bypassing the layers
 * machinery's per-call overhead.
 */
export class ActorCritic {
  readonly layout: NetworkLayout;
  readonly actor: tf.LayersModel;
  readonly critic: tf.LayersModel;
  /** Box actions: the log standard deviation, independent of the state. */
  readonly logStd: tf.Variable | null;
  /** All trainable variables in the flat layout's order. */
  readonly variables: tf.Variable[];
  private readonly policyTrunk: DenseVariables[];
  private readonly policyHead: DenseVariables;
  private readonly valueTrunk: DenseVariables[];
  private readonly valueHead: DenseVariables;

  constructor(
    readonly spec: PolicySpec,
    initialWeights: Float32Array,
  ) {
    this.layout = networkLayout(spec);
    const obs = tf.input({ shape: [spec.obsDim], name: "obs" });
    const dense = (name: string, units: number, activation: "tanh" | "relu" | "linear") =>
      tf.layers.dense({ units, activation, name, kernelInitializer: "zeros", biasInitializer: "zeros" });
    const trunk = (prefix: string) => {
      const layers = spec.hiddens.map((units, i) => dense(`${prefix}_fc${i}`, units, spec.activation));
      let h = obs as tf.SymbolicTensor;
      for (const layer of layers) h = layer.apply(h) as tf.SymbolicTensor;
      return { layers, out: h };
    };
    const policy = trunk(spec.vfShareLayers ? "shared" : "pi");
    const policyHead = dense("pi_out", policyOutDim(spec.action), "linear");
    const value = spec.vfShareLayers ? { layers: [], out: policy.out } : trunk("vf");
    const valueHead = dense("vf_out", 1, "linear");
    this.actor = tf.model({
      inputs: obs,
      outputs: policyHead.apply(policy.out) as tf.SymbolicTensor,
      name: "actor",
    });
    this.critic = tf.model({
      inputs: obs,
      outputs: valueHead.apply(value.out) as tf.SymbolicTensor,
      name: "critic",
    });

    this.policyTrunk = policy.layers.map(denseVariables);
    this.policyHead = denseVariables(policyHead);
    this.valueTrunk = value.layers.map(denseVariables);
    this.valueHead = denseVariables(valueHead);
    this.logStd =
      spec.action.kind === "gaussian"
        ? tf.variable(tf.fill([spec.action.dim], spec.initialLogStd), true, undefined, "float32")
        : null;
    const denseVars = [...this.policyTrunk, this.policyHead, ...this.valueTrunk, this.valueHead];
    this.variables = denseVars.flatMap((d) => [d.kernel, d.bias]);
    if (this.logStd) this.variables.push(this.logStd);
    this.setFlatWeights(initialWeights);
  }

  /**
   * Policy output (logits or mean) and values `[batch]` for a batch of observations. Each Dense layer is
   * one `denseLayer` op with its own gradient, which keeps the op count per training step low (on wasm a
   * small op costs more to dispatch than to compute) and avoids tfjs's transposed-matmul gradients.
   */
  forward(obs: tf.Tensor2D): { policyOut: tf.Tensor2D; values: tf.Tensor1D } {
    const activation = this.spec.activation;
    const trunk = (layers: DenseVariables[]) =>
      layers.reduce((x, d, i) => denseLayer(x, d, activation, i > 0), obs);
    const policyHidden = trunk(this.policyTrunk);
    const valueHidden = this.spec.vfShareLayers ? policyHidden : trunk(this.valueTrunk);
    const valueOut = denseLayer(valueHidden, this.valueHead, "linear", true);
    return {
      policyOut: denseLayer(policyHidden, this.policyHead, "linear", true),
      values: tf.reshape(valueOut, [-1]),
    };
  }

  /**
   * `forward()` without autodiff: the outputs, and `backward`, which takes dLoss/d(policy output),
   * dLoss/dValues and (Box actions) dLoss/dlogStd and returns the gradient of every weight in the flat
   * layout, by hand from the activations kept here. Skips `tf.variableGrads`' tape and its per-op gradient
   * bookkeeping; the learner applies the result with `applyGradient`.
   */
  forwardWithBackward(obs: tf.Tensor2D): {
    policyOut: tf.Tensor2D;
    values: tf.Tensor1D;
    backward: (dPolicyOut: tf.Tensor2D, dValues: tf.Tensor1D, dLogStd: tf.Tensor1D | null) => tf.Tensor1D;
  } {
    const activation = this.spec.activation;
    // Every hidden layer's output; layer i's input is outputs[i - 1], or obs for the first.
    const policyHidden = chainForward(obs, this.policyTrunk, activation);
    const valueHidden = this.spec.vfShareLayers
      ? policyHidden
      : chainForward(obs, this.valueTrunk, activation);
    const policyFeatures = policyHidden[policyHidden.length - 1];
    const valueFeatures = valueHidden[valueHidden.length - 1];
    const policyOut = denseForward(policyFeatures, this.policyHead, "linear");
    const valueOut = denseForward(valueFeatures, this.valueHead, "linear");

    /** Gradients of a trunk's layers, first to last, from dLoss/d(its last output). */
    const trunkBackward = (layers: DenseVariables[], outputs: tf.Tensor2D[], dOut: tf.Tensor2D) =>
      chainBackward(obs, layers, outputs, dOut, activation).grads;
    const backward = (dPolicyOut: tf.Tensor2D, dValues: tf.Tensor1D, dLogStd: tf.Tensor1D | null) => {
      const kernel = (d: DenseVariables) => d.kernel as tf.Tensor2D;
      const policyHead = denseBackward(
        dPolicyOut,
        policyFeatures,
        policyOut,
        kernel(this.policyHead),
        "linear",
      );
      const dValueOut = tf.reshape(dValues, [-1, 1]) as tf.Tensor2D;
      const valueHead = denseBackward(dValueOut, valueFeatures, valueOut, kernel(this.valueHead), "linear");
      let policyTrunk: tf.Tensor[];
      let valueTrunk: tf.Tensor[] = [];
      if (this.spec.vfShareLayers) {
        // The shared trunk's last output feeds both heads, so it gets the sum of their gradients.
        policyTrunk = trunkBackward(this.policyTrunk, policyHidden, tf.add(policyHead.dx(), valueHead.dx()));
      } else {
        policyTrunk = trunkBackward(this.policyTrunk, policyHidden, policyHead.dx());
        valueTrunk = trunkBackward(this.valueTrunk, valueHidden, valueHead.dx());
      }
      const flat = [
        ...policyTrunk,
        policyHead.dKernel,
        policyHead.dBias,
        ...valueTrunk,
        valueHead.dKernel,
        valueHead.dBias,
        ...(dLogStd ? [dLogStd] : []),
      ];
      return tf.concat(flat.map((g) => tf.reshape(g, [-1]) as tf.Tensor1D));
    };
    return { policyOut, values: tf.reshape(valueOut, [-1]), backward };
  }

  distribution(policyOut: tf.Tensor2D): CategoricalDistribution | DiagGaussianDistribution {
    return this.logStd
      ? new DiagGaussianDistribution(policyOut, this.logStd as tf.Tensor1D)
      : new CategoricalDistribution(policyOut);
  }

  getFlatWeights(): Float32Array {
    const flat = new Float32Array(this.layout.size);
    let offset = 0;
    for (const v of this.variables) {
      const values = v.dataSync() as Float32Array;
      flat.set(values, offset);
      offset += values.length;
    }
    return flat;
  }

  setFlatWeights(flat: Float32Array): void {
    if (flat.length !== this.layout.size) {
      throw new RangeError(
        `flat weights: expected ${this.layout.size} float32s for this network, got ${flat.length}`,
      );
    }
    let offset = 0;
    tf.tidy(() => {
      for (const v of this.variables) {
        v.assign(tf.tensor(flat.subarray(offset, offset + v.size), v.shape, "float32"));
        offset += v.size;
      }
    });
  }

  /** Frees the weights (the two models share layers, so disposing both models would free some twice). */
  dispose(): void {
    tf.dispose(this.variables);
  }
}
