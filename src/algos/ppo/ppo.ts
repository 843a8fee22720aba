/**
 * Proximal Policy Optimization, one `train()` call per iteration as CleanRL's ppo.py loop body:
 * sample `train_batch_size` steps from the env runners, compute GAE, hand the batch to the learner actor
 * (`num_epochs` epochs of shuffled minibatches through the clipped loss, in the main thread or in a
 * learner thread: `learner.num_learners`), push the weights it put to the env runners.
 */
import type * as tf from "@tensorflow/tfjs";
import type { RunConfig } from "../../config/schema.js";
import { createPPOLearnerActor, type PPOLearnerActor } from "../../learner/learner_actor.js";
import { type PolicyMetadata, policyMetadataFor } from "../../models/policy.js";
import { type EnvRunnerGroup, LocalEnvRunnerGroup } from "../../rollout/env_runner_group.js";
import type { Fragment } from "../../rollout/fragment.js";
import { computeGae } from "../../rollout/gae.js";
import { ThreadedEnvRunnerGroup } from "../../rollout/threaded_group.js";
import type { Algorithm, AlgorithmState } from "../algorithm.js";
import { allocateTrainBatch, mean, type PPOLearnerState, type TrainBatch } from "./ppo_learner.js";

/** Episodes averaged into `env_runners/episode_return_mean`, as RLlib's metrics_num_episodes_for_smoothing. */
const EPISODE_WINDOW = 100;

/** Everything a checkpoint needs to resume training (plain data). */
export interface PPOState extends PPOLearnerState {
  iteration: number;
  numEnvStepsSampled: number;
  numEnvStepsTrained: number;
  weightsVersion: number;
  recentReturns: number[];
  recentLengths: number[];
}

export class PPO implements Algorithm {
  private iteration = 0;
  private numEnvStepsSampled = 0;
  private numEnvStepsTrained = 0;
  private weightsVersion = 0;
  private recentReturns: number[] = [];
  private recentLengths: number[] = [];

  private constructor(
    readonly config: RunConfig,
    private readonly runners: EnvRunnerGroup,
    private readonly learner: PPOLearnerActor,
  ) {}

  /** Takes ownership of `opts.runnerGroup` (stopped by `stop()`, or here if the learner cannot start). */
  static async create(config: RunConfig, opts: { runnerGroup?: EnvRunnerGroup } = {}): Promise<PPO> {
    const runners = opts.runnerGroup ?? (await LocalEnvRunnerGroup.create(config));
    // Runner threads share the learner's object store: they read each put of the learner (thread) directly.
    const store = runners instanceof ThreadedEnvRunnerGroup ? runners.store : undefined;
    let learner: PPOLearnerActor;
    try {
      learner = await createPPOLearnerActor(config, runners.policySpec, store);
    } catch (error) {
      await runners.stop();
      throw error;
    }
    const ppo = new PPO(config, runners, learner);
    await ppo.broadcastWeights(0);
    return ppo;
  }

  /** Hands the env runners the weights the learner put last, as `version`. */
  private async broadcastWeights(version: number): Promise<void> {
    if (this.runners instanceof ThreadedEnvRunnerGroup) this.runners.adoptLatestPut(version);
    else await this.runners.setWeights(this.learner.latestWeights(), version);
  }

  /** The tfjs backend the learner runs on. */
  get backend(): string {
    return this.learner.backend;
  }

  /** The policy network (observation -> logits or Gaussian mean), saved with every checkpoint. */
  get policyModel(): tf.LayersModel {
    return this.learner.policyNetwork().actor;
  }

  policyMetadata(): PolicyMetadata {
    return policyMetadataFor(
      "PPO",
      this.config.env.id,
      this.runners.policySpec,
      this.runners.policySpec.action,
    );
  }

  /** Box actions: the state-independent log-std, which lives outside the actor model. */
  get logStd(): tf.Variable | null {
    return this.learner.policyNetwork().logStd;
  }

