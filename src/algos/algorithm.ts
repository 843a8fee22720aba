/**
 * The algorithm base (RLlib's `Algorithm`): what every algorithm shares, so that each one only writes
 * its `trainingStep()`. It owns the env runner group and the learner actor, the counters, the
 * 100-episode window behind `env_runners/episode_return_mean`, RLlib's metric names, evaluation, the
 * exported policy, the whole state for checkpoints, and `save(dir)` / `Algorithm.fromCheckpoint(dir)`.
 */
import type * as tf from "@tensorflow/tfjs";
import type { VersionedSample } from "../buffers/fragment.js";
import { type CommonRunConfig, envRunnerPlacement, type LearnerConfig } from "../config/schema.js";
import type { RunningMeanStd, RunningMeanStdState } from "../envs/wrappers.js";
import type { LearnerSpec } from "../learner/learner.js";
import {
  type BatchOf,
  createLearnerActor,
  type LearnerActor,
  type LearnerModuleUrl,
  type ResultOf,
} from "../learner/learner_actor.js";
import type { ModuleSpec } from "../models/catalog.js";
import { modulePolicyMetadata, policyLayersModel } from "../models/export.js";
import type { PolicyMetadata } from "../models/policy.js";
import type { CollectSpec, EnvRunnerConfig, EnvRunnerState, SampleOf } from "../rollout/env_runner.js";
import type { EnvRunnerGroup, EpsilonsFor } from "../rollout/env_runner_group.js";
import {
  emptyStatistics,
  FILTER_CLIP,
  FILTER_EPSILON,
  type RunnerFilterStates,
} from "../rollout/observation_filter.js";
import { createEnvRunnerGroup } from "../rollout/placement.js";
import type { RestartRecord } from "../rollout/restarts.js";
import { mean } from "../utils/stats.js";
import { readCheckpoint, writeCheckpointAt } from "./checkpoint.js";

/** Episodes averaged into `env_runners/episode_return_mean`, as RLlib's metrics_num_episodes_for_smoothing. */
const EPISODE_WINDOW = 100;

/** `into` += the statistics `state` (no-op without `into`). */
function merge(into: RunningMeanStd | null, state: RunningMeanStdState): void {
  into?.merge(state.mean, state.var, state.count);
}

/** Plain data: numbers, strings, booleans, typed arrays, arrays and objects of them. */
export type AlgorithmState = Record<string, unknown>;

/** What every algorithm's checkpoint holds; `algorithm` is its own part (`getAlgorithmState`). */
interface BaseState {
  /**
   * The runner statistics merged over every runner (`observation_filter: MeanStdFilter`'s observations,
   * `normalize_rewards`' returns); null for checkpoints from before they existed.
   */
  filters: RunnerFilterStates | null;
  iteration: number;
  numEnvStepsSampled: number;
  numEnvStepsTrained: number;
  timeTotalS: number;
  recentReturns: number[];
  recentLengths: number[];
  runners: EnvRunnerState | null;
  learner: AlgorithmState;
  algorithm: AlgorithmState;
}

/**
 * `Config` is the algorithm's run config, `Sample` what its env runners write (fragments or transitions),
 * `L` its learner class (the learner actor's batch and result types follow from it).
 */
export abstract class Algorithm<
  Config extends CommonRunConfig = CommonRunConfig,
  Sample extends VersionedSample = VersionedSample,
  L = unknown,
