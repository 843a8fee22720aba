/**
 * N-step returns over a vector env's steps, one window per sub-env.
 *
 * The transition that starts at step t carries R = r_t + gamma r_{t+1} + ... + gamma^{k-1} r_{t+k-1}, the
 * observation to bootstrap from after those k steps, and the discount gamma^k for that bootstrap value,
 * with k = n unless the episode ended first. A window never crosses an episode end:
 * - on **termination** every pending transition of that sub-env is emitted with discount 0 (the terminal
 *   state has no future value);
 * - on **truncation** (time limit) they are emitted with discount gamma^k and bootstrap from the episode's
 *   last observation, which same-step autoreset leaves in `finalObservations` (row i of `observations` is
 *   already the next episode's first observation).
 */
import type { VectorStepResult } from "../envs/types.js";
import { allocateTransitions, type TransitionBatch } from "./replay.js";

export interface NStepOptions {
  numEnvs: number;
  obsDim: number;
  actionDim: number;
  nStep: number;
  gamma: number;
}

export class NStepAccumulator {
  readonly numEnvs: number;
  readonly obsDim: number;
  readonly actionDim: number;
  readonly nStep: number;
  readonly gamma: number;
  /** Per sub-env ring of the last `nStep` (obs, action, reward): `[numEnvs * nStep (* obsDim)]`. */
  private readonly windowObs: Float32Array;
  private readonly windowActions: Float32Array;
  private readonly windowRewards: Float64Array;
  private readonly windowStart: Int32Array;
  private readonly windowLength: Int32Array;
  /** Emitted transitions; at most nStep per sub-env per step (a full window flushed at an episode end). */
  private readonly out: TransitionBatch;

  constructor({ numEnvs, obsDim, actionDim, nStep, gamma }: NStepOptions) {
    if (!Number.isInteger(nStep) || nStep < 1)
      throw new RangeError(`n_step must be an integer >= 1, got ${nStep}`);
    if (!(gamma >= 0 && gamma <= 1)) throw new RangeError(`gamma must be in [0, 1], got ${gamma}`);
    this.numEnvs = numEnvs;
    this.obsDim = obsDim;
    this.actionDim = actionDim;
    this.nStep = nStep;
    this.gamma = gamma;
    this.windowObs = new Float32Array(numEnvs * nStep * obsDim);
    this.windowActions = new Float32Array(numEnvs * nStep * actionDim);
    this.windowRewards = new Float64Array(numEnvs * nStep);
    this.windowStart = new Int32Array(numEnvs);
    this.windowLength = new Int32Array(numEnvs);
    this.out = allocateTransitions(numEnvs * nStep, obsDim, actionDim);
  }

  /** Drops pending windows, e.g. after the vector env was reset outside of an episode end. */
  clear(): void {
    this.windowLength.fill(0);
    this.windowStart.fill(0);
  }

  /**
   * Feeds one vector step: `obs` the observations the actions were chosen on, `actions` `actionDim` numbers per sub-env,
   * `result` what the step returned. Returns the transitions this step completed; the batch is reused by
   * the next call.
   */
  add(obs: Float32Array, actions: Float32Array, result: VectorStepResult): TransitionBatch {
    const { numEnvs, obsDim, actionDim, nStep } = this;
    this.out.count = 0;
    for (let env = 0; env < numEnvs; env++) {
      const slot = env * nStep + ((this.windowStart[env] + this.windowLength[env]) % nStep);
      this.windowObs.set(obs.subarray(env * obsDim, (env + 1) * obsDim), slot * obsDim);
      this.windowActions.set(actions.subarray(env * actionDim, (env + 1) * actionDim), slot * actionDim);
      this.windowRewards[slot] = result.rewards[env];
      this.windowLength[env]++;

      const terminated = result.terminated[env] === 1;
      if (terminated || result.truncated[env] === 1) {
        while (this.windowLength[env] > 0) this.emitOldest(env, result.finalObservations, terminated);
      } else if (this.windowLength[env] === nStep) {
        this.emitOldest(env, result.observations, false);
      }
    }
    return this.out;
  }

  /** Emits the oldest pending transition of `env`, bootstrapping from row `env` of `nextObs`. */
  private emitOldest(env: number, nextObs: Float32Array, terminated: boolean): void {
    const { obsDim, actionDim, nStep, gamma, out } = this;
    const start = this.windowStart[env];
    const steps = this.windowLength[env];
    let reward = 0;
    let discount = 1;
    for (let k = 0; k < steps; k++) {
      reward += discount * this.windowRewards[env * nStep + ((start + k) % nStep)];
      discount *= gamma;
    }
    const row = out.count++;
    const oldest = env * nStep + start;
    out.obs.set(this.windowObs.subarray(oldest * obsDim, (oldest + 1) * obsDim), row * obsDim);
    out.nextObs.set(nextObs.subarray(env * obsDim, (env + 1) * obsDim), row * obsDim);
    out.actions.set(
      this.windowActions.subarray(oldest * actionDim, (oldest + 1) * actionDim),
      row * actionDim,
    );
    out.rewards[row] = reward;
    out.discounts[row] = terminated ? 0 : discount;
    out.terminated[row] = terminated ? 1 : 0;
    this.windowStart[env] = (start + 1) % nStep;
    this.windowLength[env] = steps - 1;
  }
}
