/**
 * The actor-critic's forward pass for rollouts, reading the flat weights (layout in network.ts). Rollouts
 * run the policy on 1-64 observations at a time, where tfjs spends more time dispatching ops than
 * computing; the layers run in dense_wasm.ts's SIMD kernel (float32, as tfjs computes them), and the
 * action sampling here in plain TypeScript.
 */
import { createRng, normal, type Rng } from "../utils/rng.js";
import { WasmDenseLayers } from "./dense_wasm.js";
import { type NetworkLayout, networkLayout, type PolicySpec, policyOutDim } from "./network.js";

const LOG_2PI = Math.log(2 * Math.PI);

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
  /** Every dense layer, in the flat weights' order: policy trunk, policy head, value trunk, value head. */
  private readonly layers: WasmDenseLayers;
  // Indices into `layers`.
  private readonly policyTrunk: number[];
  private readonly policyHead: number;
  private readonly valueTrunk: number[];
  private readonly valueHead: number;
  private readonly logStd: Float64Array;
  /** exp(logit - max logit) per class, for one row at a time. */
  private readonly expLogits: Float64Array;
  private rng: Rng;
  // Network outputs, grown to the largest batch seen.
  private capacity = 0;
  private policyOut = new Float32Array(0);
  private valueOut = new Float32Array(0);

  constructor(
    readonly spec: PolicySpec,
    seed: number | string,
  ) {
    this.layout = networkLayout(spec);
    this.actionDim = spec.action.kind === "categorical" ? 1 : spec.action.dim;
    this.rng = createRng(seed);
    const { policyTrunk, policyHead, valueTrunk, valueHead } = this.layout;
    this.layers = new WasmDenseLayers(
      [...policyTrunk, policyHead, ...valueTrunk, valueHead],
      spec.activation,
    );
    this.policyTrunk = policyTrunk.map((_, i) => i);
    this.policyHead = policyTrunk.length;
    this.valueTrunk = valueTrunk.map((_, i) => this.policyHead + 1 + i);
    this.valueHead = this.policyHead + 1 + valueTrunk.length;
    this.logStd = new Float64Array(this.layout.logStdDim);
    this.expLogits = new Float64Array(spec.action.kind === "categorical" ? spec.action.n : 0);
  }

  /** Loads flat weights (network.ts's layout). */
  setWeights(flat: Float32Array): void {
    if (flat.length !== this.layout.size) {
      throw new RangeError(
        `flat weights: expected ${this.layout.size} float32s for this network, got ${flat.length}`,
      );
    }
    const { policyTrunk, policyHead, valueTrunk, valueHead, logStdDim } = this.layout;
    let offset = 0;
    [...policyTrunk, policyHead, ...valueTrunk, valueHead].forEach(({ inDim, outDim }, index) => {
      const kernel = flat.subarray(offset, offset + inDim * outDim);
      offset += inDim * outDim;
      this.layers.setLayer(index, kernel, flat.subarray(offset, offset + outDim));
      offset += outDim;
    });
    this.logStd.set(flat.subarray(offset, offset + logStdDim));
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
    this.prepare(obs, batch);
    if (this.spec.vfShareLayers) {
      this.layers.run(
        obs,
        batch,
        this.policyTrunk,
        [this.policyHead, this.valueHead],
        [this.policyOut, this.valueOut],
      );
    } else {
      this.layers.run(obs, batch, this.policyTrunk, [this.policyHead], [this.policyOut]);
      this.layers.run(obs, batch, this.valueTrunk, [this.valueHead], [this.valueOut]);
    }
    for (let b = 0; b < batch; b++) {
      out.values[b] = this.valueOut[b];
      if (this.spec.action.kind === "categorical") this.categorical(b, greedy, out);
      else this.gaussian(b, greedy, out);
    }
  }

  /** Values only (`out`: `[batch]`), e.g. V(final observation) for truncated episodes. */
  values(obs: Float32Array, batch: number, out: Float32Array): void {
    this.prepare(obs, batch);
    const trunk = this.spec.vfShareLayers ? this.policyTrunk : this.valueTrunk;
    this.layers.run(obs, batch, trunk, [this.valueHead], [this.valueOut]);
    for (let b = 0; b < batch; b++) out[b] = this.valueOut[b];
  }

  /** Row `b`'s action and log-probability from its logits. */
  private categorical(b: number, greedy: boolean, out: ActOutputs): void {
    const { policyOut: logits, expLogits } = this;
    const n = expLogits.length;
    const start = b * n;
    let max = Number.NEGATIVE_INFINITY;
    let argmax = 0;
    for (let k = 0; k < n; k++) {
      if (logits[start + k] > max) {
        max = logits[start + k];
        argmax = k;
      }
    }
    let sumExp = 0;
    for (let k = 0; k < n; k++) {
      expLogits[k] = Math.exp(logits[start + k] - max);
      sumExp += expLogits[k];
    }
    let action = argmax;
    if (!greedy) {
      // Inverse CDF: the first class whose cumulative probability passes u.
      let u = this.rng() * sumExp;
      action = n - 1;
      for (let k = 0; k < n; k++) {
        u -= expLogits[k];
        if (u < 0) {
          action = k;
          break;
        }
      }
    }
    out.actions[b] = action;
    out.logp[b] = logits[start + action] - max - Math.log(sumExp);
  }

  /** Row `b`'s action and log-probability from its mean. */
  private gaussian(b: number, greedy: boolean, out: ActOutputs): void {
    const dim = this.actionDim;
    let logp = -0.5 * dim * LOG_2PI;
    for (let k = 0; k < dim; k++) {
      const z = greedy ? 0 : normal(this.rng);
      out.actions[b * dim + k] = this.policyOut[b * dim + k] + z * Math.exp(this.logStd[k]);
      logp -= 0.5 * z * z + this.logStd[k];
    }
    out.logp[b] = logp;
  }

  /** Checks the observations' length and grows the output buffers to `batch` rows. */
  private prepare(obs: Float32Array, batch: number): void {
    const { obsDim } = this.spec;
    if (obs.length < batch * obsDim) {
      throw new RangeError(
        `observations: expected ${batch} x ${obsDim} = ${batch * obsDim} numbers, got ${obs.length}`,
      );
    }
    if (batch <= this.capacity) return;
    this.capacity = batch;
    this.policyOut = new Float32Array(batch * policyOutDim(this.spec.action));
    this.valueOut = new Float32Array(batch);
  }
}
