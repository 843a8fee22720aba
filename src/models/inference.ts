/**
 * The actor-critic's forward pass in plain TypeScript, reading the flat weights (layout in network.ts).
 * Rollouts run the policy on 1-64 observations at a time, where tfjs spends more time dispatching ops
 * than computing; these loops over typed arrays do the same arithmetic with no per-op cost.
 *
 * Speed: `setWeights` stores each kernel transposed (`[out][in]`, float64), so every output is a dot
 * product over one contiguous row, and the batch is run four observations at a time, so each weight
 * loaded serves four multiply-adds held in local variables. Activations are float64 throughout (no
 * float32 round trips).
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

/** Observations processed together by `denseForward`. */
const BLOCK = 4;

type Activation = "tanh" | "relu" | "linear";

interface Dense {
  shape: DenseShape;
  /** The kernel transposed: `[outDim][inDim]`, row o holds the weights into output o. */
  weightsByOutput: Float64Array;
  bias: Float64Array;
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
  private readonly policyTrunk: Dense[];
  private readonly policyHead: Dense;
  private readonly valueTrunk: Dense[];
  private readonly valueHead: Dense;
  private readonly logStd: Float64Array;
  private readonly hiddenActivation: Activation;
  private rng: Rng;
  // Scratch activations, grown to the largest batch seen.
  private capacity = 0;
  private input = new Float64Array(0);
  private hiddenA = new Float64Array(0);
  private hiddenB = new Float64Array(0);
  private policyOut = new Float64Array(0);
  private valueOut = new Float64Array(0);

  constructor(
    readonly spec: PolicySpec,
    seed: number | string,
  ) {
    this.layout = networkLayout(spec);
    this.actionDim = spec.action.kind === "categorical" ? 1 : spec.action.dim;
    this.hiddenActivation = spec.activation;
    this.rng = createRng(seed);
    const dense = (shape: DenseShape): Dense => ({
      shape,
      weightsByOutput: new Float64Array(shape.inDim * shape.outDim),
      bias: new Float64Array(shape.outDim),
    });
    this.policyTrunk = this.layout.policyTrunk.map(dense);
    this.policyHead = dense(this.layout.policyHead);
    this.valueTrunk = this.layout.valueTrunk.map(dense);
    this.valueHead = dense(this.layout.valueHead);
    this.logStd = new Float64Array(this.layout.logStdDim);
  }

  /** Loads flat weights (network.ts's layout), transposing each kernel to `[out][in]`. */
  setWeights(flat: Float32Array): void {
    if (flat.length !== this.layout.size) {
      throw new RangeError(
        `flat weights: expected ${this.layout.size} float32s for this network, got ${flat.length}`,
      );
    }
    let offset = 0;
    for (const layer of [...this.policyTrunk, this.policyHead, ...this.valueTrunk, this.valueHead]) {
      const { inDim, outDim } = layer.shape;
      for (let i = 0; i < inDim; i++) {
        for (let o = 0; o < outDim; o++) layer.weightsByOutput[o * inDim + i] = flat[offset + i * outDim + o];
      }
      offset += inDim * outDim;
      layer.bias.set(flat.subarray(offset, offset + outDim));
      offset += outDim;
    }
    this.logStd.set(flat.subarray(offset, offset + this.layout.logStdDim));
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
    const rows = this.loadObservations(obs, batch);
    const outDim = policyOutDim(this.spec.action);
    const policyHidden = this.runTrunk(rows, this.policyTrunk);
    denseForward(policyHidden, rows, this.policyHead, this.policyOut, "linear");
    // The policy head has consumed the policy trunk's output, so the value trunk may reuse its scratch.
    const valueHidden = this.spec.vfShareLayers ? policyHidden : this.runTrunk(rows, this.valueTrunk);
    denseForward(valueHidden, rows, this.valueHead, this.valueOut, "linear");
    for (let b = 0; b < batch; b++) {
      out.values[b] = this.valueOut[b];
      const row = this.policyOut.subarray(b * outDim, (b + 1) * outDim);
      if (this.spec.action.kind === "categorical") this.categorical(row, greedy, out, b);
      else this.gaussian(row, greedy, out, b);
    }
  }

  /** Values only (`out`: `[batch]`), e.g. V(final observation) for truncated episodes. */
  values(obs: Float32Array, batch: number, out: Float32Array): void {
    const rows = this.loadObservations(obs, batch);
    const hidden = this.runTrunk(rows, this.spec.vfShareLayers ? this.policyTrunk : this.valueTrunk);
    denseForward(hidden, rows, this.valueHead, this.valueOut, "linear");
    for (let b = 0; b < batch; b++) out[b] = this.valueOut[b];
  }