  async train(): Promise<Record<string, number>> {
    const start = performance.now();
    const fragments = await this.runners.sample();
    const batch = this.buildBatch(fragments);
    this.numEnvStepsSampled += batch.size;
    const sampled = performance.now();

    const losses = await this.learner.update(batch, this.numEnvStepsSampled);
    this.numEnvStepsTrained += batch.size * losses.num_epochs;
    this.weightsVersion += 1;
    // The learner has put its new weights into the object store: never posted between threads.
    await this.broadcastWeights(this.weightsVersion);
    const learned = performance.now();

    const episodes = await this.runners.getMetrics();
    this.recentReturns = [...this.recentReturns, ...episodes.returns].slice(-EPISODE_WINDOW);
    this.recentLengths = [...this.recentLengths, ...episodes.lengths].slice(-EPISODE_WINDOW);
    this.iteration += 1;
    return {
      training_iteration: this.iteration,
      "env_runners/episode_return_mean": mean(this.recentReturns),
      "env_runners/episode_len_mean": mean(this.recentLengths),
      "env_runners/num_episodes": episodes.returns.length,
      num_env_steps_sampled_lifetime: this.numEnvStepsSampled,
      num_env_steps_trained_lifetime: this.numEnvStepsTrained,
      "learners/policy_loss": losses.policy_loss,
      "learners/vf_loss": losses.vf_loss,
      "learners/entropy": losses.entropy,
      "learners/mean_kl": losses.mean_kl,
      "learners/clip_fraction": losses.clip_fraction,
      "learners/grad_norm": losses.grad_norm,
      "learners/vf_explained_var": explainedVariance(batch.values, batch.returns),
      "learners/lr": losses.lr,
      "learners/num_epochs": losses.num_epochs,
      "timers/sample_ms": sampled - start,
      "timers/learn_ms": learned - sampled,
      "throughput/env_steps_per_s": (batch.size / (learned - start)) * 1000,
      "fault/num_worker_restarts": this.runners.numWorkerRestarts,
    };
  }

  /** Greedy-policy episodes on the runners' evaluation envs, under RLlib's `evaluation/` names. */
  async evaluate(numEpisodes: number): Promise<Record<string, number>> {
    const { returns, lengths } = await this.runners.evaluate(numEpisodes);
    return {
      "evaluation/env_runners/episode_return_mean": mean(returns),
      "evaluation/env_runners/episode_len_mean": mean(lengths),
      "evaluation/env_runners/num_episodes": returns.length,
    };
  }

  async getState(): Promise<PPOState & AlgorithmState> {
    return {
      iteration: this.iteration,
      numEnvStepsSampled: this.numEnvStepsSampled,
      numEnvStepsTrained: this.numEnvStepsTrained,
      weightsVersion: this.weightsVersion,
      ...(await this.learner.getState()),
      recentReturns: [...this.recentReturns],
      recentLengths: [...this.recentLengths],
    };
  }

  async setState(saved: AlgorithmState): Promise<void> {
    const state = saved as unknown as PPOState;
    this.iteration = state.iteration;
    this.numEnvStepsSampled = state.numEnvStepsSampled;
    this.numEnvStepsTrained = state.numEnvStepsTrained;
    this.weightsVersion = state.weightsVersion;
    const { weights, optimizer, shuffleRng } = state;
    await this.learner.setState({ weights, optimizer, shuffleRng });
    this.recentReturns = [...state.recentReturns];
    this.recentLengths = [...state.recentLengths];
    await this.broadcastWeights(state.weightsVersion);
  }

  async stop(): Promise<void> {
    try {
      await this.runners.stop();
    } finally {
      await this.learner.stop();
    }
  }

  private buildBatch(fragments: Fragment[]): TrainBatch {
    const { gamma, lambda } = this.config.ppo;
    const size = fragments.reduce((n, f) => n + f.spec.numSteps * f.spec.numEnvs, 0);
    const { obsDim, actionDim } = fragments[0].spec;
    const batch = allocateTrainBatch(size, obsDim, actionDim);
    let row = 0;
    for (const fragment of fragments) {
      const { advantages, returns } = computeGae(fragment, gamma, lambda);
      batch.obs.set(fragment.obs, row * obsDim);
      batch.actions.set(fragment.actions, row * actionDim);
      batch.logp.set(fragment.logp, row);
      batch.values.set(fragment.values, row);
      batch.advantages.set(advantages, row);
      batch.returns.set(returns, row);
      row += advantages.length;
    }
    return batch;
  }
}

/** 1 - Var(returns - values) / Var(returns): how much of the return variance the value function explains. */
function explainedVariance(values: Float32Array, returns: Float32Array): number {
  const residual = returns.map((r, i) => r - values[i]);
  const variance = (x: Float32Array) => {
    const m = mean(x);
    return x.reduce((s, v) => s + (v - m) * (v - m), 0) / x.length;
  };
  const varReturns = variance(returns);
  return varReturns === 0 ? Number.NaN : 1 - variance(residual) / varReturns;
}
