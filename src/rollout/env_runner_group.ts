/**
 * What an algorithm sees of its env runners (RLlib's EnvRunnerGroup), wherever they run: sample one
 * fragment per runner with the weights last synced (on-policy), or let them sample continuously into a
 * queue (off-policy, Ape-X style); sync the weights the learner put into the group's object store; drain
 * episode metrics; evaluate; stop. `LocalEnvRunnerGroup` (num_env_runners 0) keeps one EnvRunner in the
 * calling thread; `EnvRunnerActorGroup` runs them as actors: worker threads, or Ray actors on a cluster. Algorithms never ask which one they have.
 */
import type { VersionedSample } from "../buffers/fragment.js";
import { type ModuleSpec, weightsSize } from "../models/catalog.js";
import { ObjectStore } from "../store/object_store.js";
import {
  type CollectSpec,
  EnvRunner,
  type EnvRunnerConfig,
  type EnvRunnerState,
  type EpisodeMetrics,
  type SampleOf,
} from "./env_runner.js";
import type { RunnerFilterStates } from "./observation_filter.js";
import { RESTART_SEED_STRIDE, RestartPolicy, type RestartRecord } from "./restarts.js";

/** The object-store entry holding the module weights the runners sample with. */
export const WEIGHTS_ENTRY = "module_weights";

/** Asked before each fragment of runner `index`: the epsilon of each of its envs: the chance it takes a uniformly random action. */
export type EpsilonsFor = (index: number) => number[];

export interface EnvRunnerGroup<Sample extends VersionedSample> {
  /** The module the runners act with (from the env's spaces and the module request). */
  readonly moduleSpec: ModuleSpec;
  /** Where the learner puts the weights (entry `WEIGHTS_ENTRY`); `syncWeights` hands the newest to the runners. */
  readonly store: ObjectStore;
  readonly numEnvRunners: number;
  /** Runners replaced after a failure, over the group's life (`fault/num_worker_restarts`). */
  readonly numWorkerRestarts: number;
  /** Sync mode: one fragment from every runner, each sampled with the weights last synced. */
  sample(): Promise<Sample[]>;
  /** Async mode: the runners sample continuously with the newest weights (a no-op in the calling thread). */
  startAsync(): void;
  /** Async mode: the fragments sampled so far, at least `minFragments` (sampled now in the calling thread). */
  drain(minFragments: number): Promise<Sample[]>;
  /** Ends async sampling after each runner's current fragment. */
  stopAsync(): Promise<void>;
  /** The newest put in `store` is weights `version`: fragments sampled from now on carry it. */
  syncWeights(version: number): Promise<void>;
  /** Episodes completed since the last call, over all runners (and each runner's observation statistics). */
  getMetrics(): Promise<EpisodeMetrics>;
  /** Hands the statistics merged over all runners (observations, returns) to every runner. */
  setFilters(state: RunnerFilterStates): Promise<void>;
  /** Greedy-policy episodes on evaluation env copies. */
  evaluate(numEpisodes: number): Promise<EpisodeMetrics>;
  /** The runner restarts since the last call (the trainer records them in the run folder). */
  drainRestarts(): RestartRecord[];
  /** A local runner's generators (checkpoints); null where runners restart from fresh seeds (threads). */
  getState(): Promise<EnvRunnerState | null>;
  setState(state: EnvRunnerState | null): Promise<void>;
  stop(): Promise<void>;
}

/** A store with the weights entry for `spec`'s module. */
export function createWeightsStore(spec: ModuleSpec): ObjectStore {
  const store = new ObjectStore();
  store.create(WEIGHTS_ENTRY, weightsSize(spec));
  return store;
}

/**
 * One env runner in the calling thread (`num_env_runners` 0): a debugger steps through everything. A
 * runner whose sample fails (a Python env server that died, say) is replaced by a fresh one under the
 * same restart rules as runner threads.
 */
export class LocalEnvRunnerGroup<C extends CollectSpec> implements EnvRunnerGroup<SampleOf<C>> {
  readonly numEnvRunners = 1;
  readonly moduleSpec: ModuleSpec;
  readonly store: ObjectStore;
  private weights: Float32Array;
  private weightsVersion = 0;
  private generation = 0;
  private readonly restarts: RestartPolicy;

  private constructor(
    private runner: EnvRunner<C>,
    private readonly config: EnvRunnerConfig<C>,
    private readonly epsilonsFor: EpsilonsFor | undefined,
  ) {
    this.moduleSpec = runner.spec;
    this.store = createWeightsStore(runner.spec);
    this.weights = new Float32Array(weightsSize(runner.spec));
    this.restarts = new RestartPolicy(config.env_runners);
  }

  static async create<C extends CollectSpec>(
    config: EnvRunnerConfig<C>,
    epsilonsFor?: EpsilonsFor,
  ): Promise<LocalEnvRunnerGroup<C>> {
    return new LocalEnvRunnerGroup(await EnvRunner.create(config, 0), config, epsilonsFor);
  }

  get numWorkerRestarts(): number {
    return this.restarts.numRestarts;
  }

  drainRestarts(): RestartRecord[] {
    return this.restarts.drainRecords();
  }

  async sample(): Promise<SampleOf<C>[]> {
    for (;;) {
      try {
        const sample = await this.runner.sample(this.epsilonsFor?.(0));
        this.restarts.succeeded(0);
        return [sample];
      } catch (error) {
        await this.replace(error);
      }
    }
  }

  /** Closes the failed runner and starts a fresh one with the current weights, or throws the fatal error. */
  private async replace(reason: unknown): Promise<void> {
    await this.runner.stop().catch(() => {});
    const fatal = this.restarts.check(0, reason);
    if (fatal) throw fatal;
    this.restarts.restarting(0, reason);
    this.generation += 1;
    const seed = this.config.seed + this.generation * RESTART_SEED_STRIDE;
    this.runner = await EnvRunner.create({ ...this.config, seed }, 0);
    this.runner.setWeights(this.weights, this.weightsVersion);
  }

  startAsync(): void {}

  drain(): Promise<SampleOf<C>[]> {
    return this.sample();
  }

  async stopAsync(): Promise<void> {}

  async syncWeights(version: number): Promise<void> {
    const read = this.store.get(WEIGHTS_ENTRY, { into: this.weights });
    if (!read) throw new Error(`syncWeights(${version}): nothing was put into the store's weights entry`);
    this.weights = read.data;
    this.weightsVersion = version;
    this.runner.setWeights(read.data, version);
  }

  async getMetrics(): Promise<EpisodeMetrics> {
    return this.runner.getMetrics();
  }

  async setFilters(state: RunnerFilterStates): Promise<void> {
    this.runner.setFilters(state);
  }

  evaluate(numEpisodes: number): Promise<EpisodeMetrics> {
    return this.runner.evaluate(numEpisodes);
  }

  async getState(): Promise<EnvRunnerState> {
    return this.runner.getState();
  }

  async setState(state: EnvRunnerState | null): Promise<void> {
    if (state) this.runner.setState(state);
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
