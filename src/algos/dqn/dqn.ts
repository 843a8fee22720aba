/**
 * DQN (Mnih et al. 2015) with RLlib's extensions: Double DQN, dueling heads, n-step returns, prioritized
 * replay, Polyak or hard target updates, a replay ratio (`training_intensity`) and Ape-X per-env epsilons.
 *
 * One `train()` call is one iteration: take in `min_sample_timesteps_per_iteration` env steps fragment by
 * fragment; after each fragment, once `num_steps_sampled_before_learning_starts` steps are in the buffer,
 * take the gradient steps the replay ratio asks for, move the target network every
 * `target_network_update_freq` sampled steps, and hand the runners the new weights.
 *
 * With `num_env_runners` 0 the fragments are sampled in the main thread between gradient steps. With
 * worker threads the loop is asynchronous (Ape-X style): the runners keep sampling with the newest weights
 * from the object store while the learner trains, and the learner takes whatever fragments have queued.
 * The queue is bounded, so the runners wait for the learner and the replay ratio holds. Each fragment
 * carries the weights version (gradient steps taken) it was sampled with; the gap is logged as staleness.
 */
import * as tf from "@tensorflow/tfjs";
import type { RunConfig } from "../../config/schema.js";
import { type BackendName, selectBackend } from "../../learner/backend.js";
import { Learner, type OptimizerState } from "../../learner/learner.js";
import { type PolicyMetadata, policyMetadataFor } from "../../models/policy.js";
import type { EpisodeMetrics, VectorEnvFactory } from "../../rollout/env_runner.js";
import { fragmentLength, LocalEnvRunnerGroup } from "../../rollout/env_runner_group.js";
import { ThreadedEnvRunnerGroup } from "../../rollout/threaded_group.js";
import { scheduleValue } from "../../utils/schedule.js";
import type { Algorithm, AlgorithmState } from "../algorithm.js";
import { tdLossWithGradients, tdTargets } from "./loss.js";
import { initialQWeights, QNetwork, qLayersModel, setQLayersWeights } from "./q_network.js";
import { PrioritizedReplayBuffer, ReplayBuffer, type ReplayBufferState } from "./replay.js";
import { DQNRunner, type QPolicySpec, type SampledTransitions } from "./runner.js";

/** `env_runners/episode_return_mean` is the mean over this many most recent episodes (RLlib's window). */
const EPISODE_WINDOW = 100;

/** Ape-X's per-actor epsilons: env i of n explores with 0.4^(1 + 7 i / (n - 1)) (Horgan et al. 2018). */
export function apexEpsilons(numEnvs: number): Float64Array {
  return Float64Array.from(
    { length: numEnvs },
    (_, i) => 0.4 ** (1 + (numEnvs > 1 ? (7 * i) / (numEnvs - 1) : 0)),
  );
}

interface DQNCounters {
  sampledSteps: number;
  trainedSteps: number;
  /** Also the weights version: fragments record it, staleness is counted in it. */
  gradientSteps: number;
  lastTargetUpdate: number;
  targetUpdates: number;
  /** Fractional gradient steps owed by the replay ratio, carried between fragments. */
  updateCredit: number;
}

/** DQN's env runners: its own in the main thread, or runner threads sampling asynchronously. */
type DQNRunnerGroup =
  | LocalEnvRunnerGroup<DQNRunner>
  | ThreadedEnvRunnerGroup<QPolicySpec, SampledTransitions>;

export class DQN implements Algorithm {
  private readonly online: QNetwork;
  private readonly target: QNetwork;
  private readonly learner: Learner;
  private readonly buffer: ReplayBuffer;
  private readonly apexEpsilons: Float64Array | null;
  private counters: DQNCounters = {
    sampledSteps: 0,
    trainedSteps: 0,
    gradientSteps: 0,
    lastTargetUpdate: 0,
    targetUpdates: 0,
    updateCredit: 0,
  };
  private recentReturns: number[] = [];
  private recentLengths: number[] = [];
  private exportModel: tf.LayersModel | null = null;

