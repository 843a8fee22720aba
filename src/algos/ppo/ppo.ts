/**
 * Proximal Policy Optimization, one `train()` call per iteration as CleanRL's ppo.py loop body:
 * sample `train_batch_size` steps from the env runners, compute GAE, run `num_epochs` epochs of shuffled
 * minibatches (advantages normalised per minibatch) through the clipped loss, push the new weights.
 */
import * as tf from "@tensorflow/tfjs";
import type { RunConfig } from "../../config/schema.js";
import { type BackendName, selectBackend } from "../../learner/backend.js";
import { Learner, MetricsAccumulator, type OptimizerState } from "../../learner/learner.js";
import { ActorCritic, initialFlatWeights } from "../../models/network.js";
import { type PolicyMetadata, policyMetadataFor } from "../../models/policy.js";
import { type EnvRunnerGroup, LocalEnvRunnerGroup } from "../../rollout/env_runner_group.js";
import type { Fragment } from "../../rollout/fragment.js";
import { computeGae } from "../../rollout/gae.js";
import { createRng, type Rng, shuffle } from "../../utils/rng.js";
import { scheduleValue } from "../../utils/schedule.js";
import type { Algorithm, AlgorithmState } from "../algorithm.js";
import { PPO_LOSS_METRICS, type PPOLossInputs, ppoLossWithGradients } from "./loss.js";

/** Episodes averaged into `env_runners/episode_return_mean`, as RLlib's metrics_num_episodes_for_smoothing. */
const EPISODE_WINDOW = 100;

/** One iteration's samples, fragments concatenated, with GAE's advantages and value targets. */
interface TrainBatch {
  size: number;
  obs: Float32Array;
  actions: Float32Array;
  logp: Float32Array;
  values: Float32Array;
  advantages: Float32Array;
  returns: Float32Array;
}

/** Everything a checkpoint needs to resume training (plain data). */
export interface PPOState {
  iteration: number;
  numEnvStepsSampled: number;
  numEnvStepsTrained: number;
  weightsVersion: number;
  weights: Float32Array;
  optimizer: OptimizerState;
  shuffleRng: object;
  recentReturns: number[];
  recentLengths: number[];
}

export class PPO implements Algorithm {
  private iteration = 0;
  private numEnvStepsSampled = 0;
  private numEnvStepsTrained = 0;
  private weightsVersion = 0;
  private shuffleRng: Rng;
  private recentReturns: number[] = [];
  private recentLengths: number[] = [];

  private constructor(
    readonly config: RunConfig,
    /** The tfjs backend the learner runs on. */
    readonly backend: BackendName,
    private readonly runners: EnvRunnerGroup,
    private readonly model: ActorCritic,
    private readonly learner: Learner,
  ) {
    this.shuffleRng = createRng(`${config.seed}-minibatch-shuffle`);
  }

  static async create(config: RunConfig, opts: { runnerGroup?: EnvRunnerGroup } = {}): Promise<PPO> {
    const backend = await selectBackend(config.learner.backend);
    const runners = opts.runnerGroup ?? (await LocalEnvRunnerGroup.create(config));
    const model = new ActorCritic(runners.policySpec, initialFlatWeights(runners.policySpec, config.seed));
    const learner = new Learner(model, {
      adamEpsilon: config.ppo.adam_epsilon,
      gradClip: config.ppo.grad_clip,
    });
    await runners.setWeights(model.getFlatWeights(), 0);
    return new PPO(config, backend, runners, model, learner);
  }

  /** The policy network (observation -> logits or Gaussian mean), saved with every checkpoint. */
  get policyModel(): tf.LayersModel {
    return this.model.actor;
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
    return this.model.logStd;
  }

