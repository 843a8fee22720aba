/**
 * The one MLP definition every RLModule is built from: a tower is a chain of dense layers, and a module is
 * a few towers, each reading the observation or another tower's output (an actor-critic's two trunks, or
 * a shared trunk with two one-layer heads; a Q network's encoder with its advantage and value streams).
 *
 * This file owns what all of them share: the layer shapes, CleanRL's orthogonal initialisation, the flat
 * weight layout (per tower, per layer: kernel `[in, out]` row-major then bias `[out]`, towers in order),
 * and the tfjs forward and hand-written backward pass over a set of towers.
 */
import * as tf from "@tensorflow/tfjs";
import { createRng, normal, type Rng } from "../utils/rng.js";
import {
  type Activation,
  chainBackward,
  chainForward,
  chainInputGradient,
  type DenseVariables,
  denseLayer,
} from "./dense.js";

export interface DenseShape {
  inDim: number;
  outDim: number;
}

/** One chain of dense layers. */
export interface TowerSpec {
  /** Names the tower in exported layers and error messages. */
  name: string;
  /** -1: the observation; otherwise the index of an earlier tower whose output this one reads. */
  input: number;
  layers: DenseShape[];
  /** True: every layer has the hidden activation (a trunk); false: the last layer is linear (a head). */
  activateLast: boolean;
  /** Orthogonal-init gain of the last layer (the hidden layers get sqrt(2), as CleanRL). */
  outputGain: number;
}

/** `[inDim] -> units[0] -> ... -> units[k-1]` as dense layer shapes. */
export function chainShapes(inDim: number, units: number[]): DenseShape[] {
  return units.map((outDim, i) => ({ inDim: i === 0 ? inDim : units[i - 1], outDim }));
}

function denseSize({ inDim, outDim }: DenseShape): number {
  return inDim * outDim + outDim;
}

