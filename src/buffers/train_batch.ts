/**
 * On-policy train batches (SB3's RolloutBuffer): an iteration's fragments concatenated, with GAE's
 * advantages and value targets, and the minibatches drawn from them by shuffled row indices. The batch
 * lives in SharedArrayBuffers, so a learner thread receives views of the same memory, not a copy.
 */
import { allocateObs, type Fragment, type ObsArray, type ObsDtype } from "./fragment.js";
import { computeGae } from "./gae.js";

export interface TrainBatch {
  size: number;
  /** uint8 for unfiltered uint8 observations (the fragments' dtype). */
  obs: ObsArray;
  actions: Float32Array;
  logp: Float32Array;
  values: Float32Array;
  advantages: Float32Array;
  returns: Float32Array;
}

export function allocateTrainBatch(
  size: number,
  obsDim: number,
  actionDim: number,
  obsDtype: ObsDtype = "float32",
): TrainBatch {
  const shared = (length: number) => new Float32Array(new SharedArrayBuffer(length * 4));
  return {
    size,
    obs: allocateObs(obsDtype, size * obsDim, true),
    actions: shared(size * actionDim),
    logp: shared(size),
    values: shared(size),
    advantages: shared(size),
    returns: shared(size),
  };
}

/** The fragments, one after another, with GAE(gamma, lambda) computed per fragment. */
export function trainBatchFromFragments(fragments: Fragment[], gamma: number, lambda: number): TrainBatch {
  const size = fragments.reduce((n, f) => n + f.spec.numSteps * f.spec.numEnvs, 0);
  const { obsDim, actionDim, obsDtype } = fragments[0].spec;
  const batch = allocateTrainBatch(size, obsDim, actionDim, obsDtype);
  let row = 0;
  for (const fragment of fragments) {
    const { advantages, returns } = computeGae(fragment, gamma, lambda);
    batch.obs.set(fragment.obs, row * obsDim);
    batch.actions.set(fragment.actions, row * actionDim);
    batch.logp.set(fragment.logp, row);
    batch.values.set(fragment.values, row);
    batch.advantages.set(advantages, row);
    batch.returns.set(returns, row);
    row += advantages.length;
  }
  return batch;
}

/** Reusable typed arrays for one minibatch, gathered from a batch by row indices (uint8 observations as float32). */
export class Minibatch {
  readonly obs: Float32Array;
  readonly actions: Float32Array;
  readonly logp: Float32Array;
  readonly values: Float32Array;
  readonly advantages: Float32Array;
  readonly returns: Float32Array;

  constructor(
    capacity: number,
    readonly obsDim: number,
    readonly actionDim: number,
  ) {
    this.obs = new Float32Array(capacity * obsDim);
    this.actions = new Float32Array(capacity * actionDim);
    this.logp = new Float32Array(capacity);
    this.values = new Float32Array(capacity);
    this.advantages = new Float32Array(capacity);
    this.returns = new Float32Array(capacity);
  }

  /** Copies `rows` of `batch`; with `normalizeAdvantages`, (A - mean) / (std + 1e-8) over these rows. */
  gather(batch: TrainBatch, rows: ArrayLike<number>, normalizeAdvantages: boolean): void {
    const { obsDim, actionDim } = this;
    for (let k = 0; k < rows.length; k++) {
      const row = rows[k];
      this.obs.set(batch.obs.subarray(row * obsDim, (row + 1) * obsDim), k * obsDim);
      this.actions.set(batch.actions.subarray(row * actionDim, (row + 1) * actionDim), k * actionDim);
      this.logp[k] = batch.logp[row];
      this.values[k] = batch.values[row];
      this.advantages[k] = batch.advantages[row];
      this.returns[k] = batch.returns[row];
    }
    if (normalizeAdvantages) normalizeInPlace(this.advantages.subarray(0, rows.length));
  }
}

/** (x - mean) / (std + 1e-8) with the unbiased std, as CleanRL's `mb_advantages` normalisation. */
function normalizeInPlace(x: Float32Array): void {
  let sum = 0;
  for (const v of x) sum += v;
  const m = sum / x.length;
  let squares = 0;
  for (const v of x) squares += (v - m) * (v - m);
  const std = x.length > 1 ? Math.sqrt(squares / (x.length - 1)) : 0;
  for (let i = 0; i < x.length; i++) x[i] = (x[i] - m) / (std + 1e-8);
}
