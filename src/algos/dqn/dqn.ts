/**
 * DQN (Mnih et al. 2015) with RLlib's extensions: Double DQN, dueling heads, n-step returns, prioritized
 * replay, Polyak or hard target updates, a replay ratio (`training_intensity`) and Ape-X per-env epsilons.
 *
 * One `train()` call is one iteration: sample `min_sample_timesteps_per_iteration` env steps fragment by
 * fragment; after each fragment, once `num_steps_sampled_before_learning_starts` steps are in the buffer,
 * take the gradient steps the replay ratio asks for, move the target network every
 * `target_network_update_freq` sampled steps, and hand the runner the new weights.
 */
import type * as tf from "@tensorflow/tfjs";
import type { EnvConfig, EnvRunnersConfig, LearnerConfig, ModelConfig } from "../../config/schema.js";
import { type BackendName, selectBackend } from "../../learner/backend.js";
import { Learner, MetricsAccumulator, type OptimizerState } from "../../learner/learner.js";
import { type PolicyMetadata, policyMetadataFor } from "../../models/policy.js";
import { type EpisodeMetrics, type VectorEnvFactory, vectorEnvFactory } from "../../rollout/env_runner.js";
import { scheduleValue } from "../../utils/schedule.js";
import type { Algorithm, AlgorithmState } from "../algorithm.js";
import type { DQNConfig } from "./config.js";
import { tdLoss, tdTargets } from "./loss.js";
import { initialQWeights, QNetwork, qLayersModel, setQLayersWeights } from "./q_network.js";
import { PrioritizedReplayBuffer, ReplayBuffer, type ReplayBufferState } from "./replay.js";
import { DQNRunner } from "./runner.js";

/** The parts of the run config DQN reads. */
export interface DQNRunConfig {
  seed: number;
  learner: LearnerConfig;
  env: EnvConfig;
  env_runners: EnvRunnersConfig;
  model: ModelConfig;
  dqn: DQNConfig;
}

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
  gradientSteps: number;
  lastTargetUpdate: number;
  targetUpdates: number;
  /** Fractional gradient steps owed by the replay ratio, carried between fragments. */
  updateCredit: number;
}

