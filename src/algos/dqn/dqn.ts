/**
 * DQN (Mnih et al. 2015) with RLlib's extensions: Double DQN, dueling heads, n-step returns, prioritized
 * replay, Polyak or hard target updates, a replay ratio (`training_intensity`) and Ape-X per-env epsilons.
 *
 * One `train()` call is one iteration: take in `min_sample_timesteps_per_iteration` env steps fragment by
 * fragment; after each fragment, once `num_steps_sampled_before_learning_starts` steps are in the buffer,
 * take the gradient steps the replay ratio asks for, move the target network every
 * `target_network_update_freq` sampled steps, and sync the runners to the new weights.
 *
 * With `num_env_runners` 0 the fragments are sampled in the main thread between gradient steps. With
 * worker threads the loop is asynchronous (Ape-X style): the runners keep sampling with the newest weights
 * from the object store while the learner trains, and the learner takes whatever fragments have queued.
 * The queue is bounded, so the runners wait for the learner and the replay ratio holds. Each fragment
 * carries the weights version (gradient steps taken) it was sampled with; the gap is logged as staleness.
 */
import { PrioritizedReplayBuffer, ReplayBuffer, type ReplayBufferState } from "../../buffers/replay.js";
import { parseConfig } from "../../config/load.js";
import { type LearnerActor, learnerModule } from "../../learner/learner_actor.js";
import type { EnvRunnerConfig, SampledTransitions } from "../../rollout/env_runner.js";
import type { EnvRunnerGroup } from "../../rollout/env_runner_group.js";
import { scheduleValue } from "../../utils/schedule.js";
import { Algorithm, type AlgorithmState, startActors } from "../algorithm.js";
import { type DQNRunConfig, type DQNRunConfigInput, dqnRunConfigSchema } from "./config.js";
import type { DQNLearner, DQNUpdate, DQNUpdateResult } from "./learner.js";

/** Ape-X's per-actor epsilons: env i of n explores with 0.4^(1 + 7 i / (n - 1)) (Horgan et al. 2018). */
export function apexEpsilons(numEnvs: number): Float64Array {
  return Float64Array.from(
    { length: numEnvs },
    (_, i) => 0.4 ** (1 + (numEnvs > 1 ? (7 * i) / (numEnvs - 1) : 0)),
  );
}

/**
 * The env runners' config slice: n-step transitions, fragments of one vector step in the main thread (so
 * learning interleaves with sampling as finely as possible) and 8 in runner threads (each fragment costs
 * a round trip between threads), unless set.
 */
function dqnEnvRunnerConfig(
  config: DQNRunConfig,
): EnvRunnerConfig<{ kind: "transitions"; nStep: number; gamma: number }> {
  const { rollout_fragment_length, num_env_runners } = config.env_runners;
  const { dqn, model } = config;
  return {
    seed: config.seed,
    env: config.env,
    env_runners: config.env_runners,
    module: { type: "q", model, headHiddens: dqn.hiddens, dueling: dqn.dueling },
    collect: { kind: "transitions", nStep: dqn.n_step, gamma: dqn.gamma },
    numSteps: rollout_fragment_length === "auto" ? (num_env_runners === 0 ? 1 : 8) : rollout_fragment_length,
  };
}

interface DQNCounters {
  /** Also the weights version: fragments record it, staleness is counted in it. */
  gradientSteps: number;
  lastTargetUpdate: number;
  targetUpdates: number;
  /** Fractional gradient steps owed by the replay ratio, carried between fragments. */
  updateCredit: number;
}

export class DQN extends Algorithm<DQNRunConfig, SampledTransitions, DQNLearner> {
  private readonly buffer: ReplayBuffer;
  private readonly apexEpsilons: Float64Array | null;
  /** The last gradient step's TD errors, for the histogram. */
  private lastTdErrors: Float32Array = new Float32Array(0);
  private counters: DQNCounters = {
    gradientSteps: 0,
    lastTargetUpdate: 0,
    targetUpdates: 0,
    updateCredit: 0,
  };