/** Float32s of the towers' weights in the flat layout. */
export function towersSize(towers: readonly TowerSpec[]): number {
  return towers.reduce((n, tower) => n + tower.layers.reduce((m, d) => m + denseSize(d), 0), 0);
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

/**
 * The towers' initial weights at the start of `flat`, drawn from `rngName`: orthogonal kernels (gain
 * sqrt(2) for hidden layers, the tower's `outputGain` for its last), zero biases. Returns the offset after them.
 */
export function initTowers(flat: Float32Array, towers: readonly TowerSpec[], rngName: string): number {
  const rng = createRng(rngName);
  let offset = 0;
  for (const tower of towers) {
    tower.layers.forEach((shape, i) => {
      const gain = i === tower.layers.length - 1 ? tower.outputGain : Math.SQRT2;
      flat.set(orthogonalKernel(shape.inDim, shape.outDim, gain, rng), offset);
      offset += denseSize(shape); // the bias stays zero
    });
  }
  return offset;
}

/** A dense layer's kernel and bias as views into flat weights. */
export interface DenseView {
  shape: DenseShape;
  kernel: Float32Array;
  bias: Float32Array;
}

/** Views of every tower's layers into `flat` (tower by tower, layout order). */
export function towerViews(towers: readonly TowerSpec[], flat: Float32Array): DenseView[][] {
  let offset = 0;
  return towers.map((tower) =>
    tower.layers.map((shape) => {
      const kernel = flat.subarray(offset, offset + shape.inDim * shape.outDim);
      offset += kernel.length;
      const bias = flat.subarray(offset, offset + shape.outDim);
      offset += bias.length;
      return { shape, kernel, bias };
    }),
  );
}

/**
 * The towers on tfjs variables: forward passes for autodiff (`forward`) and without it, with the gradient
 * of every weight derived by hand (`forwardWithBackward`): on wasm one `tf.variableGrads` tape costs more
 * than the whole update of a small network.
 */
export class MlpTowers {
  /** Per tower, per layer. */
  readonly dense: DenseVariables[][];
  /** Kernel then bias per layer, towers in order: the flat layout. */
  readonly variables: tf.Variable[];

  constructor(
    readonly towers: readonly TowerSpec[],
    readonly activation: Activation,
    trainable: boolean,
  ) {
    this.dense = towers.map((tower) =>
      tower.layers.map((shape) => ({
        kernel: tf.variable(tf.zeros([shape.inDim, shape.outDim]), trainable),
        bias: tf.variable(tf.zeros([shape.outDim]), trainable),
      })),
    );
    this.variables = this.dense.flat().flatMap((d) => [d.kernel, d.bias]);
  }

  /**
   * Every tower's output through autodiff-capable ops (the reference the hand-derived pass is tested
   * against). `inputNeedsGrad`: the gradient flows into `obs` too (an input computed from other
   * variables, such as SAC's actions into its critics); otherwise the first layers skip it.
   */
  forward(obs: tf.Tensor2D, inputNeedsGrad = false): tf.Tensor2D[] {
    const outputs: tf.Tensor2D[] = [];
    this.towers.forEach((tower, t) => {
      const input = tower.input < 0 ? obs : outputs[tower.input];
      const layers = this.dense[t];
      outputs.push(
        layers.reduce(
          (h, d, i) =>
            denseLayer(
              h,
              d,
              !tower.activateLast && i === layers.length - 1 ? "linear" : this.activation,
              inputNeedsGrad || h !== obs,
            ),
          input,
        ),
      );
    });
    return outputs;
  }

  /**
   * Every tower's output without autodiff, and `backward`, which takes dLoss/d(output) of the towers that
   * have one (null for the others) and returns the gradient of every weight in the flat layout;
   * `backwardWithInput` returns dLoss/d(the input) too (an input computed from other weights: a CNN's
   * features), `inputGradient` that alone (through towers the loss does not train).
   */
  forwardWithBackward(obs: tf.Tensor2D): {
    outputs: tf.Tensor2D[];
    backward: (dOutputs: (tf.Tensor2D | null)[]) => tf.Tensor1D;
    backwardWithInput: (dOutputs: (tf.Tensor2D | null)[]) => { grads: tf.Tensor1D; dInput: tf.Tensor2D };
    inputGradient: (dOutputs: (tf.Tensor2D | null)[]) => tf.Tensor2D;
  } {
    const activations = this.towers.map(() => [] as tf.Tensor2D[]);
    const inputs: tf.Tensor2D[] = [];
    this.towers.forEach((tower, t) => {
      inputs.push(tower.input < 0 ? obs : activations[tower.input].at(-1)!);
      activations[t] = chainForward(inputs[t], this.dense[t], this.activation, tower.activateLast);
    });
    const backprop = (dOutputs: (tf.Tensor2D | null)[], inputNeedsGrad: boolean) => {
      // Towers read only earlier towers, so going backwards every tower's dOut is complete when reached.
      const dOut = [...dOutputs];
      const grads: tf.Tensor[][] = this.towers.map(() => []);
      let dInput: tf.Tensor2D | null = null;
      for (let t = this.towers.length - 1; t >= 0; t--) {
        const tower = this.towers[t];
        const dy = dOut[t];
        if (!dy) {
          grads[t] = this.dense[t].flatMap((d) => [tf.zerosLike(d.kernel), tf.zerosLike(d.bias)]);
          continue;
        }
        const result = chainBackward(inputs[t], this.dense[t], activations[t], dy, this.activation, {
          activateLast: tower.activateLast,
          inputNeedsGrad: tower.input >= 0 || inputNeedsGrad,
        });
        grads[t] = result.grads;
        if (result.dInput && tower.input < 0) {
          dInput = dInput ? (tf.add(dInput, result.dInput) as tf.Tensor2D) : result.dInput;
        } else if (result.dInput) {
          const parent = dOut[tower.input];
          dOut[tower.input] = parent ? (tf.add(parent, result.dInput) as tf.Tensor2D) : result.dInput;
        }
      }
      return { grads: tf.concat(grads.flat().map((g) => tf.reshape(g, [-1]) as tf.Tensor1D)), dInput };
    };
    const backward = (dOutputs: (tf.Tensor2D | null)[]) => backprop(dOutputs, false).grads;
    const backwardWithInput = (dOutputs: (tf.Tensor2D | null)[]) => {
      const { grads, dInput } = backprop(dOutputs, true);
      return { grads, dInput: dInput ?? tf.zerosLike(obs) };
    };
    const inputGradient = (dOutputs: (tf.Tensor2D | null)[]) => {
      const dOut = [...dOutputs];
      let dInput: tf.Tensor2D = tf.zerosLike(obs);
      for (let t = this.towers.length - 1; t >= 0; t--) {
        const dy = dOut[t];
        if (!dy) continue;
        const tower = this.towers[t];
        const dx = chainInputGradient(this.dense[t], activations[t], dy, this.activation, tower.activateLast);
        if (tower.input < 0) dInput = tf.add(dInput, dx) as tf.Tensor2D;
        else {
          const parent = dOut[tower.input];
          dOut[tower.input] = parent ? (tf.add(parent, dx) as tf.Tensor2D) : dx;
        }
      }
      return dInput;
    };
    return { outputs: activations.map((a) => a.at(-1)!), backward, backwardWithInput, inputGradient };
  }
}