> {
  protected iteration = 0;
  protected numEnvStepsSampled = 0;
  protected numEnvStepsTrained = 0;
  private timeTotalS = 0;
  private recentReturns: number[] = [];
  private recentLengths: number[] = [];
  /** `env_runners.observation_filter: MeanStdFilter`: the statistics every runner normalises with. */
  private readonly observationFilter: RunningMeanStd | null;
  /** `env_runners.normalize_rewards`: the discounted return's statistics every runner scales rewards by. */
  private readonly returnStatistics: RunningMeanStd | null;

  protected constructor(
    readonly config: Config,
    protected readonly runners: EnvRunnerGroup<Sample>,
    protected readonly learner: LearnerActor<BatchOf<L>, ResultOf<L>>,
  ) {
    this.observationFilter =
      config.env_runners.observation_filter === "MeanStdFilter"
        ? emptyStatistics(runners.moduleSpec.obsDim)
        : null;
    this.returnStatistics = config.env_runners.normalize_rewards ? emptyStatistics(1) : null;
  }

  /**
   * The registered algorithm `config.algo` names (`PPO.create`, `DQN.create`, ... take their own config,
   * typed).
   */
  static async create(config: unknown): Promise<Algorithm> {
    // The registry imports every algorithm, and every algorithm imports this file.
    const { createAlgorithm, parseRunConfig } = await import("./index.js");
    return createAlgorithm(parseRunConfig(config));
  }

  /**
   * Restores the algorithm saved in checkpoint `dir` (or a run folder's newest): `PPO.fromCheckpoint(dir)`
   * gives a PPO, `Algorithm.fromCheckpoint(dir)` whichever algorithm the checkpoint holds.
   */
  static async fromCheckpoint<A extends Algorithm>(
    this: { create(config: unknown): Promise<A> },
    dir: string,
  ): Promise<A> {
    const checkpoint = await readCheckpoint(dir);
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class it was called on: PPO.fromCheckpoint creates a PPO.
    const algorithm = await this.create(checkpoint.config);
    try {
      await algorithm.setState(checkpoint.state as AlgorithmState);
    } catch (error) {
      await algorithm.stop();
      throw error;
    }
    return algorithm;
  }

  /** The tfjs backend the learner runs on, and the native BLAS it uses, if any. */
  get backend(): string {
    const { backend, blas, threads } = this.learner;
    const learnerThreads = threads > 1 ? `, ${threads} learner threads` : "";
    return `${blas ? `${backend} + native BLAS (${blas})` : backend}${learnerThreads}`;
  }

  /** The RLModule the runners act with and the learner trains. */
  get moduleSpec(): ModuleSpec {
    return this.runners.moduleSpec;
  }

  /** One iteration's sampling and learning; returns the algorithm's own metrics. Updates the counters. */
  protected abstract trainingStep(): Promise<Record<string, number>>;

  /** The algorithm's own part of the state (counters, schedules, buffers) for checkpoints. */
  protected getAlgorithmState(): AlgorithmState {
    return {};
  }

  protected async setAlgorithmState(_state: AlgorithmState): Promise<void> {}

  /** The version the runners number the current weights by (iterations; DQN counts gradient steps). */
  protected get weightsVersion(): number {
    return this.iteration;
  }

  /** One training iteration; returns RLlib-named metrics. */
  async train(): Promise<Record<string, number>> {
    const start = performance.now();
    const metrics = await this.trainingStep();
    for (const [name, value] of Object.entries(metrics)) {
      if (/^learners\/.*(loss|grad_norm)$/.test(name) && !Number.isFinite(value)) {
        throw new RangeError(`${name} is ${value} at iteration ${this.iteration + 1}: training stops`);
      }
    }
    const episodes = await this.runners.getMetrics();
    await this.syncFilters(episodes.filterDeltas ?? []);
    this.recentReturns = [...this.recentReturns, ...episodes.returns].slice(-EPISODE_WINDOW);
    this.recentLengths = [...this.recentLengths, ...episodes.lengths].slice(-EPISODE_WINDOW);
    this.iteration += 1;
    const seconds = (performance.now() - start) / 1000;
    this.timeTotalS += seconds;
    const window = this.recentReturns;
    return {
      training_iteration: this.iteration,
      "env_runners/episode_return_mean": mean(window),
      "env_runners/episode_return_min": window.length ? Math.min(...window) : Number.NaN,
      "env_runners/episode_return_max": window.length ? Math.max(...window) : Number.NaN,
      "env_runners/episode_len_mean": mean(this.recentLengths),
      "env_runners/num_episodes": episodes.returns.length,
      num_env_steps_sampled_lifetime: this.numEnvStepsSampled,
      num_env_steps_trained_lifetime: this.numEnvStepsTrained,
      ...metrics,
      "fault/num_worker_restarts": this.runners.numWorkerRestarts,
      time_this_iter_s: seconds,
      time_total_s: this.timeTotalS,
    };
  }

  /** Merges each runner's new statistics into the global ones and hands those to every runner. */
  private async syncFilters(deltas: RunnerFilterStates[]): Promise<void> {
    if (!this.observationFilter && !this.returnStatistics) return;
    for (const delta of deltas) {
      if (delta.observations) merge(this.observationFilter, delta.observations);
      if (delta.returns) merge(this.returnStatistics, delta.returns);
    }
    await this.runners.setFilters(this.filterStates());
  }

  private filterStates(): RunnerFilterStates {
    return {
      ...(this.observationFilter ? { observations: this.observationFilter.getState() } : {}),
      ...(this.returnStatistics ? { returns: this.returnStatistics.getState() } : {}),
    };
  }

  /** Env runner restarts since the last call, for the run folder's record. */
  drainRestarts(): RestartRecord[] {
    return this.runners.drainRestarts();
  }

  /** Greedy-policy episodes on the runners' evaluation envs, under RLlib's `evaluation/` names. */
  async evaluate(numEpisodes: number): Promise<Record<string, number>> {
    const start = performance.now();
    // Runners evaluate between fragments: async sampling pauses until the next train() resumes it.
    await this.runners.stopAsync();
    const { returns, lengths } = await this.runners.evaluate(numEpisodes);
    this.timeTotalS += (performance.now() - start) / 1000;
    return {
      "evaluation/env_runners/episode_return_mean": mean(returns),
      "evaluation/env_runners/episode_len_mean": mean(lengths),
      "evaluation/env_runners/num_episodes": returns.length,
    };
  }

  /**
   * Distributions worth a TensorBoard histogram, as of the last iteration: the module's weights, and what
   * the algorithm adds (its actions, advantages or TD errors).
   */
  histograms(): Record<string, ArrayLike<number>> {
    return { "learners/weights": this.learner.latestWeights() };
  }

  /** The greedy policy as a tfjs layers model with the newest weights (the caller disposes it). */
  policyModel(): tf.LayersModel {
    return policyLayersModel(this.moduleSpec, this.learner.latestWeights());
  }

  /** What `policyModel()`'s input and output mean: `policy.json` beside it. */
  policyMetadata(): PolicyMetadata {
    const filter = this.observationFilter;
    const normalization = filter && {
      mean: Array.from(filter.mean),
      var: Array.from(filter.var),
      epsilon: FILTER_EPSILON,
      clip: FILTER_CLIP,
    };
    return modulePolicyMetadata(this.config.algo, this.config.env.id, this.moduleSpec, normalization);
  }

  async getState(): Promise<AlgorithmState> {
    const state: BaseState = {
      filters: this.filterStates(),
      iteration: this.iteration,
      numEnvStepsSampled: this.numEnvStepsSampled,
      numEnvStepsTrained: this.numEnvStepsTrained,
      timeTotalS: this.timeTotalS,
      recentReturns: [...this.recentReturns],
      recentLengths: [...this.recentLengths],
      runners: await this.runners.getState(),
      learner: await this.learner.getState(),
      algorithm: this.getAlgorithmState(),
    };
    return state as unknown as AlgorithmState;
  }

  async setState(saved: AlgorithmState): Promise<void> {
    const state = saved as unknown as BaseState;
    this.iteration = state.iteration;
    this.numEnvStepsSampled = state.numEnvStepsSampled;
    this.numEnvStepsTrained = state.numEnvStepsTrained;
    this.timeTotalS = state.timeTotalS;
    this.recentReturns = [...state.recentReturns];
    this.recentLengths = [...state.recentLengths];
    await this.learner.setState(state.learner);
    await this.runners.setState(state.runners);
    const { observations, returns } = state.filters ?? {};
    if (observations) this.observationFilter?.setState(observations);
    if (returns) this.returnStatistics?.setState(returns);
    if (this.observationFilter || this.returnStatistics) await this.runners.setFilters(this.filterStates());
    await this.setAlgorithmState(state.algorithm);
    // The runners act with the restored weights from here on.
    await this.runners.syncWeights(this.weightsVersion);
  }

  /** Writes a checkpoint folder at `dir` (atomically; `rlts evaluate` and `fromCheckpoint` read it). */
  async save(dir: string): Promise<string> {
    const model = this.policyModel();
    try {
      return await writeCheckpointAt(dir, {
        algo: this.config.algo,
        iteration: this.iteration,
        config: this.config,
        state: await this.getState(),
        policy: { model, metadata: this.policyMetadata() },
      });
    } finally {
      model.dispose();
    }
  }

  /** Stops the env runners (and their remote envs) and the learner. */
  async stop(): Promise<void> {
    try {
      await this.runners.stop();
    } finally {
      await this.learner.stop();
    }
  }
}