  private constructor(
    private readonly config: RunConfig,
    /** The tfjs backend the learner runs on. */
    readonly backend: BackendName,
    private readonly runners: DQNRunnerGroup,
  ) {
    const { dqn, seed } = config;
    const spec = runners.policySpec;
    const weights = initialQWeights(spec, seed);
    this.online = new QNetwork(spec, weights);
    this.target = new QNetwork(spec, weights, false);
    this.learner = new Learner(this.online, { adamEpsilon: dqn.adam_epsilon, gradClip: dqn.grad_clip });
    const replay = dqn.replay_buffer_config;
    const bufferOptions = { capacity: replay.capacity, obsDim: spec.obsDim, seed };
    this.buffer =
      replay.type === "prioritized"
        ? new PrioritizedReplayBuffer({ ...bufferOptions, alpha: replay.alpha, epsilon: replay.epsilon })
        : new ReplayBuffer(bufferOptions);
    const totalEnvs =
      Math.max(1, config.env_runners.num_env_runners) * config.env_runners.num_envs_per_env_runner;
    this.apexEpsilons = dqn.per_worker_exploration ? apexEpsilons(totalEnvs) : null;
  }

  /**
   * DQN on the config's env: sampling in the main thread (`num_env_runners` 0; `makeEnv` replaces the
   * config's env factory there), or asynchronously in that many runner threads.
   */
  static async create(config: RunConfig, makeEnv?: VectorEnvFactory): Promise<DQN> {
    const backend = await selectBackend(config.learner.backend);
    const { num_env_runners: numRunners, num_envs_per_env_runner: envsPerRunner } = config.env_runners;
    // Filled in once the algorithm exists: the runners ask it for epsilons before every fragment.
    let algorithm: DQN | undefined;
    const epsilonsFor = (runnerIndex: number) => algorithm!.epsilonsFor(runnerIndex, envsPerRunner);
    const runners: DQNRunnerGroup =
      numRunners === 0
        ? new LocalEnvRunnerGroup(
            await DQNRunner.fromConfig(config, 0, makeEnv ? { makeEnv } : {}),
            fragmentLength(config),
            epsilonsFor,
          )
        : await ThreadedEnvRunnerGroup.create<QPolicySpec, SampledTransitions>(config, { epsilonsFor });
    algorithm = new DQN(config, backend, runners);
    await runners.setWeights(algorithm.online.getFlatWeights(), 0);
    return algorithm;
  }

  /** The runner threads (RLlib's `env_runner_group`), or null when sampling in the main thread. */
  get envRunnerGroup(): ThreadedEnvRunnerGroup<QPolicySpec, SampledTransitions> | null {
    return this.runners instanceof ThreadedEnvRunnerGroup ? this.runners : null;
  }

  /**
   * The next fragments: sampled now in the main thread, or those the runner threads have queued (at least
   * one; starting async sampling on the first call and after an evaluation).
   */
  private nextFragments(): Promise<SampledTransitions[]> {
    if (this.runners instanceof LocalEnvRunnerGroup) return this.runners.sample();
    this.runners.startAsync();
    return this.runners.drain(1);
  }

  /** Exploration epsilon at the current step (Ape-X: the per-env epsilons are fixed). */
  get epsilon(): number {
    return scheduleValue(this.config.dqn.epsilon, this.counters.sampledSteps);
  }

  /** The epsilons of runner `runnerIndex`'s envs for its next fragment. */
  private epsilonsFor(runnerIndex: number, envsPerRunner: number): number[] {
    if (this.apexEpsilons) {
      const first = runnerIndex * envsPerRunner;
      return Array.from(this.apexEpsilons.subarray(first, first + envsPerRunner));
    }
    return new Array<number>(envsPerRunner).fill(this.epsilon);
  }

