/**
 * What the env-runner group and its worker threads (`worker.ts`) say to each other over comlink. Kept
 * apart from `worker.ts`, whose top level starts serving as soon as it is imported.
 */

import type { ModuleSpec } from "../models/catalog.js";
import type { StoreHandle } from "../store/object_store.js";
import type { EnvRunnerConfig, EpisodeMetrics } from "./env_runner.js";
import type { RunnerFilterStates } from "./observation_filter.js";

export interface EnvRunnerWorkerData {
  config: EnvRunnerConfig;
  /** This runner's index in its group (seeds its envs). */
  index: number;
}

export interface SampleRequest {
  /**
   * Sync mode: wait until the store holds at least this version of the weights (the one just
   * published) before sampling. 0: sample with whatever is newest (async mode). The fragment's
   * `weightsVersion` is the store version it was sampled with.
   */
  minVersion: number;
  /** How long to wait for `minVersion` before failing. */
  waitTimeoutMs: number;
  /** Q modules: the exploration epsilon of each of the runner's envs for this fragment. */
  epsilons?: number[];
}

/** What the group calls in the worker; every method crosses the thread boundary. */
export interface EnvRunnerWorkerApi<Sample> {
  /** Imports the user's env module, builds the runner, and returns the module it acts with. */
  start(): Promise<ModuleSpec>;
  /** Shares the group's object store (the weights entry must exist). */
  useStore(handle: StoreHandle): void;
  sample(request: SampleRequest): Promise<Sample>;
  getMetrics(): EpisodeMetrics;
  /** The runner statistics merged over the group (`observation_filter`, `normalize_rewards`). */
  setFilters(state: RunnerFilterStates): void;
  /** Greedy episodes with the newest weights. */
  evaluate(numEpisodes: number): Promise<EpisodeMetrics>;
  /** Closes the envs; the group terminates the thread afterwards. */
  stop(): Promise<void>;
}