  async train(): Promise<Record<string, number>> {
    const start = performance.now();
    const fragments = await this.runners.sample();
    const batch = this.buildBatch(fragments);
    this.numEnvStepsSampled += batch.size;
    const sampled = performance.now();

    const losses = this.learn(batch);
    this.weightsVersion += 1;
    await this.runners.setWeights(this.learner.getFlatWeights(), this.weightsVersion);
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

  getState(): PPOState & AlgorithmState {
    return {
      iteration: this.iteration,
      numEnvStepsSampled: this.numEnvStepsSampled,
      numEnvStepsTrained: this.numEnvStepsTrained,
      weightsVersion: this.weightsVersion,
      weights: this.learner.getFlatWeights(),
      optimizer: this.learner.getOptimizerState(),
      shuffleRng: this.shuffleRng.state(),
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
    this.learner.setFlatWeights(state.weights);
    this.learner.setOptimizerState(state.optimizer);
    this.shuffleRng = createRng(undefined, state.shuffleRng);
    this.recentReturns = [...state.recentReturns];
    this.recentLengths = [...state.recentLengths];
    await this.runners.setWeights(state.weights, state.weightsVersion);
  }

  async stop(): Promise<void> {
    await this.runners.stop();
    this.learner.dispose();
  }

  private buildBatch(fragments: Fragment[]): TrainBatch {
    const { gamma, lambda } = this.config.ppo;
    const size = fragments.reduce((n, f) => n + f.spec.numSteps * f.spec.numEnvs, 0);
    const { obsDim, actionDim } = fragments[0].spec;
    const batch: TrainBatch = {
      size,
      obs: new Float32Array(size * obsDim),
      actions: new Float32Array(size * actionDim),
      logp: new Float32Array(size),
      values: new Float32Array(size),
      advantages: new Float32Array(size),
      returns: new Float32Array(size),
    };
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

  /** `num_epochs` passes of shuffled minibatches; returns the losses averaged over the epochs run. */
  private learn(batch: TrainBatch): Record<string, number> {
    const ppo = this.config.ppo;
    const lr = scheduleValue(ppo.lr, this.numEnvStepsSampled);
    const entropyCoeff = scheduleValue(ppo.entropy_coeff, this.numEnvStepsSampled);
    const clipParam = scheduleValue(ppo.clip_param, this.numEnvStepsSampled);
    const spec = this.model.spec;
    const actionDim = spec.action.kind === "categorical" ? 1 : spec.action.dim;
    const minibatchSize = Math.min(ppo.minibatch_size, batch.size);
    const indices = Int32Array.from({ length: batch.size }, (_, i) => i);
    const minibatch = new Minibatch(minibatchSize, spec.obsDim, actionDim);
    const epochMetrics = new MetricsAccumulator();
    const totals: Record<string, number> = {};
    let epochs = 0;
    for (let epoch = 0; epoch < ppo.num_epochs; epoch++) {
      shuffle(this.shuffleRng, indices);
      for (let start = 0; start < batch.size; start += minibatchSize) {
        const rows = indices.subarray(start, Math.min(start + minibatchSize, batch.size));
        minibatch.gather(batch, rows, ppo.normalize_advantages);
        const metrics = tf.tidy(() =>
          ppoMinibatchUpdate(
            this.model,
            this.learner,
            minibatch.tensors(rows.length, spec.action.kind === "categorical"),
            { clipParam, vfClipParam: ppo.vf_clip_param, vfLossCoeff: ppo.vf_loss_coeff, entropyCoeff },
            lr,
          ),
        );
        epochMetrics.addPacked(MINIBATCH_METRICS, metrics);
      }
      this.numEnvStepsTrained += batch.size;
      epochs += 1;
      // One read per epoch: the KL early stop needs it, and it keeps dataSync out of the minibatch loop.
      const means = epochMetrics.read();
      for (const [name, value] of Object.entries(means)) totals[name] = (totals[name] ?? 0) + value;
      if (ppo.kl_target !== null && means.mean_kl > ppo.kl_target) break;
    }
    const result = Object.fromEntries(Object.entries(totals).map(([name, sum]) => [name, sum / epochs]));
    return { ...result, lr, num_epochs: epochs };
  }
}

/** What `ppoMinibatchUpdate` returns, in this order. */
export const MINIBATCH_METRICS = [...PPO_LOSS_METRICS, "grad_norm"];

export interface MinibatchTensors {
  obs: tf.Tensor2D;
  /** int32 `[n]` class indices for Discrete actions, float32 `[n, dim]` for Box. */
  actions: tf.Tensor;
  logp: tf.Tensor1D;
  values: tf.Tensor1D;
  advantages: tf.Tensor1D;
  returns: tf.Tensor1D;
}

/**
 * One Adam step on PPO's loss for a minibatch: forward pass, the loss with its hand-derived gradient
 * (`ppoLossWithGradients`), the network's hand-written backward pass, clipping and Adam; no autodiff.
 * Returns `MINIBATCH_METRICS` as one vector. Call inside `tf.tidy`.
 */
export function ppoMinibatchUpdate(
  model: ActorCritic,
  learner: Learner,
  t: MinibatchTensors,
  coeffs: Pick<PPOLossInputs, "clipParam" | "vfClipParam" | "vfLossCoeff" | "entropyCoeff">,
  lr: number,
): tf.Tensor1D {
  const { policyOut, values, backward } = model.forwardWithBackward(t.obs);
  const loss = ppoLossWithGradients({
    dist: model.distribution(policyOut),
    actions: t.actions,
    oldLogp: t.logp,
    advantages: t.advantages,
    values,
    oldValues: t.values,
    returns: t.returns,
    ...coeffs,
  });
  const gradNorm = learner.applyGradient(backward(loss.dPolicyOut, loss.dValues, loss.dLogStd), lr);
  return tf.concat([loss.metrics, tf.reshape(gradNorm, [1])]);
}

/** Reusable typed arrays for one minibatch, gathered from the batch by shuffled row indices. */
class Minibatch {
  readonly obs: Float32Array;
  readonly actions: Float32Array;
  readonly logp: Float32Array;
  readonly values: Float32Array;
  readonly advantages: Float32Array;
  readonly returns: Float32Array;

  constructor(
    capacity: number,
    private readonly obsDim: number,
    private readonly actionDim: number,
  ) {
    this.obs = new Float32Array(capacity * obsDim);
    this.actions = new Float32Array(capacity * actionDim);
    this.logp = new Float32Array(capacity);
    this.values = new Float32Array(capacity);
    this.advantages = new Float32Array(capacity);
    this.returns = new Float32Array(capacity);
  }

  gather(batch: TrainBatch, rows: Int32Array, normalizeAdvantages: boolean): void {
    const { obsDim, actionDim } = this;
    rows.forEach((row, k) => {
      this.obs.set(batch.obs.subarray(row * obsDim, (row + 1) * obsDim), k * obsDim);
      this.actions.set(batch.actions.subarray(row * actionDim, (row + 1) * actionDim), k * actionDim);
      this.logp[k] = batch.logp[row];
      this.values[k] = batch.values[row];
      this.advantages[k] = batch.advantages[row];
      this.returns[k] = batch.returns[row];
    });
    if (normalizeAdvantages) normalizeInPlace(this.advantages.subarray(0, rows.length));
  }

  /** The first `n` rows as tensors; Discrete actions become int32 class indices. */
  tensors(n: number, categorical: boolean): MinibatchTensors {
    const vector = (a: Float32Array) => tf.tensor1d(a.subarray(0, n));
    return {
      obs: tf.tensor2d(this.obs.subarray(0, n * this.obsDim), [n, this.obsDim]),
      actions: categorical
        ? tf.tensor1d(Int32Array.from(this.actions.subarray(0, n)), "int32")
        : tf.tensor2d(this.actions.subarray(0, n * this.actionDim), [n, this.actionDim]),
      logp: vector(this.logp),
      values: vector(this.values),
      advantages: vector(this.advantages),
      returns: vector(this.returns),
    };
  }
}

/** (x - mean) / (std + 1e-8) with the unbiased std, as CleanRL's `mb_advantages` normalisation. */
function normalizeInPlace(x: Float32Array): void {
  const m = mean(x);
  let squares = 0;
  for (const v of x) squares += (v - m) * (v - m);
  const std = x.length > 1 ? Math.sqrt(squares / (x.length - 1)) : 0;
  for (let i = 0; i < x.length; i++) x[i] = (x[i] - m) / (std + 1e-8);
}

function mean(x: ArrayLike<number>): number {
  if (x.length === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i];
  return sum / x.length;
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
