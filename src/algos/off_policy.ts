/**
 * The off-policy training loop DQN and SAC share (RLlib's DQN/SAC `training_step`): sample fragments of
 * n-step transitions into a replay buffer; once `num_steps_sampled_before_learning_starts` steps are in,
 * take the gradient steps the replay ratio asks for after each fragment, move the target networks, and
 * sync the runners to the new weights. One `train()` call samples `min_sample_timesteps_per_iteration`
 * env steps.
 *
 * With `num_env_runners` 0 the fragments are sampled in the main thread between gradient steps. With
 * worker threads the loop is asynchronous (Ape-X style): the runners keep sampling with the newest weights
 * from the object store while the learner trains, and the learner takes whatever fragments have queued.
 * The queue is bounded, so the runners wait for the learner and the replay ratio holds. Each fragment
 * carries the weights version (gradient steps taken) it was sampled with; the gap is logged as staleness.
 *
 * An algorithm adds its learner's update for one minibatch (`update`), what its runners explore with
 * (`explorationFor`) and its own metrics.
 */
import {
  PrioritizedReplayBuffer,
  ReplayBuffer,
  type ReplayBufferState,
  type ReplaySample,
} from "../buffers/replay.js";
import type { CommonRunConfig } from "../config/schema.js";
import type { BatchOf, LearnerActor, LearnerModuleUrl, ResultOf } from "../learner/learner_actor.js";
import type { ModuleRequest } from "../models/catalog.js";
import { type EnvRunnerConfig, observationDtype, type SampledTransitions } from "../rollout/env_runner.js";
import type { EnvRunnerGroup } from "../rollout/env_runner_group.js";
import { scheduleValue } from "../utils/schedule.js";
import { Algorithm, type AlgorithmState, startActors } from "./algorithm.js";
import type { OffPolicyConfig } from "./off_policy_config.js";

/** What an off-policy learner's update gives back: its metrics and, for the priorities, |TD error| per row. */
export interface OffPolicyUpdateResult {
  /** Empty for a target update alone. */
  metrics: Record<string, number>;
  tdErrors: Float32Array;
}

/**
 * The env runners' config slice: n-step transitions, fragments of one vector step in the main thread (so
 * learning interleaves with sampling as finely as possible) and 8 in runner threads (each fragment costs
 * a round trip between threads), unless set.
 */
function offPolicyRunnerConfig(
  config: CommonRunConfig,
  section: OffPolicyConfig,
  module: ModuleRequest,
): EnvRunnerConfig<{ kind: "transitions"; nStep: number }> {
  const { rollout_fragment_length, num_env_runners } = config.env_runners;
  return {
    seed: config.seed,
    env: config.env,
    env_runners: config.env_runners,
    module,
    gamma: section.gamma,
    collect: { kind: "transitions", nStep: section.n_step },
    numSteps: rollout_fragment_length === "auto" ? (num_env_runners === 0 ? 1 : 8) : rollout_fragment_length,
  };
}

interface OffPolicyCounters {
  /** Also the weights version: fragments record it, staleness is counted in it. */
  gradientSteps: number;
  lastTargetUpdate: number;
  targetUpdates: number;
  /** Fractional gradient steps owed by the replay ratio, carried between fragments. */
  updateCredit: number;
}

type Runners = EnvRunnerGroup<SampledTransitions>;

export abstract class OffPolicyAlgorithm<Config extends CommonRunConfig, L> extends Algorithm<
  Config,
  SampledTransitions,
  L
