/**
 * The actor-critic's forward pass in plain TypeScript, reading the flat weights (layout in network.ts).
 * Rollouts run the policy on 1-64 observations at a time, where tfjs spends more time dispatching ops
 * than computing; these loops over typed arrays do the same arithmetic with no per-op cost.
 */
import { createRng, normal, type Rng } from "../utils/rng.js";
import {
  type DenseShape,
  type NetworkLayout,
  networkLayout,
  type PolicySpec,
  policyOutDim,
} from "./network.js";

const LOG_2PI = Math.log(2 * Math.PI);

interface Dense {
  shape: DenseShape;
  kernel: Float32Array;
  bias: Float32Array;
}

/** Outputs of `act`, written into arrays the caller owns: row i belongs to observation i. */
export interface ActOutputs {
  /** `[batch * actionDim]`: a class index (Discrete) or the raw, unclipped Gaussian sample (Box). */
  actions: Float32Array;
  logp: Float32Array;
  values: Float32Array;
}

export class PolicyInference {
  readonly layout: NetworkLayout;
  /** Numbers per action: 1 for Discrete, the Box size otherwise. */
  readonly actionDim: number;
  private readonly weights: Float32Array;
  private readonly policyTrunk: Dense[];
  private readonly policyHead: Dense;
  private readonly valueTrunk: Dense[];
  private readonly valueHead: Dense;
  private readonly logStd: Float32Array;
  private rng: Rng;
  // Scratch activations, grown to the largest batch seen.
  private capacity = 0;
  private hiddenA = new Float32Array(0);
  private hiddenB = new Float32Array(0);
  private policyOut = new Float32Array(0);

  constructor(
    readonly spec: PolicySpec,
    seed: number | string,
  ) {
    this.layout = networkLayout(spec);
    this.actionDim = spec.action.kind === "categorical" ? 1 : spec.action.dim;
    this.weights = new Float32Array(this.layout.size);
    this.rng = createRng(seed);
    let offset = 0;
    const view = (shape: DenseShape): Dense => {
      const kernel = this.weights.subarray(offset, offset + shape.inDim * shape.outDim);
      offset += kernel.length;
      const bias = this.weights.subarray(offset, offset + shape.outDim);
      offset += bias.length;
      return { shape, kernel, bias };
    };
    this.policyTrunk = this.layout.policyTrunk.map(view);
    this.policyHead = view(this.layout.policyHead);
    this.valueTrunk = this.layout.valueTrunk.map(view);
    this.valueHead = view(this.layout.valueHead);
    this.logStd = this.weights.subarray(offset, offset + this.layout.logStdDim);
  }

  setWeights(flat: Float32Array): void {
    if (flat.length !== this.layout.size) {
      throw new RangeError(
        `flat weights: expected ${this.layout.size} float32s for this network, got ${flat.length}`,
      );
    }
    this.weights.set(flat);
  }

  /** The action-sampling generator's state, for checkpoints. */
  rngState(): object {
    return this.rng.state();
  }

  setRngState(state: object): void {
    this.rng = createRng(undefined, state);
  }

  /**
   * Actions for `batch` observations (`obs`: `[batch * obsDim]`), their log-probabilities and the values.
   * `greedy` takes the most likely action (argmax / the mean) instead of sampling.
   */
  act(obs: Float32Array, batch: number, greedy: boolean, out: ActOutputs): void {
    this.ensureCapacity(batch);
    const outDim = policyOutDim(this.spec.action);
    const hidden = this.runTrunk(obs, batch, this.policyTrunk);
    denseForward(hidden, batch, this.policyHead, this.policyOut, false, false);
    if (this.spec.vfShareLayers) denseForward(hidden, batch, this.valueHead, out.values, false, false);
    else this.values(obs, batch, out.values);
    for (let b = 0; b < batch; b++) {
      const row = this.policyOut.subarray(b * outDim, (b + 1) * outDim);
      if (this.spec.action.kind === "categorical") this.categorical(row, greedy, out, b);
      else this.gaussian(row, greedy, out, b);
    }
  }