  private constructor(
    config: DQNRunConfig,
    runners: EnvRunnerGroup<SampledTransitions>,
    learner: LearnerActor<DQNUpdate, DQNUpdateResult>,
  ) {
    super(config, runners, learner);
    const { dqn, seed } = config;
    const { obsDim, actionDim } = runners.moduleSpec;
    const replay = dqn.replay_buffer_config;
    const bufferOptions = { capacity: replay.capacity, obsDim, actionDim, seed };
    this.buffer =
      replay.type === "prioritized"
        ? new PrioritizedReplayBuffer({ ...bufferOptions, alpha: replay.alpha, epsilon: replay.epsilon })
        : new ReplayBuffer(bufferOptions);
    const totalEnvs =
      Math.max(1, config.env_runners.num_env_runners) * config.env_runners.num_envs_per_env_runner;
    this.apexEpsilons = dqn.per_worker_exploration ? apexEpsilons(totalEnvs) : null;
  }

  /** DQN on `input` (validated here): sampling in the main thread, or asynchronously in runner threads. */
  static override async create(input: DQNRunConfig | DQNRunConfigInput): Promise<DQN> {
    const config = parseConfig(dqnRunConfigSchema, input, "DQN config");
    const envsPerRunner = config.env_runners.num_envs_per_env_runner;
    // Filled in once the algorithm exists: the runners ask it for epsilons before every fragment.
    let algorithm: DQN | undefined;
    const { runners, learner } = await startActors(
      config,
      dqnEnvRunnerConfig(config),
      learnerModule<DQNLearner>(import.meta.url, "learner"),
      config.dqn,
      (index) => algorithm!.epsilonsFor(index, envsPerRunner),
    );
    algorithm = new DQN(config, runners, learner);
    return algorithm;
  }

  /** Exploration epsilon at the current step (Ape-X: the per-env epsilons are fixed). */
  get epsilon(): number {
    return scheduleValue(this.config.dqn.epsilon, this.numEnvStepsSampled);
  }

  /** The epsilons of runner `runnerIndex`'s envs for its next fragment. */
  private epsilonsFor(runnerIndex: number, envsPerRunner: number): number[] {
    if (this.apexEpsilons) {
      const first = runnerIndex * envsPerRunner;
      return Array.from(this.apexEpsilons.subarray(first, first + envsPerRunner));
    }
    return new Array<number>(envsPerRunner).fill(this.epsilon);
  }