export class DQN implements Algorithm {
  private readonly online: QNetwork;
  private readonly target: QNetwork;
  private readonly learner: Learner;
  private readonly buffer: ReplayBuffer;
  private readonly fragmentLength: number;
  private readonly epsilons: Float64Array;
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
    private readonly config: DQNRunConfig,
    /** The tfjs backend the learner runs on. */
    readonly backend: BackendName,
    private readonly runner: DQNRunner,
  ) {
    const { dqn, seed } = config;
    const spec = runner.spec;
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
    const fragment = config.env_runners.rollout_fragment_length;
    // "auto": one vector step per fragment, so learning interleaves with sampling as finely as possible.
    this.fragmentLength = fragment === "auto" ? 1 : fragment;
    this.epsilons = new Float64Array(runner.numEnvs);
    if (dqn.per_worker_exploration) this.epsilons.set(apexEpsilons(runner.numEnvs));
    runner.setWeights(weights);
  }

  static async create(
    config: DQNRunConfig,
    makeEnv: VectorEnvFactory = vectorEnvFactory(config.env),
  ): Promise<DQN> {
    if (config.env_runners.num_env_runners > 0) {
      throw new Error(
        `DQN samples in the main thread so far: set env_runners.num_env_runners to 0 (got ${config.env_runners.num_env_runners})`,
      );
    }
    const backend = await selectBackend(config.learner.backend);
    const { dqn, model, seed } = config;
    const runner = await DQNRunner.create(makeEnv, {
      numEnvs: config.env_runners.num_envs_per_env_runner,
      seed,
      index: 0,
      nStep: dqn.n_step,
      gamma: dqn.gamma,
      encoderHiddens: model.hiddens,
      headHiddens: dqn.hiddens,
      activation: model.activation,
      dueling: dqn.dueling,
    });
    return new DQN(config, backend, runner);
  }

  /** Exploration epsilon at the current step (Ape-X: the per-env epsilons are fixed). */
  get epsilon(): number {
    return scheduleValue(this.config.dqn.epsilon, this.counters.sampledSteps);
  }

  async train(): Promise<Record<string, number>> {
    const { dqn } = this.config;
    const start = performance.now();
    const firstStep = this.counters.sampledSteps;
    const fragmentSteps = this.fragmentLength * this.runner.numEnvs;
    const learnerMetrics = new MetricsAccumulator();
    let sampleMs = 0;
    let learnMs = 0;
    while (this.counters.sampledSteps - firstStep < dqn.min_sample_timesteps_per_iteration) {
      const sampleStart = performance.now();
      if (!dqn.per_worker_exploration) this.epsilons.fill(this.epsilon);
      this.buffer.addBatch(await this.runner.sample(this.fragmentLength, this.epsilons));
      this.counters.sampledSteps += fragmentSteps;
      const learnStart = performance.now();
      sampleMs += learnStart - sampleStart;
      // The size check matters after restoring a checkpoint saved without its buffer.
      if (this.counters.sampledSteps < dqn.num_steps_sampled_before_learning_starts) continue;
      if (this.buffer.size < dqn.train_batch_size) continue;
      for (let k = this.gradientStepsFor(fragmentSteps); k > 0; k--) learnerMetrics.add(this.gradientStep());
      this.maybeUpdateTarget();
      this.runner.setWeights(this.online.getFlatWeights());
      learnMs += performance.now() - learnStart;
    }
    const episodes = this.runner.getMetrics();
    this.rememberEpisodes(episodes);
    const learned = learnerMetrics.read();
    const sampled = this.counters.sampledSteps - firstStep;
    return {
      ...this.episodeMetrics(episodes),
      num_env_steps_sampled_lifetime: this.counters.sampledSteps,
      num_env_steps_trained_lifetime: this.counters.trainedSteps,
      ...Object.fromEntries(Object.entries(learned).map(([name, value]) => [`learners/${name}`, value])),
      "learners/num_gradient_steps_lifetime": this.counters.gradientSteps,
      "learners/last_target_update_ts": this.counters.lastTargetUpdate,
      "learners/num_target_updates_lifetime": this.counters.targetUpdates,
      "learners/curr_lr": scheduleValue(dqn.lr, this.counters.sampledSteps),
      "env_runners/epsilon": dqn.per_worker_exploration ? Math.max(...this.epsilons) : this.epsilon,
      "replay/size": this.buffer.size,
      "replay/memory_bytes": this.buffer.memoryBytes(),
      "timers/sample_ms": sampleMs,
      "timers/learn_ms": learnMs,
      "throughput/env_steps_per_s": sampled / ((performance.now() - start) / 1000),
    };
  }

  /**
   * Gradient steps owed for `fragmentSteps` new env steps: training_intensity x steps / batch size
   * (fractions carried over), or one per fragment when no intensity is set.
   */
  private gradientStepsFor(fragmentSteps: number): number {
    const { training_intensity, train_batch_size } = this.config.dqn;
    if (training_intensity === null) return 1;
    this.counters.updateCredit += (training_intensity * fragmentSteps) / train_batch_size;
    const steps = Math.floor(this.counters.updateCredit);
    this.counters.updateCredit -= steps;
    return steps;
  }

  private gradientStep(): Record<string, tf.Scalar> {
    const { dqn } = this.config;
    const step = this.counters.sampledSteps;
    const beta = scheduleValue(dqn.replay_buffer_config.beta, step);
    const sample = this.buffer.sample(dqn.train_batch_size, beta);
    const targets = tdTargets(this.online, this.target, sample, dqn.double_q);
    const tdErrors: { value: tf.Tensor1D | null } = { value: null };
    const options = { doubleQ: dqn.double_q, lossFn: dqn.td_error_loss_fn };
    const metrics = this.learner.update(
      () => tdLoss(this.online, sample, targets, options, tdErrors),
      scheduleValue(dqn.lr, step),
    );
    if (this.buffer instanceof PrioritizedReplayBuffer) {
      this.buffer.updatePriorities(sample.indices, tdErrors.value!.dataSync());
    }
    tdErrors.value?.dispose();
    targets.dispose();
    this.counters.gradientSteps += 1;
    this.counters.trainedSteps += sample.count;
    return metrics;
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
    const result = await this.runner.evaluate(episodes);
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
    return policyMetadataFor("DQN", this.config.env.id, this.runner.spaces, head);
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
      runner: this.runner.getState(),
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
      runner: { rng: object };
      recentReturns: number[];
      recentLengths: number[];
      replay: ReplayBufferState | null;
    };
    this.online.setFlatWeights(s.weights);
    this.target.setFlatWeights(s.targetWeights);
    this.learner.setOptimizerState(s.optimizer);
    this.counters = { ...s.counters };
    this.runner.setState(s.runner);
    this.runner.setWeights(s.weights);
    this.recentReturns = [...s.recentReturns];
    this.recentLengths = [...s.recentLengths];
    // Without a stored buffer, training refills it from scratch (RLlib's default behaviour too).
    if (s.replay) this.buffer.setState(s.replay);
  }

  async stop(): Promise<void> {
    await this.runner.stop();
    this.learner.dispose();
    this.target.dispose();
    this.exportModel?.dispose();
  }
}