> {
  protected readonly buffer: ReplayBuffer;
  /** The last gradient step's TD errors, for the histogram. */
  private lastTdErrors: Float32Array = new Float32Array(0);
  private counters: OffPolicyCounters = {
    gradientSteps: 0,
    lastTargetUpdate: 0,
    targetUpdates: 0,
    updateCredit: 0,
  };

  protected constructor(
    config: Config,
    /** The algorithm's own section, whose shared off-policy options the loop reads. */
    protected readonly section: OffPolicyConfig,
    runners: Runners,
    learner: LearnerActor<BatchOf<L>, ResultOf<L>>,
  ) {
    super(config, runners, learner);
    const { obsDim, actionDim } = runners.moduleSpec;
    const replay = section.replay_buffer_config;
    const obsDtype = observationDtype(runners.moduleSpec, config.env_runners);
    const bufferOptions = { capacity: replay.capacity, obsDim, actionDim, obsDtype, seed: config.seed };
    this.buffer =
      replay.type === "prioritized"
        ? new PrioritizedReplayBuffer({ ...bufferOptions, alpha: replay.alpha, epsilon: replay.epsilon })
        : new ReplayBuffer(bufferOptions);
  }

  /**
   * Starts the runners and the learner, then builds the algorithm on them; the runners ask it for their
   * exploration (`explorationFor`) before every fragment.
   */
  protected static async startWith<A extends OffPolicyAlgorithm<CommonRunConfig, Learner>, Learner>(
    config: CommonRunConfig,
    section: OffPolicyConfig,
    module: ModuleRequest,
    learnerUrl: LearnerModuleUrl<Learner>,
    build: (runners: Runners, learner: LearnerActor<BatchOf<Learner>, ResultOf<Learner>>) => A,
  ): Promise<A> {
    let algorithm: A | undefined;
    const { runners, learner } = await startActors(
      config,
      offPolicyRunnerConfig(config, section, module),
      learnerUrl,
      section,
      (index) => algorithm!.explorationFor(index, config.env_runners.num_envs_per_env_runner),
    );
    algorithm = build(runners, learner);
    return algorithm;
  }

  /**
   * One gradient step on `sample` and, when `targetTau` is set, the target networks' move by it after
   * that step (with no sample: the move alone).
   */
  protected abstract update(
    sample: ReplaySample | null,
    targetTau: number | null,
  ): Promise<OffPolicyUpdateResult>;

  /**
   * The exploration epsilon of each env of runner `runnerIndex` for its next fragment: with that
   * probability an env takes a uniformly random action instead of the module's own.
   */
  abstract explorationFor(runnerIndex: number, envsPerRunner: number): number[];

  /** The algorithm's own metrics for the iteration just sampled. */
  protected abstract iterationMetrics(): Record<string, number>;

  protected override async trainingStep(): Promise<Record<string, number>> {
    const { section } = this;
    const start = performance.now();
    const firstStep = this.numEnvStepsSampled;
    const firstGradientStep = this.counters.gradientSteps;
    // Sums of each gradient step's metrics, averaged over the iteration.
    const learnerSums: Record<string, number> = {};
    const staleness: number[] = [];
    let sampleMs = 0;
    let learnMs = 0;
    while (this.numEnvStepsSampled - firstStep < section.min_sample_timesteps_per_iteration) {
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
      if (this.numEnvStepsSampled < section.num_steps_sampled_before_learning_starts) continue;
      if (this.buffer.size < section.train_batch_size) continue;
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
      ...this.iterationMetrics(),
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
    const { training_intensity, train_batch_size } = this.section;
    if (training_intensity === null) return numFragments;
    this.counters.updateCredit += (training_intensity * newSteps) / train_batch_size;
    const steps = Math.floor(this.counters.updateCredit);
    this.counters.updateCredit -= steps;
    return steps;
  }

  /** One gradient step on a replay minibatch (with the target move when it is due every step); returns its metrics. */
  private async gradientStep(): Promise<Record<string, number>> {
    const { section } = this;
    const sample = this.buffer.sample(
      section.train_batch_size,
      scheduleValue(section.replay_buffer_config.beta, this.numEnvStepsSampled),
    );
    const everyStep = section.target_network_update_freq === 0;
    const { metrics, tdErrors } = await this.update(sample, everyStep ? section.tau : null);
    if (this.buffer instanceof PrioritizedReplayBuffer)
      this.buffer.updatePriorities(sample.indices, tdErrors);
    this.lastTdErrors = tdErrors;
    this.counters.gradientSteps += 1;
    if (everyStep) this.countTargetUpdate();
    this.numEnvStepsTrained += sample.count;
    return metrics;
  }

  /** RLlib's rule: once `target_network_update_freq` steps were sampled since the last update, move it by tau. */
  private async maybeUpdateTarget(): Promise<void> {
    const { target_network_update_freq, tau } = this.section;
    if (target_network_update_freq === 0) return;
    if (this.numEnvStepsSampled - this.counters.lastTargetUpdate < target_network_update_freq) return;
    await this.update(null, tau);
    this.countTargetUpdate();
  }

  private countTargetUpdate(): void {
    this.counters.lastTargetUpdate = this.numEnvStepsSampled;
    this.counters.targetUpdates += 1;
  }

  override histograms(): Record<string, ArrayLike<number>> {
    return { ...super.histograms(), "learners/td_errors": this.lastTdErrors };
  }

  protected override getAlgorithmState(): AlgorithmState {
    return {
      counters: { ...this.counters },
      replay: this.section.store_buffer_in_checkpoints ? this.buffer.getState() : null,
    };
  }

  protected override async setAlgorithmState(state: AlgorithmState): Promise<void> {
    const { counters, replay } = state as { counters: OffPolicyCounters; replay: ReplayBufferState | null };
    this.counters = { ...counters };
    // Without a stored buffer, training refills it from scratch (RLlib's default behaviour too).
    if (replay) this.buffer.setState(replay);
  }

  protected override get weightsVersion(): number {
    return this.counters.gradientSteps;
  }
}