  async train(): Promise<Record<string, number>> {
    const { dqn } = this.config;
    const start = performance.now();
    const firstStep = this.counters.sampledSteps;
    const firstGradientStep = this.counters.gradientSteps;
    // Sums of each gradient step's metrics, averaged over the iteration.
    const learnerSums: Record<string, number> = {};
    const staleness: number[] = [];
    let sampleMs = 0;
    let learnMs = 0;
    while (this.counters.sampledSteps - firstStep < dqn.min_sample_timesteps_per_iteration) {
      const sampleStart = performance.now();
      const fragments = await this.nextFragments();
      let newSteps = 0;
      for (const fragment of fragments) {
        this.buffer.addBatch(fragment);
        newSteps += fragment.numEnvSteps;
        staleness.push(this.counters.gradientSteps - fragment.weightsVersion);
      }
      this.counters.sampledSteps += newSteps;
      const learnStart = performance.now();
      sampleMs += learnStart - sampleStart;
      // The size check matters after restoring a checkpoint saved without its buffer.
      if (this.counters.sampledSteps < dqn.num_steps_sampled_before_learning_starts) continue;
      if (this.buffer.size < dqn.train_batch_size) continue;
      const gradientSteps = this.gradientStepsFor(newSteps, fragments.length);
      for (let k = 0; k < gradientSteps; k++) {
        for (const [name, value] of Object.entries(this.gradientStep())) {
          learnerSums[name] = (learnerSums[name] ?? 0) + value;
        }
      }
      this.maybeUpdateTarget();
      if (gradientSteps > 0) {
        await this.runners.setWeights(this.learner.getFlatWeights(), this.counters.gradientSteps);
      }
      learnMs += performance.now() - learnStart;
    }
    const episodes = await this.runners.getMetrics();
    this.rememberEpisodes(episodes);
    const iterationGradientSteps = this.counters.gradientSteps - firstGradientStep;
    const sampled = this.counters.sampledSteps - firstStep;
    return {
      ...this.episodeMetrics(episodes),
      num_env_steps_sampled_lifetime: this.counters.sampledSteps,
      num_env_steps_trained_lifetime: this.counters.trainedSteps,
      ...Object.fromEntries(
        Object.entries(learnerSums).map(([name, sum]) => [`learners/${name}`, sum / iterationGradientSteps]),
      ),
      "learners/num_gradient_steps_lifetime": this.counters.gradientSteps,
      "learners/last_target_update_ts": this.counters.lastTargetUpdate,
      "learners/num_target_updates_lifetime": this.counters.targetUpdates,
      "learners/curr_lr": scheduleValue(dqn.lr, this.counters.sampledSteps),
      "env_runners/epsilon": this.apexEpsilons ? Math.max(...this.apexEpsilons) : this.epsilon,
      // Gradient steps between the weights a fragment was sampled with and the learner's when it arrived.
      "env_runners/weights_staleness_mean": staleness.reduce((a, b) => a + b, 0) / staleness.length,
      "env_runners/weights_staleness_max": Math.max(...staleness),
      "fault/num_worker_restarts": this.runners.numWorkerRestarts,
      "replay/size": this.buffer.size,
      "replay/memory_bytes": this.buffer.memoryBytes(),
      // Threads: the time the learner waited for fragments (sampling itself overlaps learning).
      "timers/sample_ms": sampleMs,
      "timers/learn_ms": learnMs,
      "throughput/env_steps_per_s": sampled / ((performance.now() - start) / 1000),
      "throughput/gradient_steps_per_s": iterationGradientSteps / ((performance.now() - start) / 1000),
    };
  }

  /**
   * Gradient steps owed for `newSteps` env steps in `numFragments` fragments: training_intensity x steps /
   * batch size (fractions carried over), or one per fragment when no intensity is set.
   */
  private gradientStepsFor(newSteps: number, numFragments: number): number {
    const { training_intensity, train_batch_size } = this.config.dqn;
    if (training_intensity === null) return numFragments;
    this.counters.updateCredit += (training_intensity * newSteps) / train_batch_size;
    const steps = Math.floor(this.counters.updateCredit);
    this.counters.updateCredit -= steps;
    return steps;
  }

  /** One gradient step on a replay minibatch; returns its metrics. */
  private gradientStep(): Record<string, number> {
    const { dqn } = this.config;
    const step = this.counters.sampledSteps;
    const sample = this.buffer.sample(
      dqn.train_batch_size,
      scheduleValue(dqn.replay_buffer_config.beta, step),
    );
    const targets = tdTargets(this.online, this.target, sample, dqn.double_q);
    const options = { doubleQ: dqn.double_q, lossFn: dqn.td_error_loss_fn };
    let loss: ReturnType<typeof tdLossWithGradients> | undefined;
    let gradNorm = 0;
    tf.tidy(() => {
      loss = tdLossWithGradients(this.online, sample, targets, options);
      gradNorm = this.learner.applyGradient(loss.gradient, scheduleValue(dqn.lr, step));
    });
    const { tdErrors, metrics } = loss!;
    if (this.buffer instanceof PrioritizedReplayBuffer)
      this.buffer.updatePriorities(sample.indices, tdErrors);
    this.counters.gradientSteps += 1;
    this.counters.trainedSteps += sample.count;
    return { ...metrics, grad_norm: gradNorm };
  }