/**
 * An algorithm's two actors: the env runner group `runnerConfig` asks for, and a learner actor built from
 * `learner` with the runners' module spec, the algorithm's config `section` and the seed, putting into the
 * group's store; the runners then sync to its initial weights. If the learner cannot start, the runners
 * are stopped before the error is thrown.
 */
export async function startActors<C extends CollectSpec, L, Section>(
  config: { seed: number; learner: LearnerConfig },
  runnerConfig: EnvRunnerConfig<C>,
  learner: LearnerModuleUrl<L>,
  section: Section,
  epsilonsFor?: EpsilonsFor,
): Promise<{ runners: EnvRunnerGroup<SampleOf<C>>; learner: LearnerActor<BatchOf<L>, ResultOf<L>> }> {
  const runners = await createEnvRunnerGroup(runnerConfig, epsilonsFor);
  try {
    const spec: LearnerSpec<Section> = {
      module: runners.moduleSpec,
      config: section,
      seed: config.seed,
      fused: config.learner.fused,
    };
    // Threads sampling beside the learner: runner threads (`threads`, and `ray` with Gymnasium envs, whose
    // runners stepping the actors' envs are threads here), or the main thread when the learner has a
    // thread of its own (it samples while the learner updates).
    const placement = envRunnerPlacement(runnerConfig.env_runners);
    const localRunners =
      placement === "threads" || (placement === "ray" && runnerConfig.env.backend === "gymnasium");
    const samplingThreads = localRunners
      ? runnerConfig.env_runners.num_env_runners
      : placement === "main" && config.learner.num_learners === 1
        ? 1
        : 0;
    const actor = await createLearnerActor<LearnerSpec<Section>, BatchOf<L>, ResultOf<L>>(
      { module: learner.url.href, spec },
      config.learner,
      runners.store,
      samplingThreads,
    );
    await runners.syncWeights(0);
    return { runners, learner: actor };
  } catch (error) {
    await runners.stop();
    throw error;
  }
}
