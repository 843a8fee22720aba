/**
 * Adam (Kingma & Ba 2015) with global-norm gradient clipping, as PyTorch's `clip_grad_norm_` + `Adam`,
 * written out in plain TypeScript on flat Float32Arrays in the module's flat weight layout: one pass over
 * the parameters, and no optimizer tensors on the backend. (As tfjs ops, Adam's flat temporaries,
 * interleaved with the loss's, fragmented the wasm heap until it ran out of memory: +0.5 MB per step at
 * 256x256.) It owns the module's weights: every change goes through `step` or `setFlatWeights`.
 */
import type * as tf from "@tensorflow/tfjs";
import type { TrainableModule } from "../models/rl_module.js";

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

export class Adam {
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
    if (flatGradient.size !== this.size) {
      throw new RangeError(`flat gradient: expected ${this.size} float32s, got ${flatGradient.size}`);
    }
    const gradient = flatGradient.dataSync() as Float32Array;
    const { beta1, beta2, m, v, flat: weights } = this;
    this.numSteps += 1;
    let squares = 0;
    for (let i = 0; i < gradient.length; i++) squares += gradient[i] * gradient[i];
    const norm = Math.sqrt(squares);
    if (!Number.isFinite(norm)) {
      // Refused before any weight moves, so the module (and every checkpoint written from it) stays good.
      throw new RangeError(
        `learners/grad_norm is ${norm}: the loss or its inputs are not finite; training stops, the weights are left as they were`,
      );
    }
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
      if (flat.length !== this.size) {
        throw new RangeError(`optimizer state ${name}: expected ${this.size} float32s, got ${flat.length}`);
      }
      moments.set(flat);
    }
    this.numSteps = state.step;
  }

  dispose(): void {
    this.module.dispose();
  }
}
