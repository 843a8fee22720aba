/**
 * The env runners' running statistics, merged over all runners every iteration:
 *
 * - RLlib's `MeanStdFilter` (`env_runners.observation_filter`): observations normalised to
 *   (obs - mean) / sqrt(var + 1e-8), clipped to +-10;
 * - SB3's `VecNormalize(norm_reward=True)` (`env_runners.normalize_rewards`): rewards divided by the
 *   standard deviation of the discounted return g = gamma g (1 - terminated) + r, not centred (Gymnasium's
 *   NormalizeReward), for training only: episode returns, evaluation and the exported policy stay raw.
 *
 * Each runner updates its own statistics with everything it samples and keeps what it saw since the last
 * sync apart (the delta); once per iteration the algorithm merges every runner's delta into the global
 * statistics and hands those back to every runner, so all of them normalise alike, and the checkpoint and
 * the exported policy hold the same numbers.
 */
import { RunningMeanStd, type RunningMeanStdState } from "../envs/wrappers.js";

/** RLlib's MeanStdFilter clip, and Gymnasium's NormalizeObservation epsilon. */
export const FILTER_CLIP = 10;
export const FILTER_EPSILON = 1e-8;

/** What a runner hands the algorithm each iteration, and what it gets back: one state per kind of statistics. */
export interface RunnerFilterStates {
  observations?: RunningMeanStdState;
  returns?: RunningMeanStdState;
}

/** No data yet: count 0, so the first merge takes the data's statistics as they are. */
export function emptyStatistics(dim: number): RunningMeanStd {
  const stats = new RunningMeanStd(dim);
  stats.setState({ mean: new Array(dim).fill(0), var: new Array(dim).fill(1), count: 0 });
  return stats;
}

/** Running statistics of one runner: the synced ones plus its own since, and its delta since the last sync. */
class SyncedStatistics {
  protected readonly total: RunningMeanStd;
  private delta: RunningMeanStd;

  constructor(readonly dim: number) {
    this.total = emptyStatistics(dim);
    this.delta = emptyStatistics(dim);
  }

  protected update(rows: ArrayLike<number>, count: number): void {
    this.total.update(rows, count);
    this.delta.update(rows, count);
  }

  /** The statistics of the data since the last call (then starts a new delta). */
  takeDelta(): RunningMeanStdState {
    const state = this.delta.getState();
    this.delta = emptyStatistics(this.dim);
    return state;
  }

  /** Takes the statistics merged over every runner (this runner's own delta already in them). */
  setGlobal(state: RunningMeanStdState): void {
    this.total.setState(state);
  }
}

export class MeanStdFilter extends SyncedStatistics {
  /** Normalises `rows` rows of `obs` in place; with `update`, their raw values first join the statistics. */
  apply(obs: Float32Array, rows: number, update: boolean): void {
    const { dim } = this;
    if (update) this.update(obs.subarray(0, rows * dim), rows);
    const { mean, var: variance } = this.total;
    for (let r = 0; r < rows; r++) {
      for (let d = 0; d < dim; d++) {
        const i = r * dim + d;
        const z = (obs[i] - mean[d]) / Math.sqrt(variance[d] + FILTER_EPSILON);
        obs[i] = Math.min(FILTER_CLIP, Math.max(-FILTER_CLIP, z));
      }
    }
  }
}

/** Gymnasium's NormalizeReward over a vector env: one discounted-return accumulator per env, one variance. */
export class RewardNormalizer extends SyncedStatistics {
  private readonly discounted: Float64Array;

  constructor(
    numEnvs: number,
    private readonly gamma: number,
  ) {
    super(1);
    this.discounted = new Float64Array(numEnvs);
  }

  /**
   * Divides one vector step's rewards, in place, by the return's standard deviation; the envs' returns
   * join the statistics together first (Gymnasium's vector NormalizeReward, SB3's VecNormalize).
   */
  apply(rewards: Float64Array, terminated: Uint8Array): void {
    const n = rewards.length;
    for (let i = 0; i < n; i++) {
      this.discounted[i] = this.discounted[i] * this.gamma * (terminated[i] ? 0 : 1) + rewards[i];
    }
    this.update(this.discounted, n);
    const scale = 1 / Math.sqrt(this.total.var[0] + FILTER_EPSILON);
    for (let i = 0; i < n; i++) rewards[i] *= scale;
  }
}
