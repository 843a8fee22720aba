/**
 * Adam (Kingma & Ba 2015) with global-norm gradient clipping, as PyTorch's `clip_grad_norm_` + `Adam`,
 * written out in plain TypeScript on flat Float32Arrays in the module's flat weight layout: one pass over
 * the parameters, and no optimizer tensors on the backend. (As tfjs ops, Adam's flat temporaries,
 * interleaved with the loss's, fragmented the wasm heap until it ran out of memory: +0.5 MB per step at
 * 256x256.) It owns the module's weights: every change goes through `step` or `setFlatWeights`.
 */
import * as tf from "@tensorflow/tfjs";
import type { TrainableModule } from "../models/rl_module.js";

/** A flat vector (gradient, weights, moments) must hold the module's `size` floats. */
export function checkFlatSize(what: string, length: number, size: number): void {
  if (length !== size) throw new RangeError(`${what}: expected ${size} float32s, got ${length}`);
}

export interface AdamOptions {
  adamEpsilon: number;
  /** Global gradient-norm clip, or null for none. */
  gradClip: number | null;
  beta1?: number;
  beta2?: number;
}

/** Adam's moments in the module's flat layout, and its step count: what a checkpoint stores. */
export interface OptimizerState {
  step: number;
  m: Float32Array;
  v: Float32Array;
}

/**
 * What a learner trains its module with: `Adam` (weights and moments on the host) or `BackendAdam` (on the
 * tfjs backend). Both own the module's weights: every change goes through them.
 */
export interface FlatOptimizer {
  /** One step from the flat gradient; returns its global norm before clipping (a read of the backend). */
  step(flatGradient: tf.Tensor1D, lr: number): number;
  /** The same step, with the norm left on the backend as a `[1]` tensor (no read). */
  stepTensor(flatGradient: tf.Tensor1D, lr: number): tf.Tensor1D;
  /** The module's weights in the flat layout, read-only: the next step changes them. */
  readonly weights: Readonly<Float32Array>;
  getFlatWeights(): Float32Array;
  setFlatWeights(flat: Float32Array): void;
  getOptimizerState(): OptimizerState;
  setOptimizerState(state: OptimizerState): void;
  dispose(): void;
}

/** The non-finite gradient refusal, the same for both optimizers (and a learner reading BackendAdam's norm). */
export function nonFiniteNormError(norm: number): RangeError {
  return new RangeError(
    `learners/grad_norm is ${norm}: the loss or its inputs are not finite; training stops, and no non-finite step changed the weights`,
  );
}

export class Adam implements FlatOptimizer {
  private readonly beta1: number;
  private readonly beta2: number;
  /** Adam's moments for all variables as one flat vector each, in the module's flat layout. */
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  /** The module's weights, kept here so a step does not read them back from the backend. */
  private readonly flat: Float32Array;
  private readonly size: number;
  private numSteps = 0;

  constructor(
    readonly module: TrainableModule,
    private readonly options: AdamOptions,
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.size = module.variables.reduce((n, x) => n + x.size, 0);
    this.m = new Float32Array(this.size);
    this.v = new Float32Array(this.size);
    this.flat = module.getFlatWeights();
  }

  /**
   * One Adam step from a gradient already computed, in the module's flat layout (a hand-written backward
   * pass gives it directly). Returns the gradient's global norm before clipping.
   */
  step(flatGradient: tf.Tensor1D, lr: number): number {
    checkFlatSize("flat gradient", flatGradient.size, this.size);
    const gradient = flatGradient.dataSync() as Float32Array;
    const { beta1, beta2, m, v, flat: weights } = this;
    this.numSteps += 1;
    let squares = 0;
    for (let i = 0; i < gradient.length; i++) squares += gradient[i] * gradient[i];
    const norm = Math.sqrt(squares);
    // Refused before any weight moves, so the module (and every checkpoint written from it) stays good.
    if (!Number.isFinite(norm)) throw nonFiniteNormError(norm);
    // As torch.nn.utils.clip_grad_norm_: scale by clip / (norm + 1e-6) when that is below 1.
    const clip = this.options.gradClip;
    const scale = clip === null ? 1 : Math.min(clip / (norm + 1e-6), 1);
    // PyTorch's form: w -= lr / bias1 * m / (sqrt(v) / sqrt(bias2) + eps).
    const stepSize = lr / (1 - beta1 ** this.numSteps);
    const sqrtBias2 = Math.sqrt(1 - beta2 ** this.numSteps);
    const eps = this.options.adamEpsilon;
    for (let i = 0; i < weights.length; i++) {
      const g = gradient[i] * scale;
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      weights[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / sqrtBias2 + eps);
    }
    this.module.setFlatWeights(weights);
    return norm;
  }

  stepTensor(flatGradient: tf.Tensor1D, lr: number): tf.Tensor1D {
    return tf.tensor1d([this.step(flatGradient, lr)]);
  }

  /** The module's weights in the flat layout, read-only: the next step changes them. */
  get weights(): Readonly<Float32Array> {
    return this.flat;
  }

  /** A copy of the module's weights in the flat layout. */
  getFlatWeights(): Float32Array {
    return this.flat.slice();
  }

  /** Sets the module's weights: always through here, so the learner's copy stays the module's. */
  setFlatWeights(flat: Float32Array): void {
    this.module.setFlatWeights(flat);
    this.flat.set(flat);
  }

