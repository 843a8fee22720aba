import type { VectorEnv } from "../envs/types.js";
import type { RunnerFilterStates } from "./observation_filter.js";

/** Returns and lengths of completed episodes. */
export interface EpisodeMetrics {
  returns: number[];
  lengths: number[];
  /** With `observation_filter` or `normalize_rewards`: each runner's statistics since the last call. */
  filterDeltas?: RunnerFilterStates[];
}

/**
 * Returns and lengths of the episodes a vector env completes, step by step (the bookkeeping every env
 * runner needs). Where an env reports `info.episode` (RecordEpisodeStatistics), its raw return is used,
 * so returns stay raw even when rewards are normalised later.
 */
export class EpisodeTracker {
  private readonly returns: Float64Array;
  private readonly lengths: Int32Array;
  private completed: EpisodeMetrics = { returns: [], lengths: [] };

  constructor(numEnvs: number) {
    this.returns = new Float64Array(numEnvs);
    this.lengths = new Int32Array(numEnvs);
  }

  record(
    rewards: Float64Array,
    terminated: Uint8Array,
    truncated: Uint8Array,
    infos?: Record<string, unknown>[],
  ): void {
    for (let i = 0; i < rewards.length; i++) {
      this.returns[i] += rewards[i];
      this.lengths[i] += 1;
      if (!(terminated[i] || truncated[i])) continue;
      const episode = infos?.[i]?.episode as { r: number; l: number } | undefined;
      this.completed.returns.push(episode?.r ?? this.returns[i]);
      this.completed.lengths.push(episode?.l ?? this.lengths[i]);
      this.returns[i] = 0;
      this.lengths[i] = 0;
    }
  }

  /** Forgets the episodes in progress (their envs are being reset). */
  resetInProgress(): void {
    this.returns.fill(0);
    this.lengths.fill(0);
  }

  /** Episodes completed since the last call. */
  drain(): EpisodeMetrics {
    const metrics = this.completed;
    this.completed = { returns: [], lengths: [] };
    return metrics;
  }
}

/** Evaluation envs are seeded far from the training envs, so no episode repeats a training one. */
const EVALUATION_SEED_OFFSET = 1_000_003;

/**
 * Runs a greedy policy for `numEpisodes` episodes on `env`, reset with the same seeds every time (so
 * evaluations are comparable). Each sub-env runs its share of the episodes, which avoids favouring short
 * episodes. `act` maps a batch of observations to the env's action buffer.
 */
export async function evaluateEpisodes(
  env: VectorEnv,
  numEpisodes: number,
  seed: number,
  act: (observations: Float32Array) => Float32Array | Int32Array,
): Promise<EpisodeMetrics> {
  if (!Number.isInteger(numEpisodes) || numEpisodes < 1) {
    throw new RangeError(`evaluate: numEpisodes must be a positive integer, got ${numEpisodes}`);
  }
  const n = env.numEnvs;
  const quota = Array.from(
    { length: n },
    (_, i) => Math.floor(numEpisodes / n) + (i < numEpisodes % n ? 1 : 0),
  );
  const episodeReturns = new Float64Array(n);
  const episodeLengths = new Int32Array(n);
  const result: EpisodeMetrics = { returns: [], lengths: [] };
  // A copy: the env overwrites its result arrays on the next call.
  const obs = Float32Array.from((await env.reset({ seed: seed + EVALUATION_SEED_OFFSET })).observations);
  while (result.returns.length < numEpisodes) {
    const step = await env.step(act(obs));
    for (let i = 0; i < n; i++) {
      episodeReturns[i] += step.rewards[i];
      episodeLengths[i] += 1;
      if (!(step.terminated[i] || step.truncated[i])) continue;
      if (quota[i] > 0) {
        result.returns.push(episodeReturns[i]);
        result.lengths.push(episodeLengths[i]);
        quota[i] -= 1;
      }
      episodeReturns[i] = 0;
      episodeLengths[i] = 0;
    }
    obs.set(step.observations);
  }
  return result;
}
