/**
 * What the env-runner group and its worker threads (`worker.ts`) say to each other over comlink. Kept
 * apart from `worker.ts`, whose top level starts serving as soon as it is imported.
 */
import type { RunConfig } from "../config/schema.js";
import type { StoreHandle } from "../store/object_store.js";
import type { EpisodeMetrics } from "./env_runner.js";

/** The object-store entry holding the policy weights the runners sample with. */
export const WEIGHTS_ENTRY = "policy_weights";

export interface EnvRunnerWorkerData {
  config: RunConfig;
  /** This runner's index in its group (seeds its envs). */
  index: number;
}

export interface SampleRequest {
  numSteps: number;
  /**
   * Sync mode: wait until the store holds at least this version of the weights (the one just
   * published) before sampling. 0: sample with whatever is newest (async mode). The fragment's
   * `weightsVersion` is the store version it was sampled with.
   */
  minVersion: number;
  /** How long to wait for `minVersion` before failing. */
  waitTimeoutMs: number;
  /** DQN: the exploration epsilon of each of the runner's envs for this fragment. */
  epsilons?: number[];
}

/** What every fragment a worker returns carries. */
export interface VersionedSample {
  /** The weights version that sampled it. */
  weightsVersion: number;
}

/**
 * What a worker thread hosts: one algorithm's env runner (PPO's `EnvRunner`, DQN's `DQNRunner`), which
 * the thread feeds weights from the object store and asks for fragments.
 */
export interface WorkerEnvRunner<Spec, Sample extends VersionedSample> {
  /** The network the runner acts with (what the group reports as its `policySpec`). */
  readonly spec: Spec;
  setWeights(flat: Float32Array, version: number): void;
  sample(numSteps: number, epsilons?: ArrayLike<number>): Promise<Sample>;
  getMetrics(): EpisodeMetrics;
  evaluate(numEpisodes: number): Promise<EpisodeMetrics>;
  stop(): Promise<void>;
}

/** What the group calls in the worker; every method crosses the thread boundary. */
export interface EnvRunnerWorkerApi<Spec, Sample extends VersionedSample> {
  /**
   * Imports the user's env module, builds the runner, and returns the network it runs and the length of
   * its flat weights (the size of the store's weights entry).
   */
  start(): Promise<{ spec: Spec; weightsLength: number }>;
  /** Shares the group's object store (the weights entry must exist). */
  useStore(handle: StoreHandle): void;
  sample(request: SampleRequest): Promise<Sample>;
  getMetrics(): EpisodeMetrics;
  /** Greedy episodes with the newest weights. */
  evaluate(numEpisodes: number): Promise<EpisodeMetrics>;
  /** Closes the envs; the group terminates the thread afterwards. */
  stop(): Promise<void>;
}
