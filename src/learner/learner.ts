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
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private step = 0;

  constructor(
    readonly module: TrainableModule,
    private readonly options: LearnerOptions,
  ) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.m = module.variables.map((x) => tf.variable(tf.zerosLike(x), false));
    this.v = module.variables.map((x) => tf.variable(tf.zerosLike(x), false));
  }

  /**
   * One Adam step on `computeLoss()` at learning rate `lr`. Returns the loss's metrics plus
   * `grad_norm` (before clipping) as tensors the caller disposes (or hands to a MetricsAccumulator).
   */
  update(computeLoss: () => LossResult, lr: number): Record<string, tf.Scalar> {
    let metrics: Record<string, tf.Scalar> = {};
    const { value, grads } = tf.variableGrads(() => {
      const result = computeLoss();
      metrics = Object.fromEntries(Object.entries(result.metrics).map(([k, t]) => [k, tf.keep(t)]));
      return result.loss;
    }, this.module.variables);
    this.step += 1;
    const bias1 = 1 - this.beta1 ** this.step;
    const bias2 = 1 - this.beta2 ** this.step;
    const gradNorm = tf.tidy(() => {
      const gradients = this.module.variables.map((x) => grads[x.name]);
      const norm = tf.sqrt(tf.addN(gradients.map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
      // As torch.nn.utils.clip_grad_norm_: scale by clip / (norm + 1e-6) when that is below 1.
      const scale =
        this.options.gradClip === null
          ? null
          : tf.minimum(tf.div(this.options.gradClip, tf.add(norm, 1e-6)), 1);
      gradients.forEach((raw, i) => {
        const g = scale ? tf.mul(raw, scale) : raw;
        const m = tf.add(tf.mul(this.m[i], this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(this.v[i], this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bias2)), this.options.adamEpsilon);
        this.module.variables[i].assign(
          tf.sub(this.module.variables[i], tf.mul(tf.div(m, denom), lr / bias1)),
        );
      });
      return norm;
    });
    tf.dispose([value, ...Object.values(grads)]);
    return { ...metrics, grad_norm: gradNorm };
  }

  getFlatWeights(): Float32Array {
    return this.module.getFlatWeights();
  }

  setFlatWeights(flat: Float32Array): void {
    this.module.setFlatWeights(flat);
  }

  getOptimizerState(): OptimizerState {
    return { step: this.step, m: flatten(this.m), v: flatten(this.v) };
  }

  setOptimizerState(state: OptimizerState): void {
    unflattenInto(this.m, state.m, "optimizer state m");
    unflattenInto(this.v, state.v, "optimizer state v");
    this.step = state.step;
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
    this.module.dispose();
  }
}

function flatten(variables: tf.Variable[]): Float32Array {
  const flat = new Float32Array(variables.reduce((n, x) => n + x.size, 0));
  let offset = 0;
  for (const x of variables) {
    flat.set(x.dataSync() as Float32Array, offset);
    offset += x.size;
  }
  return flat;
}

function unflattenInto(variables: tf.Variable[], flat: Float32Array, what: string): void {
  const size = variables.reduce((n, x) => n + x.size, 0);
  if (flat.length !== size) throw new RangeError(`${what}: expected ${size} float32s, got ${flat.length}`);
  let offset = 0;
  tf.tidy(() => {
    for (const x of variables) {
      x.assign(tf.tensor(flat.subarray(offset, offset + x.size), x.shape, "float32"));
      offset += x.size;
    }
  });
}

/** Sums metric scalars over minibatches on the backend; `read()` fetches their means in one transfer. */
export class MetricsAccumulator {
  private sums: Record<string, tf.Scalar> = {};
  private count = 0;

  /** Takes ownership of `metrics` (they are disposed here). */
  add(metrics: Record<string, tf.Scalar>): void {
    for (const [name, value] of Object.entries(metrics)) {
      const previous = this.sums[name];
      this.sums[name] = previous ? tf.tidy(() => tf.add(previous, value)) : value;
      if (previous) tf.dispose([previous, value]);
    }
    this.count += 1;
  }

  /** Means since the last read, then starts over. */
  read(): Record<string, number> {
    const names = Object.keys(this.sums);
    if (names.length === 0) return {};
    const packed = tf.tidy(() => tf.stack(names.map((n) => this.sums[n])));
    const values = packed.dataSync();
    tf.dispose([packed, ...Object.values(this.sums)]);
    const means = Object.fromEntries(names.map((n, i) => [n, values[i] / this.count]));
    this.sums = {};
    this.count = 0;
    return means;
  }
}
