/**
 * Env runners as actors (RLlib's EnvRunnerGroup with num_env_runners > 0): each runs one `EnvRunner`
 * somewhere else, started by a `RunnerLauncher`: in a worker thread (`worker.ts`, driven over comlink,
 * weights through a shared `ObjectStore`, fragments back in `SharedArrayBuffer`s), or as a Ray actor
 * on a cluster (`cluster/ray_launcher.ts`, over ZeroMQ TCP). The group does not know which.
 *
 * Two ways to sample:
 * - sync (on-policy): `syncWeights(n)` then `sample()`: every fragment of the iteration is sampled with
 *   weights version n, one fragment per runner, all runners in parallel;
 * - async (off-policy, Ape-X style): `startAsync()` keeps every runner sampling with whatever weights are
 *   newest into a queue that `drain()` empties; each fragment records its weights version, so
 *   staleness is `latestWeightsVersion - fragment.weightsVersion`.
 *
 * Fault tolerance as RLlib's `restart_failed_env_runners`: a runner that throws, takes longer than
 * `sample_timeout_s`, or whose thread, process or node dies is replaced by a fresh one (counted in
 * `numWorkerRestarts`, up to `max_num_env_runner_restarts`); the iteration goes on with the fragments
 * of the others.
 */
import type { ModuleSpec } from "../models/catalog.js";
import type { ObjectStore } from "../store/object_store.js";
import type { CollectSpec, EnvRunnerConfig, EnvRunnerState, EpisodeMetrics, SampleOf } from "./env_runner.js";
import {
  createWeightsStore,
  type EnvRunnerGroup,
  type EpsilonsFor,
  WEIGHTS_ENTRY,
} from "./env_runner_group.js";
import type { RunnerFilterStates } from "./observation_filter.js";
import { RestartPolicy, type RestartRecord } from "./restarts.js";
import { guarded, type RunnerActor, type RunnerLauncher, START_TIMEOUT_MS } from "./runner_actor.js";
import { threadLauncher } from "./thread_launcher.js";
import type { SampleRequest } from "./worker_protocol.js";

/** How long `stop()` lets a runner close its envs before it is terminated anyway. */
const STOP_GRACE_MS = 2000;
/** Async mode: sample requests a runner has queued at once (the worker runs them one after another). */
const PIPELINE_DEPTH = 2;
/** Puts whose caller version a fragment can still be traced to; a fragment is a few puts old at most. */
const VERSION_HISTORY = 4096;

/** `C` says what the runners write: on-policy fragments or replay transitions. */
export class EnvRunnerActorGroup<C extends CollectSpec> implements EnvRunnerGroup<SampleOf<C>> {
  private readonly restarts: RestartPolicy;
  private weightsVersion = 0;
  /** The store's version of the newest weights (the store numbers its puts 1, 2, 3, ...). */
  private storeVersion = 0;
  /**
   * The caller's version of each recent put, at `storeVersion % VERSION_HISTORY`: callers number their
   * weights as they like (PPO by iteration, DQN by gradient step, a restored checkpoint jumps).
   */
  private readonly versionOfPut = new Float64Array(VERSION_HISTORY);
  private stopped = false;
  private asyncRunning = false;
  private asyncLoops: Promise<void>[] = [];
  /** The last merged runner statistics (observations, returns), for runners that start later. */
  private filters: RunnerFilterStates | null = null;
  /** Set when a runner failed and could not be replaced; the group is stopped then. */
  private fatalError: Error | undefined;
  private queue: SampleOf<C>[] = [];

  /** Async mode: sample requests posted and not yet answered, over all runners. */
  private inFlight = 0;
  private queueWaiters: (() => void)[] = [];
  private readonly maxQueuedFragments: number;
  private readonly timeoutMs: number;

  private constructor(
    private readonly config: EnvRunnerConfig<C>,
    private readonly launcher: RunnerLauncher,
    private readonly runners: RunnerActor<SampleOf<C>>[],
    /** The module the runners act with. */
    readonly moduleSpec: ModuleSpec,
    readonly store: ObjectStore,
    private readonly epsilonsFor: EpsilonsFor | undefined,
  ) {
    this.timeoutMs = config.env_runners.sample_timeout_s * 1000;
    this.restarts = new RestartPolicy(config.env_runners);
    // Async mode: runners pause once this many fragments wait for `drain()`.
    this.maxQueuedFragments = 2 * runners.length;
  }