  protected override async trainingStep(): Promise<Record<string, number>> {
    const { dqn } = this.config;
    const start = performance.now();
    const firstStep = this.numEnvStepsSampled;
    const firstGradientStep = this.counters.gradientSteps;
    // Sums of each gradient step's metrics, averaged over the iteration.
    const learnerSums: Record<string, number> = {};
    const staleness: number[] = [];
    let sampleMs = 0;
    let learnMs = 0;
    while (this.numEnvStepsSampled - firstStep < dqn.min_sample_timesteps_per_iteration) {
      const sampleStart = performance.now();
      // Threads: whatever fragments have queued (at least one); the main thread: one fragment, now.
      this.runners.startAsync();
      const fragments = await this.runners.drain(1);
      let newSteps = 0;
      for (const fragment of fragments) {
        this.buffer.addBatch(fragment);
        newSteps += fragment.numEnvSteps;
        staleness.push(this.counters.gradientSteps - fragment.weightsVersion);
      }
      this.numEnvStepsSampled += newSteps;
      const learnStart = performance.now();
      sampleMs += learnStart - sampleStart;
      // The size check matters after restoring a checkpoint saved without its buffer.
      if (this.numEnvStepsSampled < dqn.num_steps_sampled_before_learning_starts) continue;
      if (this.buffer.size < dqn.train_batch_size) continue;
      const gradientSteps = this.gradientStepsFor(newSteps, fragments.length);
      for (let k = 0; k < gradientSteps; k++) {
        for (const [name, value] of Object.entries(await this.gradientStep())) {
          learnerSums[name] = (learnerSums[name] ?? 0) + value;
        }
      }
      await this.maybeUpdateTarget();
      if (gradientSteps > 0) await this.runners.syncWeights(this.counters.gradientSteps);
      learnMs += performance.now() - learnStart;
    }
    const iterationGradientSteps = this.counters.gradientSteps - firstGradientStep;
    const sampled = this.numEnvStepsSampled - firstStep;
    const seconds = (performance.now() - start) / 1000;
    return {
      ...Object.fromEntries(
        Object.entries(learnerSums).map(([name, sum]) => [`learners/${name}`, sum / iterationGradientSteps]),
      ),
      "learners/num_gradient_steps_lifetime": this.counters.gradientSteps,
      "learners/last_target_update_ts": this.counters.lastTargetUpdate,
      "learners/num_target_updates_lifetime": this.counters.targetUpdates,
      "learners/curr_lr": scheduleValue(dqn.lr, this.numEnvStepsSampled),
      "env_runners/epsilon": this.apexEpsilons ? Math.max(...this.apexEpsilons) : this.epsilon,
      // Gradient steps between the weights a fragment was sampled with and the learner's when it arrived.
      "env_runners/weights_staleness_mean": staleness.reduce((a, b) => a + b, 0) / staleness.length,
      "env_runners/weights_staleness_max": Math.max(...staleness),
      "replay/size": this.buffer.size,
      "replay/memory_bytes": this.buffer.memoryBytes(),
      // Threads: the time the learner waited for fragments (sampling itself overlaps learning).
      "timers/sample_ms": sampleMs,
      "timers/learn_ms": learnMs,
      "throughput/env_steps_per_s": sampled / seconds,
      "throughput/gradient_steps_per_s": iterationGradientSteps / seconds,
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
  private async gradientStep(): Promise<Record<string, number>> {
    const { dqn } = this.config;
    const step = this.numEnvStepsSampled;
    const sample = this.buffer.sample(
      dqn.train_batch_size,
      scheduleValue(dqn.replay_buffer_config.beta, step),
    );
    const { metrics, tdErrors } = await this.learner.update({
      sample,
      lr: scheduleValue(dqn.lr, step),
      targetTau: null,
    });
    if (this.buffer instanceof PrioritizedReplayBuffer)
      this.buffer.updatePriorities(sample.indices, tdErrors);
    this.lastTdErrors = tdErrors;
    this.counters.gradientSteps += 1;
    this.numEnvStepsTrained += sample.count;
    return metrics as Record<string, number>;
  }

  /** RLlib's rule: once `target_network_update_freq` steps were sampled since the last update, move it by tau. */
  private async maybeUpdateTarget(): Promise<void> {
    const { target_network_update_freq, tau } = this.config.dqn;
    if (this.numEnvStepsSampled - this.counters.lastTargetUpdate < target_network_update_freq) return;
    await this.learner.update({ sample: null, lr: 0, targetTau: tau });
    this.counters.lastTargetUpdate = this.numEnvStepsSampled;
    this.counters.targetUpdates += 1;
  }

  override histograms(): Record<string, ArrayLike<number>> {
    return { ...super.histograms(), "learners/td_errors": this.lastTdErrors };
  }

  protected override getAlgorithmState(): AlgorithmState {
    return {
      counters: { ...this.counters },
      replay: this.config.dqn.store_buffer_in_checkpoints ? this.buffer.getState() : null,
    };
  }

  protected override async setAlgorithmState(state: AlgorithmState): Promise<void> {
    const { counters, replay } = state as { counters: DQNCounters; replay: ReplayBufferState | null };
    this.counters = { ...counters };
    // Without a stored buffer, training refills it from scratch (RLlib's default behaviour too).
    if (replay) this.buffer.setState(replay);
  }

  protected override get weightsVersion(): number {
    return this.counters.gradientSteps;
  }
}
