/**
 * RLlib's `MeanStdFilter` (`env_runners.observation_filter`): every env runner normalises observations to
 * (obs - mean) / sqrt(var + 1e-8), clipped to +-10, with running statistics. Each runner updates its own
 * statistics with every observation it samples and keeps what it saw since the last sync apart (the
 * delta); once per iteration the algorithm merges every runner's delta into the global statistics and
 * hands those back to every runner, so all of them normalise alike, and the learner, evaluation, the
 * checkpoint and the exported policy use the same numbers.
 */
import { RunningMeanStd, type RunningMeanStdState } from "../envs/wrappers.js";

/** RLlib's MeanStdFilter clip, and Gymnasium's NormalizeObservation epsilon. */
export const FILTER_CLIP = 10;
export const FILTER_EPSILON = 1e-8;

export class MeanStdFilter {
  /** The synced statistics plus this runner's observations since: what normalisation uses. */
  private readonly total: RunningMeanStd;
  /** This runner's observations since the last `takeDelta`. */
  private delta: RunningMeanStd;

  constructor(readonly dim: number) {
    this.total = MeanStdFilter.empty(dim);
    this.delta = MeanStdFilter.empty(dim);
  }

  /** No observations yet: count 0, so the first merge takes the data's statistics as they are. */
  static empty(dim: number): RunningMeanStd {
    const stats = new RunningMeanStd(dim);
    stats.setState({ mean: new Array(dim).fill(0), var: new Array(dim).fill(1), count: 0 });
    return stats;
  }

  /** Normalises `rows` rows of `obs` in place; with `update`, their raw values first join the statistics. */
  apply(obs: Float32Array, rows: number, update: boolean): void {
    const { dim } = this;
    if (update) {
      this.total.update(obs.subarray(0, rows * dim), rows);
      this.delta.update(obs.subarray(0, rows * dim), rows);
    }
    const { mean, var: variance } = this.total;
    for (let r = 0; r < rows; r++) {
      for (let d = 0; d < dim; d++) {
        const i = r * dim + d;
        const z = (obs[i] - mean[d]) / Math.sqrt(variance[d] + FILTER_EPSILON);
        obs[i] = Math.min(FILTER_CLIP, Math.max(-FILTER_CLIP, z));
      }
    }
  }

  /** The statistics of the observations since the last call (then starts a new delta). */
  takeDelta(): RunningMeanStdState {
    const state = this.delta.getState();
    this.delta = MeanStdFilter.empty(this.dim);
    return state;
  }

  /** Takes the merged statistics of every runner (the runner's own delta already in them). */
  setGlobal(state: RunningMeanStdState): void {
    this.total.setState(state);
  }
}