  /**
   * Starts `env_runners.num_env_runners` runners with `launcher` (default: worker threads) and waits
   * until each has built its env runner.
   */
  static async create<C extends CollectSpec>(
    config: EnvRunnerConfig<C>,
    epsilonsFor?: EpsilonsFor,
    launcher: RunnerLauncher = threadLauncher,
  ): Promise<EnvRunnerActorGroup<C>> {
    const count = config.env_runners.num_env_runners;
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(
        `env_runners.num_env_runners must be at least 1 for runner actors (0 samples locally), got ${count}`,
      );
    }
    const started = await Promise.allSettled(
      Array.from({ length: count }, (_, index) => launcher.start<SampleOf<C>>(config, index, 0)),
    );
    const runners = started.flatMap((result) => (result.status === "fulfilled" ? [result.value.runner] : []));
    try {
      const failure = started.find((result) => result.status === "rejected");
      if (failure) throw failure.reason;
      const { spec } = (started[0] as PromiseFulfilledResult<{ spec: ModuleSpec }>).value;
      const store = createWeightsStore(spec);
      const handle = store.handle();
      await Promise.all(
        runners.map((runner) => guarded(runner, runner.api.useStore(handle), "useStore", START_TIMEOUT_MS)),
      );
      return new EnvRunnerActorGroup(config, launcher, runners, spec, store, epsilonsFor);
    } catch (error) {
      await Promise.all(runners.map((runner) => runner.terminate()));
      await launcher.close();
      throw error;
    }
  }

  get numEnvRunners(): number {
    return this.runners.length;
  }

  /** Runners replaced after a failure, over the group's life (`fault/num_worker_restarts`). */
  get numWorkerRestarts(): number {
    return this.restarts.numRestarts;
  }

  drainRestarts(): RestartRecord[] {
    return this.restarts.drainRecords();
  }

  /** The newest weights version published with `syncWeights`. */
  get latestWeightsVersion(): number {
    return this.weightsVersion;
  }

  /** Runner `index` as it is now, for health checks (and tests that kill one). */
  actor(index: number): RunnerActor<SampleOf<C>> {
    const runner = this.runners[index];
    if (!runner) throw new RangeError(`no rollout worker ${index}: the group has ${this.runners.length}`);
    return runner;
  }

  /**
   * The newest put in the group's store (by the learner, in whichever thread it runs) holds weights
   * `version`: the runners read it from there, nothing is copied.
   */
  async syncWeights(version: number): Promise<void> {
    this.storeVersion = this.store.latestVersion(WEIGHTS_ENTRY);
    this.versionOfPut[this.storeVersion % VERSION_HISTORY] = version;
    this.weightsVersion = version;
  }

  /**
   * Sync mode: one fragment from every runner, each sampled with the weights last given to
   * `syncWeights`. Fragments of runners that fail are left out (the runner is replaced); if all fail,
   * the replacements sample again.
   */
  async sample(): Promise<SampleOf<C>[]> {
    if (this.asyncRunning) {
      throw new Error("sample() while async sampling runs: call stopAsync() first, or drain()");
    }
    const request = {
      minVersion: this.storeVersion,
      waitTimeoutMs: this.timeoutMs,
    };
    for (;;) {
      const fragments = await Promise.all(
        this.runners.map((runner) =>
          this.sampleOn(runner, request).catch(async (error) => {
            await this.replace(runner, error);
            return undefined;
          }),
        ),
      );
      const sampled = fragments.filter((fragment) => fragment !== undefined);
      if (sampled.length > 0) return sampled;
    }
  }

  /** Async mode: every runner samples continuously, with the newest weights, into the queue. */
  startAsync(): void {
    if (this.stopped) throw new Error("startAsync() on a stopped env runner group");
    if (this.asyncRunning) return;
    this.asyncRunning = true;
    this.asyncLoops = this.runners.map((runner) => this.sampleContinuously(runner.index));
  }

  /**
   * Async mode: the queued fragments (oldest first), waiting until at least `minFragments` are there.
   * Throws the error that ended async sampling, if one did.
   */
  async drain(minFragments = 0): Promise<SampleOf<C>[]> {
    while (this.queue.length < minFragments && this.asyncRunning) await this.queueChanged();
    if (this.fatalError) throw this.fatalError;
    if (this.queue.length < minFragments) {
      throw new Error(`drain(${minFragments}): async sampling is not running (startAsync() first)`);
    }
    const fragments = this.queue;
    this.queue = [];
    this.notifyQueue();
    return fragments;
  }

  /** Ends async sampling once each runner's current fragment is in; queued fragments stay for `drain()`. */
  async stopAsync(): Promise<void> {
    this.asyncRunning = false;
    this.notifyQueue();
    await Promise.all(this.asyncLoops);
    this.asyncLoops = [];
  }

  async getMetrics(): Promise<EpisodeMetrics> {
    const perRunner = await Promise.all(
      this.runners.map((runner) => this.withRecovery(runner.index, (r) => r.api.getMetrics(), "getMetrics")),
    );
    return combineMetrics(perRunner);
  }

  async setFilters(state: RunnerFilterStates): Promise<void> {
    this.filters = state;
    await Promise.all(
      this.runners.map((runner) =>
        this.withRecovery(runner.index, (r) => r.api.setFilters(state), "setFilters"),
      ),
    );
  }

  /** Runner threads restart from fresh seeds: there is no generator state to keep. */
  async getState(): Promise<EnvRunnerState | null> {
    return null;
  }

  async setState(): Promise<void> {}

  /** Greedy episodes with the newest weights, split over the runners. */
  async evaluate(numEpisodes: number): Promise<EpisodeMetrics> {
    if (!Number.isInteger(numEpisodes) || numEpisodes < 1) {
      throw new RangeError(`evaluate: numEpisodes must be a positive integer, got ${numEpisodes}`);
    }
    const count = this.runners.length;
    const shares = this.runners.map(
      (_, i) => Math.floor(numEpisodes / count) + (i < numEpisodes % count ? 1 : 0),
    );
    const perRunner = await Promise.all(
      shares.map((share, index) =>
        share === 0
          ? { returns: [], lengths: [] }
          : this.withRecovery(index, (runner) => runner.api.evaluate(share), "evaluate"),
      ),
    );
    return combineMetrics(perRunner);
  }

  /** Closes every runner's envs and ends every runner; nothing of the group keeps the process alive. */
  async stop(): Promise<void> {
    await this.shutDown();
    await Promise.all(this.asyncLoops);
    await Promise.all(this.runners.map((runner) => runner.replacement?.catch(() => {})));
    await this.launcher.close();
  }

  /** Marks the group stopped and ends every runner, after letting each close its envs. */
  private async shutDown(): Promise<void> {
    this.stopped = true;
    this.asyncRunning = false;
    this.notifyQueue();
    await Promise.all(
      this.runners.map(async (runner) => {
        await guarded(runner, runner.api.stop(), "stop", STOP_GRACE_MS).catch(() => {});
        await runner.terminate();
      }),
    );
  }

  /**
   * Keeps up to `PIPELINE_DEPTH` sample requests queued at runner `index`, as long as the fragments
   * queued and in flight stay under `maxQueuedFragments`. Requests are posted ahead because this loop
   * runs in the learner's thread: while the learner computes, it cannot post, and a runner with nothing
   * queued would sit idle until the learner next awaits.
   */
  private async sampleContinuously(index: number): Promise<void> {
    const request = { minVersion: 0, waitTimeoutMs: this.timeoutMs };
    const pending = new Set<Promise<void>>();
    while (this.asyncRunning) {
      if (pending.size >= PIPELINE_DEPTH || this.queue.length + this.inFlight >= this.maxQueuedFragments) {
        await this.queueChanged();
        continue;
      }
      const runner = this.runners[index];
      this.inFlight += 1;
      const call: Promise<void> = this.sampleOn(runner, request)
        .then(
          (fragment) => {
            this.queue.push(fragment);
          },
          async (error) => {
            // Fails only once the group is stopped, by stop() or by a failure drain() then reports.
            if (this.asyncRunning) await this.replace(runner, error).catch(() => {});
          },
        )
        .finally(() => {
          this.inFlight -= 1;
          pending.delete(call);
          this.notifyQueue();
        });
      pending.add(call);
    }
    await Promise.all(pending);
  }

  /** One fragment from `runner`, its weights version translated from the store's to the caller's. */
  private async sampleOn(runner: RunnerActor<SampleOf<C>>, request: SampleRequest): Promise<SampleOf<C>> {
    const epsilons = this.epsilonsFor?.(runner.index);
    const fragment = await guarded(
      runner,
      runner.api.sample(epsilons ? { ...request, epsilons } : request) as Promise<SampleOf<C>>,
      "sample",
      this.timeoutMs,
    );
    const put = fragment.weightsVersion;
    if (this.storeVersion - put >= VERSION_HISTORY) {
      throw new Error(
        `rollout worker ${runner.index}: fragment sampled with weights ${this.storeVersion - put} puts old (the group remembers ${VERSION_HISTORY})`,
      );
    }
    fragment.weightsVersion = this.versionOfPut[put % VERSION_HISTORY];
    this.restarts.succeeded(runner.index);
    return fragment;
  }

  /** `call` on runner `index`, replacing the runner and calling again while it fails. */
  private async withRecovery<T>(
    index: number,
    call: (runner: RunnerActor<SampleOf<C>>) => Promise<T>,
    what: string,
  ): Promise<T> {
    for (;;) {
      const runner = this.runners[index];
      try {
        return await guarded(runner, call(runner), what, what === "evaluate" ? undefined : this.timeoutMs);
      } catch (error) {
        await this.replace(runner, error);
      }
    }
  }

  /** Replaces a failed runner by a fresh one, or throws when the fault settings forbid it. */
  private replace(failed: RunnerActor<SampleOf<C>>, reason: unknown): Promise<void> {
    failed.replacement ??= this.startReplacement(failed, reason);
    return failed.replacement;
  }

  private async startReplacement(failed: RunnerActor<SampleOf<C>>, reason: unknown): Promise<void> {
    // Its envs (Python servers included) are closed while the runner still answers; a dead one cannot.
    await guarded(failed, failed.api.stop(), "stop", STOP_GRACE_MS).catch(() => {});
    await failed.terminate();
    const fatal = this.restarts.check(failed.index, reason);
    if (!this.stopped && fatal) {
      this.fatalError = fatal;
      // A group that cannot go on ends its other threads too, so the error leaves none behind.
      await this.shutDown();
    }
    if (this.stopped) throw this.stoppedError(failed.index);
    this.restarts.restarting(failed.index, reason);
    const { runner } = await this.launcher.start<SampleOf<C>>(
      this.config,
      failed.index,
      failed.generation + 1,
    );
    if (this.stopped) {
      await runner.terminate();
      throw this.stoppedError(failed.index);
    }
    await guarded(runner, runner.api.useStore(this.store.handle()), "useStore", START_TIMEOUT_MS);
    // A fresh runner normalises with the group's statistics, not from scratch.
    if (this.filters) {
      const filter = this.filters;
      await guarded(runner, runner.api.setFilters(filter), "setFilters", START_TIMEOUT_MS);
    }
    this.runners[failed.index] = runner;
  }

  /** What a call on a stopped group fails with: the failure that stopped it, if one did. */
  private stoppedError(index: number): Error {
    return this.fatalError ?? new Error(`rollout worker ${index}: the env runner group was stopped`);
  }

  private queueChanged(): Promise<void> {
    return new Promise((resolve) => this.queueWaiters.push(resolve));
  }

  private notifyQueue(): void {
    const waiters = this.queueWaiters;
    this.queueWaiters = [];
    for (const wake of waiters) wake();
  }
}

/** Every runner's episodes (and observation statistics) as one group's. */
function combineMetrics(perRunner: EpisodeMetrics[]): EpisodeMetrics {
  const deltas = perRunner.flatMap((metrics) => metrics.filterDeltas ?? []);
  return {
    returns: perRunner.flatMap((metrics) => metrics.returns),
    lengths: perRunner.flatMap((metrics) => metrics.lengths),
    ...(deltas.length > 0 ? { filterDeltas: deltas } : {}),
  };
}