  /** Values only (`out`: `[batch]`), e.g. V(final observation) for truncated episodes. */
  values(obs: Float32Array, batch: number, out: Float32Array): void {
    this.ensureCapacity(batch);
    const hidden = this.runTrunk(obs, batch, this.spec.vfShareLayers ? this.policyTrunk : this.valueTrunk);
    denseForward(hidden, batch, this.valueHead, out, false, false);
  }

  private categorical(logits: Float32Array, greedy: boolean, out: ActOutputs, b: number): void {
    let max = Number.NEGATIVE_INFINITY;
    let argmax = 0;
    for (let k = 0; k < logits.length; k++) {
      if (logits[k] > max) {
        max = logits[k];
        argmax = k;
      }
    }
    let sumExp = 0;
    for (let k = 0; k < logits.length; k++) sumExp += Math.exp(logits[k] - max);
    let action = argmax;
    if (!greedy) {
      // Inverse CDF: the first class whose cumulative probability passes u.
      let u = this.rng() * sumExp;
      action = logits.length - 1;
      for (let k = 0; k < logits.length; k++) {
        u -= Math.exp(logits[k] - max);
        if (u < 0) {
          action = k;
          break;
        }
      }
    }
    out.actions[b] = action;
    out.logp[b] = logits[action] - max - Math.log(sumExp);
  }

  private gaussian(mean: Float32Array, greedy: boolean, out: ActOutputs, b: number): void {
    const dim = mean.length;
    let logp = -0.5 * dim * LOG_2PI;
    for (let k = 0; k < dim; k++) {
      const z = greedy ? 0 : normal(this.rng);
      out.actions[b * dim + k] = mean[k] + z * Math.exp(this.logStd[k]);
      logp -= 0.5 * z * z + this.logStd[k];
    }
    out.logp[b] = logp;
  }

  /** Runs `trunk` on `obs`, ping-ponging between the two scratch buffers; returns the last activations. */
  private runTrunk(obs: Float32Array, batch: number, trunk: Dense[]): Float32Array {
    let input = obs;
    trunk.forEach((layer, i) => {
      const output = i % 2 === 0 ? this.hiddenA : this.hiddenB;
      denseForward(input, batch, layer, output, true, this.spec.activation === "relu");
      input = output;
    });
    return input;
  }

  private ensureCapacity(batch: number): void {
    if (batch <= this.capacity) return;
    const widest = Math.max(...this.spec.hiddens);
    this.capacity = batch;
    this.hiddenA = new Float32Array(batch * widest);
    this.hiddenB = new Float32Array(batch * widest);
    this.policyOut = new Float32Array(batch * policyOutDim(this.spec.action));
  }
}

/**
 * `output[b, o] = act(bias[o] + sum_i input[b, i] * kernel[i, o])`; kernel rows are read contiguously,
 * so the inner loop walks memory in order. `activate` applies tanh, or relu when `relu`.
 */
function denseForward(
  input: Float32Array,
  batch: number,
  layer: Dense,
  output: Float32Array,
  activate: boolean,
  relu: boolean,
): void {
  const { inDim, outDim } = layer.shape;
  const { kernel, bias } = layer;
  for (let b = 0; b < batch; b++) {
    const o0 = b * outDim;
    const i0 = b * inDim;
    for (let o = 0; o < outDim; o++) output[o0 + o] = bias[o];
    for (let i = 0; i < inDim; i++) {
      const x = input[i0 + i];
      if (x === 0) continue;
      const k0 = i * outDim;
      for (let o = 0; o < outDim; o++) output[o0 + o] += x * kernel[k0 + o];
    }
    if (!activate) continue;
    for (let o = 0; o < outDim; o++) {
      const v = output[o0 + o];
      output[o0 + o] = relu ? Math.max(v, 0) : Math.tanh(v);
    }
  }
}
