/**
 * PPO's learner: the actor-critic, the Adam learner and the minibatch-shuffle generator, and `update()`,
 * the one place where an iteration's batch becomes gradient steps (CleanRL's ppo.py inner loops):
 * `num_epochs` epochs of shuffled minibatches, advantages normalised per minibatch, an early stop once
 * the KL passes `kl_target`. The learner actor (src/learner/learner_actor.ts) runs it in the main thread
 * or in its own worker thread.
 */
import * as tf from "@tensorflow/tfjs";
import type { RunConfig } from "../../config/schema.js";
import { Learner, MetricsAccumulator, type OptimizerState } from "../../learner/learner.js";
import { ActorCritic, initialFlatWeights, type PolicySpec } from "../../models/network.js";
import { createRng, type Rng, shuffle } from "../../utils/rng.js";
import { scheduleValue } from "../../utils/schedule.js";
import { PPO_LOSS_METRICS, type PPOLossInputs, ppoLossWithGradients } from "./loss.js";

/**
 * One iteration's samples, fragments concatenated, with GAE's advantages and value targets. The arrays
 * live in SharedArrayBuffers, so a learner thread receives views of the same memory, not a copy.
 */
export interface TrainBatch {
  size: number;
  obs: Float32Array;
  actions: Float32Array;
  logp: Float32Array;
  values: Float32Array;
  advantages: Float32Array;
  returns: Float32Array;
}

export function allocateTrainBatch(size: number, obsDim: number, actionDim: number): TrainBatch {
  const shared = (length: number) => new Float32Array(new SharedArrayBuffer(length * 4));
  return {
    size,
    obs: shared(size * obsDim),
    actions: shared(size * actionDim),
    logp: shared(size),
    values: shared(size),
    advantages: shared(size),
    returns: shared(size),
  };
}

/** What a checkpoint keeps of the learner (plain data). */
export interface PPOLearnerState {
  weights: Float32Array;
  optimizer: OptimizerState;
  shuffleRng: object;
}

export class PPOLearner {
  readonly model: ActorCritic;
  private readonly learner: Learner;
  private shuffleRng: Rng;

  /** CleanRL's initial weights for `config.seed`: every learner of the same seed starts alike. */
  constructor(
    private readonly config: RunConfig,
    spec: PolicySpec,
  ) {
    this.model = new ActorCritic(spec, initialFlatWeights(spec, config.seed));
    this.learner = new Learner(this.model, {
      adamEpsilon: config.ppo.adam_epsilon,
      gradClip: config.ppo.grad_clip,
    });
    this.shuffleRng = createRng(`${config.seed}-minibatch-shuffle`);
  }

  /**
   * `num_epochs` passes of shuffled minibatches, with the schedules (lr, entropy, clip) read at
   * `numEnvStepsSampled`. Returns the losses averaged over the epochs run, `lr` and `num_epochs`.
   */
  update(batch: TrainBatch, numEnvStepsSampled: number): Record<string, number> {
    const ppo = this.config.ppo;
    const lr = scheduleValue(ppo.lr, numEnvStepsSampled);
    const entropyCoeff = scheduleValue(ppo.entropy_coeff, numEnvStepsSampled);
    const clipParam = scheduleValue(ppo.clip_param, numEnvStepsSampled);
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
      epochs += 1;
      // One read per epoch: the KL early stop needs it, and it keeps dataSync out of the minibatch loop.
      const means = epochMetrics.read();
      for (const [name, value] of Object.entries(means)) totals[name] = (totals[name] ?? 0) + value;
      if (ppo.kl_target !== null && means.mean_kl > ppo.kl_target) break;
    }
    const result = Object.fromEntries(Object.entries(totals).map(([name, sum]) => [name, sum / epochs]));
    return { ...result, lr, num_epochs: epochs };
  }

  getWeights(): Float32Array {
    return this.learner.getFlatWeights();
  }

  getState(): PPOLearnerState {
    return {
      weights: this.learner.getFlatWeights(),
      optimizer: this.learner.getOptimizerState(),
      shuffleRng: this.shuffleRng.state(),
    };
  }

  setState(state: PPOLearnerState): void {
    this.learner.setFlatWeights(state.weights);
    this.learner.setOptimizerState(state.optimizer);
    this.shuffleRng = createRng(undefined, state.shuffleRng);
  }

  dispose(): void {
    this.learner.dispose();
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
  return tf.concat([loss.metrics, tf.tensor1d([gradNorm])]);
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

/** The arithmetic mean; NaN for no values (as numpy's, so an empty episode window logs as NaN). */
export function mean(x: ArrayLike<number>): number {
  if (x.length === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i];
  return sum / x.length;
}