  getOptimizerState(): OptimizerState {
    return { step: this.numSteps, m: this.m.slice(), v: this.v.slice() };
  }

  setOptimizerState(state: OptimizerState): void {
    for (const [name, flat, moments] of [
      ["m", state.m, this.m],
      ["v", state.v, this.v],
    ] as const) {
      checkFlatSize(`optimizer state ${name}`, flat.length, this.size);
      moments.set(flat);
    }
    this.numSteps = state.step;
  }

  dispose(): void {
    this.module.dispose();
  }
}

/**
 * Adam on the backend: the moments are tfjs variables beside the module's, and a step is tfjs ops from
 * the flat gradient to every variable's `assign`, with nothing read back; the weights are read once when
 * asked for (to publish them). What a GPU or native backend wants: on wasm and cpu the host `Adam` is
 * faster (no op dispatch per variable) and keeps the wasm heap from fragmenting. A step whose gradient
 * norm is not finite leaves weights and moments as they were (a `where` on the backend); the learner
 * reads the norm with its metrics and stops there, like `Adam`.
 */
export class BackendAdam implements FlatOptimizer {
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  /** Each variable's size, and their sum (the flat layout's length). */
  private readonly sizes: number[];
  private readonly size: number;
  private numSteps = 0;
  /** The weights as last read, until the next step or set. */
  private readBack: Float32Array | null = null;

  constructor(
    readonly module: TrainableModule,
    private readonly options: AdamOptions,
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    // In a tidy, so the zeros the variables start from are freed.
    this.m = tf.tidy(() => module.variables.map((w) => tf.variable(tf.zerosLike(w), false)));
    this.v = tf.tidy(() => module.variables.map((w) => tf.variable(tf.zerosLike(w), false)));
    this.sizes = module.variables.map((w) => w.size);
    this.size = this.sizes.reduce((a, b) => a + b, 0);
  }

  step(flatGradient: tf.Tensor1D, lr: number): number {
    const norm = this.stepTensor(flatGradient, lr);
    const value = norm.dataSync()[0];
    norm.dispose();
    if (!Number.isFinite(value)) throw nonFiniteNormError(value);
    return value;
  }

  stepTensor(flatGradient: tf.Tensor1D, lr: number): tf.Tensor1D {
    checkFlatSize("flat gradient", flatGradient.size, this.size);
    const { beta1, beta2 } = this;
    this.numSteps += 1;
    this.readBack = null;
    const stepSize = lr / (1 - beta1 ** this.numSteps);
    const sqrtBias2 = Math.sqrt(1 - beta2 ** this.numSteps);
    const clip = this.options.gradClip;
    return tf.tidy(() => {
      const norm = tf.sqrt(tf.sum(tf.square(flatGradient)));
      const finite = tf.isFinite(norm);
      // As torch.nn.utils.clip_grad_norm_: scale by clip / (norm + 1e-6) when that is below 1.
      const scale = clip === null ? tf.scalar(1) : tf.minimum(tf.div(clip, tf.add(norm, 1e-6)), 1);
      const grads = tf.split(flatGradient, this.sizes);
      this.module.variables.forEach((w, i) => {
        const g = tf.mul(tf.reshape(grads[i], w.shape), scale);
        const m = tf.add(tf.mul(this.m[i], beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(this.v[i], beta2), tf.mul(tf.square(g), 1 - beta2));
        const update = tf.div(
          tf.mul(m, stepSize),
          tf.add(tf.div(tf.sqrt(v), sqrtBias2), this.options.adamEpsilon),
        );
        // A non-finite step moves nothing: weights and moments keep their values.
        this.m[i].assign(tf.where(finite, m, this.m[i]));
        this.v[i].assign(tf.where(finite, v, this.v[i]));
        w.assign(tf.where(finite, tf.sub(w, update), w));
      });
      return tf.reshape(norm, [1]) as tf.Tensor1D;
    });
  }

  get weights(): Readonly<Float32Array> {
    this.readBack ??= readFlat(this.module.variables);
    return this.readBack;
  }

  getFlatWeights(): Float32Array {
    return this.weights.slice();
  }

  setFlatWeights(flat: Float32Array): void {
    this.module.setFlatWeights(flat);
    this.readBack = null;
  }

  getOptimizerState(): OptimizerState {
    return { step: this.numSteps, m: readFlat(this.m), v: readFlat(this.v) };
  }

  setOptimizerState(state: OptimizerState): void {
    for (const [name, flat, moments] of [
      ["m", state.m, this.m],
      ["v", state.v, this.v],
    ] as const) {
      checkFlatSize(`optimizer state ${name}`, flat.length, this.size);
      let offset = 0;
      tf.tidy(() => {
        moments.forEach((variable) => {
          variable.assign(tf.tensor(flat.subarray(offset, offset + variable.size), variable.shape));
          offset += variable.size;
        });
      });
    }
    this.numSteps = state.step;
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
    this.module.dispose();
  }
}

/** Variables in order as one flat Float32Array, in one read of the backend. */
function readFlat(variables: readonly tf.Variable[]): Float32Array {
  const flat = tf.tidy(() => tf.concat(variables.map((x) => tf.reshape(x, [-1]))));
  const data = flat.dataSync() as Float32Array;
  flat.dispose();
  return data;
}
