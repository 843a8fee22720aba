/**
 * The learner: owns a model's variables and an Adam optimizer and takes gradient steps on a loss an
 * algorithm supplies. Global-norm gradient clipping and Adam are written out here (as PyTorch's) in plain
 * TypeScript on flat Float32Arrays, in the same flat layout as the weights: one pass over the parameters,
 * and no optimizer tensors on the backend. (As tfjs ops, Adam's flat temporaries, interleaved with the
 * loss's, fragmented the wasm heap until it ran out of memory: +0.5 MB per step at 256x256.)
 * Metrics stay on the backend as tensors until `MetricsAccumulator.read()`.
 */
import * as tf from "@tensorflow/tfjs";

/** What the learner trains: a model whose variables map to one flat Float32Array. */
export interface TrainableModule {
  readonly variables: tf.Variable[];
  getFlatWeights(): Float32Array;
  setFlatWeights(flat: Float32Array): void;
  dispose(): void;
}

/** A loss for one minibatch, and scalars worth logging (kept alive past the gradient tape). */
export interface LossResult {
  loss: tf.Scalar;
  metrics: Record<string, tf.Scalar>;
}

export interface LearnerOptions {
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

export class Learner {
  private readonly beta1: number;
  private readonly beta2: number;
  /** Adam's moments for all variables as one flat vector each, in the module's flat layout. */
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  /** The module's weights, kept here so a step does not read them back from the backend. */
  private readonly weights: Float32Array;
  private readonly size: number;
  private step = 0;

  constructor(
    readonly module: TrainableModule,
    private readonly options: LearnerOptions,
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.size = module.variables.reduce((n, x) => n + x.size, 0);
    this.m = new Float32Array(this.size);
    this.v = new Float32Array(this.size);
    this.weights = module.getFlatWeights();
  }

  /**
   * One Adam step on `computeLoss()` at learning rate `lr`. Returns the loss's metrics plus
   * `grad_norm` (before clipping) as tensors the caller disposes (or hands to a MetricsAccumulator).
   * Autodiff through `tf.variableGrads`, for losses without a hand-derived gradient; the gradients are
   * concatenated into one flat vector for `applyGradient`.
   */
  update(computeLoss: () => LossResult, lr: number): Record<string, tf.Scalar> {
    let metrics: Record<string, tf.Scalar> = {};
    const variables = this.module.variables;
    const { value, grads } = tf.variableGrads(() => {
      const result = computeLoss();
      metrics = Object.fromEntries(Object.entries(result.metrics).map(([k, t]) => [k, tf.keep(t)]));
      return result.loss;
    }, variables);
    const gradNorm = tf.tidy(() => this.applyGradient(flatConcat(variables.map((x) => grads[x.name])), lr));
    tf.dispose([value, ...Object.values(grads)]);
    return { ...metrics, grad_norm: tf.scalar(gradNorm) };
  }

  /**
   * One Adam step from a gradient already computed, in the module's flat layout (a hand-written backward
   * pass gives it directly). Returns the gradient's global norm before clipping.
   */
  applyGradient(flatGradient: tf.Tensor1D, lr: number): number {
    if (flatGradient.size !== this.size) {
      throw new RangeError(`flat gradient: expected ${this.size} float32s, got ${flatGradient.size}`);
    }
    const gradient = flatGradient.dataSync() as Float32Array;
    const { beta1, beta2, m, v, weights } = this;
    this.step += 1;
    let squares = 0;
    for (let i = 0; i < gradient.length; i++) squares += gradient[i] * gradient[i];
    const norm = Math.sqrt(squares);
    // As torch.nn.utils.clip_grad_norm_: scale by clip / (norm + 1e-6) when that is below 1.
    const clip = this.options.gradClip;
    const scale = clip === null ? 1 : Math.min(clip / (norm + 1e-6), 1);
    // PyTorch's form: w -= lr / bias1 * m / (sqrt(v) / sqrt(bias2) + eps).
    const stepSize = lr / (1 - beta1 ** this.step);
    const sqrtBias2 = Math.sqrt(1 - beta2 ** this.step);
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

  /** A copy of the module's weights in the flat layout. */
  getFlatWeights(): Float32Array {
    return this.weights.slice();
  }

  /** Sets the module's weights: always through here, so the learner's copy stays the module's. */
  setFlatWeights(flat: Float32Array): void {
    this.module.setFlatWeights(flat);
    this.weights.set(flat);
  }

  getOptimizerState(): OptimizerState {
    return { step: this.step, m: this.m.slice(), v: this.v.slice() };
  }

  setOptimizerState(state: OptimizerState): void {
    for (const [name, flat, moments] of [
      ["m", state.m, this.m],
      ["v", state.v, this.v],
    ] as const) {
      if (flat.length !== this.size) {
        throw new RangeError(`optimizer state ${name}: expected ${this.size} float32s, got ${flat.length}`);
      }
      moments.set(flat);
    }
    this.step = state.step;
  }

  dispose(): void {
    this.module.dispose();
  }
}

/** The tensors flattened and concatenated, in order, into one vector. */
function flatConcat(tensors: tf.Tensor[]): tf.Tensor1D {
  return tf.concat(tensors.map((t) => tf.reshape(t, [-1]) as tf.Tensor1D));
}

/**
 * Sums metrics over minibatches on the backend as one packed vector (one add per minibatch whatever the
 * number of metrics); `read()` fetches their means in one transfer. Every minibatch reports the same names.
 */
export class MetricsAccumulator {
  private names: readonly string[] = [];
  private sum: tf.Tensor1D | null = null;
  private count = 0;

  /** Takes ownership of `metrics` (they are disposed here). */
  add(metrics: Record<string, tf.Scalar>): void {
    const names = Object.keys(metrics);
    const packed = tf.tidy(() => tf.stack(names.map((n) => metrics[n])) as tf.Tensor1D);
    tf.dispose(Object.values(metrics));
    this.addPacked(names, packed);
  }

  /** Metric `names[i]` is `values[i]`; takes ownership of `values`. */
  addPacked(names: readonly string[], values: tf.Tensor1D): void {
    if (this.sum === null) {
      this.names = names;
      this.sum = values;
    } else {
      if (names.join() !== this.names.join()) {
        throw new Error(`metrics: expected the names [${this.names}] of earlier minibatches, got [${names}]`);
      }
      const previous = this.sum;
      this.sum = tf.tidy(() => tf.add(previous, values) as tf.Tensor1D);
      tf.dispose([previous, values]);
    }
    this.count += 1;
  }

  /** Means since the last read, then starts over. */
  read(): Record<string, number> {
    if (this.sum === null) return {};
    const values = this.sum.dataSync();
    this.sum.dispose();
    const means = Object.fromEntries(this.names.map((n, i) => [n, values[i] / this.count]));
    this.sum = null;
    this.count = 0;
    return means;
  }
}
