/**
 * The learner: owns a model's variables and an Adam optimizer and takes gradient steps on a loss an
 * algorithm supplies. One `tf.variableGrads` per minibatch, global-norm gradient clipping, and Adam
 * written out here (as PyTorch's) so its state is plain data in the same flat layout as the weights.
 * Metrics stay on the backend as tensors until `MetricsAccumulator.read()`, so a minibatch loop never
 * waits on `dataSync`.
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
  private readonly m: tf.Variable;
  private readonly v: tf.Variable;
  private readonly size: number;
  private step = 0;

  constructor(
    readonly module: TrainableModule,
    private readonly options: LearnerOptions,
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.size = module.variables.reduce((n, x) => n + x.size, 0);
    this.m = tf.variable(tf.zeros([this.size]), false);
    this.v = tf.variable(tf.zeros([this.size]), false);
  }

  /**
   * One Adam step on `computeLoss()` at learning rate `lr`. Returns the loss's metrics plus
   * `grad_norm` (before clipping) as tensors the caller disposes (or hands to a MetricsAccumulator).
   * Clipping and Adam run once on all gradients concatenated into one flat vector: ~20 ops per step
   * whatever the number of layers, where per-variable updates cost ~15 ops per variable.
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
    return { ...metrics, grad_norm: gradNorm };
  }

  /**
   * One Adam step from a gradient already computed, in the module's flat layout (a hand-written backward
   * pass gives it directly). Returns the gradient's global norm before clipping. Call inside `tf.tidy`.
   */
  applyGradient(flatGradient: tf.Tensor1D, lr: number): tf.Scalar {
    if (flatGradient.size !== this.size) {
      throw new RangeError(`flat gradient: expected ${this.size} float32s, got ${flatGradient.size}`);
    }
    const variables = this.module.variables;
    this.step += 1;
    const { beta1, beta2 } = this;
    const bias1 = 1 - beta1 ** this.step;
    const bias2 = 1 - beta2 ** this.step;
    const norm = tf.sqrt(tf.sum(tf.square(flatGradient))) as tf.Scalar;
    // As torch.nn.utils.clip_grad_norm_: scale by clip / (norm + 1e-6) when that is below 1.
    const g =
      this.options.gradClip === null
        ? flatGradient
        : tf.mul(flatGradient, tf.minimum(tf.div(this.options.gradClip, tf.add(norm, 1e-6)), 1));
    const m = tf.add(tf.mul(this.m, beta1), tf.mul(g, 1 - beta1));
    const v = tf.add(tf.mul(this.v, beta2), tf.mul(tf.square(g), 1 - beta2));
    this.m.assign(m);
    this.v.assign(v);
    // PyTorch's form: w -= lr / bias1 * m / (sqrt(v) / sqrt(bias2) + eps).
    const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bias2)), this.options.adamEpsilon);
    const updated = tf.sub(flatConcat(variables), tf.mul(tf.div(m, denom), lr / bias1));
    const parts = tf.split(
      updated,
      variables.map((x) => x.size),
    );
    variables.forEach((x, i) => {
      x.assign(tf.reshape(parts[i], x.shape));
    });
    return norm;
  }

  getFlatWeights(): Float32Array {
    return this.module.getFlatWeights();
  }

  setFlatWeights(flat: Float32Array): void {
    this.module.setFlatWeights(flat);
  }

  getOptimizerState(): OptimizerState {
    return {
      step: this.step,
      m: (this.m.dataSync() as Float32Array).slice(),
      v: (this.v.dataSync() as Float32Array).slice(),
    };
  }

  setOptimizerState(state: OptimizerState): void {
    for (const [name, flat, variable] of [
      ["m", state.m, this.m],
      ["v", state.v, this.v],
    ] as const) {
      if (flat.length !== this.size) {
        throw new RangeError(`optimizer state ${name}: expected ${this.size} float32s, got ${flat.length}`);
      }
      tf.tidy(() => variable.assign(tf.tensor1d(flat, "float32")));
    }
    this.step = state.step;
  }

  dispose(): void {
    tf.dispose([this.m, this.v]);
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