  /** RLlib's rule: once `target_network_update_freq` steps were sampled since the last update, move it by tau. */
  private maybeUpdateTarget(): void {
    const { target_network_update_freq, tau } = this.config.dqn;
    if (this.counters.sampledSteps - this.counters.lastTargetUpdate < target_network_update_freq) return;
    this.target.updateFrom(this.online, tau);
    this.counters.lastTargetUpdate = this.counters.sampledSteps;
    this.counters.targetUpdates += 1;
  }

  private rememberEpisodes(episodes: EpisodeMetrics): void {
    this.recentReturns = [...this.recentReturns, ...episodes.returns].slice(-EPISODE_WINDOW);
    this.recentLengths = [...this.recentLengths, ...episodes.lengths].slice(-EPISODE_WINDOW);
  }

  /** Means over the last 100 episodes (so a stop at 475 means "solved" as Gymnasium defines it). */
  private episodeMetrics(episodes: EpisodeMetrics): Record<string, number> {
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
    return {
      "env_runners/episode_return_mean": mean(this.recentReturns),
      "env_runners/episode_return_min": this.recentReturns.length
        ? Math.min(...this.recentReturns)
        : Number.NaN,
      "env_runners/episode_return_max": this.recentReturns.length
        ? Math.max(...this.recentReturns)
        : Number.NaN,
      "env_runners/episode_len_mean": mean(this.recentLengths),
      "env_runners/num_episodes": episodes.returns.length,
    };
  }

  async evaluate(episodes: number): Promise<Record<string, number>> {
    // A runner thread evaluates between fragments, not during one: async sampling pauses until the next
    // train() resumes it.
    if (this.runners instanceof ThreadedEnvRunnerGroup) await this.runners.stopAsync();
    const result = await this.runners.evaluate(episodes);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    return {
      "evaluation/env_runners/episode_return_mean": mean(result.returns),
      "evaluation/env_runners/episode_len_mean": mean(result.lengths),
      "evaluation/env_runners/num_episodes": result.returns.length,
    };
  }

  /** The Q network in the tfjs layers format (greedy action = argmax of its output), with current weights. */
  policyMetadata(): PolicyMetadata {
    const head = { kind: "q_values" as const, n: this.online.spec.numActions };
    const { observationSpace, actionSpace } = this.runners.policySpec;
    return policyMetadataFor("DQN", this.config.env.id, { observationSpace, actionSpace }, head);
  }

  get policyModel(): tf.LayersModel {
    this.exportModel ??= qLayersModel(this.online.spec);
    setQLayersWeights(this.exportModel, this.online.spec, this.online.getFlatWeights());
    return this.exportModel;
  }

  async getState(): Promise<AlgorithmState> {
    return {
      weights: this.online.getFlatWeights(),
      targetWeights: this.target.getFlatWeights(),
      optimizer: this.learner.getOptimizerState(),
      counters: { ...this.counters },
      // The exploration RNG of a main-thread runner; runner threads start from fresh seeds.
      runner: this.runners instanceof LocalEnvRunnerGroup ? this.runners.runner.getState() : null,
      recentReturns: [...this.recentReturns],
      recentLengths: [...this.recentLengths],
      replay: this.config.dqn.store_buffer_in_checkpoints ? this.buffer.getState() : null,
    };
  }

  async setState(state: AlgorithmState): Promise<void> {
    const s = state as {
      weights: Float32Array;
      targetWeights: Float32Array;
      optimizer: OptimizerState;
      counters: DQNCounters;
      runner: { rng: object } | null;
      recentReturns: number[];
      recentLengths: number[];
      replay: ReplayBufferState | null;
    };
    this.learner.setFlatWeights(s.weights);
    this.target.setFlatWeights(s.targetWeights);
    this.learner.setOptimizerState(s.optimizer);
    this.counters = { ...s.counters };
    if (s.runner && this.runners instanceof LocalEnvRunnerGroup) this.runners.runner.setState(s.runner);
    await this.runners.setWeights(s.weights, this.counters.gradientSteps);
    this.recentReturns = [...s.recentReturns];
    this.recentLengths = [...s.recentLengths];
    // Without a stored buffer, training refills it from scratch (RLlib's default behaviour too).
    if (s.replay) this.buffer.setState(s.replay);
  }

  async stop(): Promise<void> {
    await this.runners.stop();
    this.learner.dispose();
    this.target.dispose();
    this.exportModel?.dispose();
  }
}