  private categorical(logits: Float64Array, greedy: boolean, out: ActOutputs, b: number): void {
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

  private gaussian(mean: Float64Array, greedy: boolean, out: ActOutputs, b: number): void {
    const dim = mean.length;
    let logp = -0.5 * dim * LOG_2PI;
    for (let k = 0; k < dim; k++) {
      const z = greedy ? 0 : normal(this.rng);
      out.actions[b * dim + k] = mean[k] + z * Math.exp(this.logStd[k]);
      logp -= 0.5 * z * z + this.logStd[k];
    }
    out.logp[b] = logp;
  }

  /** Copies `obs` into the float64 input scratch. */
  private loadObservations(obs: Float32Array, batch: number): number {
    const { obsDim } = this.spec;
    if (obs.length < batch * obsDim) {
      throw new RangeError(
        `observations: expected ${batch} x ${obsDim} = ${batch * obsDim} numbers, got ${obs.length}`,
      );
    }
    this.ensureCapacity(batch);
    for (let k = 0; k < batch * obsDim; k++) this.input[k] = obs[k];
    return batch;
  }

  /** Runs `trunk` on the input scratch, ping-ponging between two buffers; returns the last activations. */
  private runTrunk(rows: number, trunk: Dense[]): Float64Array {
    let input = this.input;
    trunk.forEach((layer, i) => {
      const output = i % 2 === 0 ? this.hiddenA : this.hiddenB;
      denseForward(input, rows, layer, output, this.hiddenActivation);
      input = output;
    });
    return input;
  }

  private ensureCapacity(rows: number): void {
    if (rows <= this.capacity) return;
    const widest = Math.max(...this.spec.hiddens);
    this.capacity = rows;
    this.input = new Float64Array(rows * this.spec.obsDim);
    this.hiddenA = new Float64Array(rows * widest);
    this.hiddenB = new Float64Array(rows * widest);
    this.policyOut = new Float64Array(rows * policyOutDim(this.spec.action));
    this.valueOut = new Float64Array(rows);
  }
}

/**
 * `output[b, o] = activation(bias[o] + sum_i input[b, i] * kernel[i, o])` for `rows` rows. Four rows at a
 * time: each weight, read once from the contiguous row `o` of the transposed kernel, feeds four running
 * sums in locals. Rows past the last whole block (batch 1, say) go one at a time, the dot product
 * unrolled by four.
 */
function denseForward(
  input: Float64Array,
  rows: number,
  layer: Dense,
  output: Float64Array,
  activation: Activation,
): void {
  const { inDim, outDim } = layer.shape;
  const { weightsByOutput: w, bias } = layer;
  const blocked = rows - (rows % BLOCK);
  for (let b = 0; b < blocked; b += BLOCK) {
    const x0 = b * inDim;
    const x1 = x0 + inDim;
    const x2 = x1 + inDim;
    const x3 = x2 + inDim;
    const y0 = b * outDim;
    for (let o = 0; o < outDim; o++) {
      const w0 = o * inDim;
      let s0 = bias[o];
      let s1 = s0;
      let s2 = s0;
      let s3 = s0;
      for (let i = 0; i < inDim; i++) {
        const weight = w[w0 + i];
        s0 += weight * input[x0 + i];
        s1 += weight * input[x1 + i];
        s2 += weight * input[x2 + i];
        s3 += weight * input[x3 + i];
      }
      output[y0 + o] = activate(s0, activation);
      output[y0 + outDim + o] = activate(s1, activation);
      output[y0 + 2 * outDim + o] = activate(s2, activation);
      output[y0 + 3 * outDim + o] = activate(s3, activation);
    }
  }
  for (let b = blocked; b < rows; b++) {
    const x0 = b * inDim;
    for (let o = 0; o < outDim; o++) {
      const w0 = o * inDim;
      // Four partial sums, so consecutive multiply-adds do not wait on each other.
      let s0 = bias[o];
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let i = 0;
      for (; i + 3 < inDim; i += 4) {
        s0 += w[w0 + i] * input[x0 + i];
        s1 += w[w0 + i + 1] * input[x0 + i + 1];
        s2 += w[w0 + i + 2] * input[x0 + i + 2];
        s3 += w[w0 + i + 3] * input[x0 + i + 3];
      }
      for (; i < inDim; i++) s0 += w[w0 + i] * input[x0 + i];
      output[b * outDim + o] = activate(s0 + s1 + s2 + s3, activation);
    }
  }
}

function activate(x: number, activation: Activation): number {
  if (activation === "tanh") return Math.tanh(x);
  if (activation === "relu") return Math.max(x, 0);
  return x;
}
