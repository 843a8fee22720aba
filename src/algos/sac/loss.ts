/**
 * SAC's three losses (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms and Applications", eqs. 5, 7
 * and 18), as CleanRL's `sac_continuous_action.py` computes them, on a replay minibatch with actions in
 * [-1, 1] (the Box scaled down) and n-step returns R with discount gamma^k (0 after termination):
 *
 *   a' ~ pi(.|s'),   y = R + discount * (min_k Qtarget_k(s', a') - alpha * log pi(a'|s'))
 *   critic loss = sum_k mean_i w_i (Q_k(s_i, a_i) - y_i)^2
 *   actor loss  = mean_i alpha * log pi(a~_i|s_i) - min_k Q_k(s_i, a~_i),   a~ ~ pi(.|s) reparameterised
 *   alpha loss  = mean_i -alpha * (log pi(a~_i|s_i) + target_entropy)      (trained as log alpha)
 *
 * with pi the squashed Gaussian: a~ = tanh(mean + std * noise), log pi = sum_j [log N(x_j; mean_j, std_j)
 * - log(scale_j (1 - a~_j^2) + 1e-6)] (CleanRL keeps the Box's half-width `scale` in the correction).
 * w are the prioritized buffer's importance weights (1 for uniform replay). The noise comes in as a
 * tensor, so the readable losses and the hand-derived fast paths below see the same draws.
 *
 * `criticLoss`, `actorLoss` and `alphaLoss` are the readable forms, differentiated by autodiff: the
 * reference the `...WithGradients` fast paths (gradients derived by hand, the loss arithmetic in plain
 * loops) are tested equal to. The plain loops (`softTargets`, `criticLossRows`, `actorMinQGradient`,
 * `actorOutputGradients`, `squashedSampleValues`) work on rows of numbers, so the fused step
 * (fused_step.ts) runs the same ones between its kernel passes.
 */
import * as tf from "@tensorflow/tfjs";
import type { SquashedGaussianActor, StateActionCritics } from "../../models/rl_module.js";
import { LOG_STD_MAX, LOG_STD_MIN, squashedLogStd } from "../../models/squashed_gaussian.js";

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
/** CleanRL's guard inside the tanh correction's log. */
const SQUASH_EPSILON = 1e-6;

/** The minibatch as the losses read it: observations and actions in [-1, 1] as tensors. */
export interface SACMinibatch {
  obs: tf.Tensor2D;
  nextObs: tf.Tensor2D;
  /** The replay actions scaled to [-1, 1]. */
  actions: tf.Tensor2D;
  rewards: Float32Array;
  discounts: Float32Array;
  weights: Float32Array;
  count: number;
}

/** The Box's half-widths `(high - low) / 2` per action dimension. */
export type ActionScale = Float32Array;

/** A squashed-Gaussian sample from `noise` and its log-probability, on tensors (autodiff-capable). */
export function squashedSample(
  mean: tf.Tensor2D,
  rawLogStd: tf.Tensor2D,
  noise: tf.Tensor2D,
  scale: ActionScale,
): { actions: tf.Tensor2D; logp: tf.Tensor1D } {
  const logStd = tf.add(
    LOG_STD_MIN,
    tf.mul(0.5 * (LOG_STD_MAX - LOG_STD_MIN), tf.add(tf.tanh(rawLogStd), 1)),
  );
  const std = tf.exp(logStd);
  const x = tf.add(mean, tf.mul(std, noise));
  const actions = tf.tanh(x) as tf.Tensor2D;
  const normalLogProb = tf.sub(
    tf.neg(tf.div(tf.square(tf.sub(x, mean)), tf.mul(2, tf.square(std)))),
    tf.add(logStd, LOG_SQRT_2PI),
  );
  const squashCorrection = tf.log(
    tf.add(tf.mul(tf.tensor1d(scale), tf.sub(1, tf.square(actions))), SQUASH_EPSILON),
  );
  return { actions, logp: tf.sum(tf.sub(normalLogProb, squashCorrection), 1) as tf.Tensor1D };
}

/** y = R + discount * (min_k Qtarget_k(s', a') - alpha * log pi(a'|s')), a' from `nextNoise`; no gradient. */
export function criticTargets(
  actor: SquashedGaussianActor,
  targetCritics: StateActionCritics,
  batch: SACMinibatch,
  alpha: number,
  nextNoise: tf.Tensor2D,
  scale: ActionScale,
): tf.Tensor1D {
  return tf.tidy(() => {
    const { mean, rawLogStd } = actor.forwardWithBackward(batch.nextObs);
    const next = squashedSample(mean, rawLogStd, nextNoise, scale);
    const minQ = tf.min(targetCritics.predict(batch.nextObs, next.actions), 1);
    const softValue = tf.sub(minQ, tf.mul(alpha, next.logp));
    return tf.add(tf.tensor1d(batch.rewards), tf.mul(tf.tensor1d(batch.discounts), softValue)) as tf.Tensor1D;
  });
}

/** The critic loss on tensors (call inside a tape), and the TD errors Q_k - y `[batch, numCritics]`. */
export function criticLoss(
  critics: StateActionCritics,
  batch: SACMinibatch,
  targets: tf.Tensor1D,
): { loss: tf.Scalar; tdErrors: tf.Tensor2D } {
  const q = critics.forward(batch.obs, batch.actions);
  const tdErrors = tf.sub(q, tf.reshape(targets, [-1, 1])) as tf.Tensor2D;
  const weighted = tf.mul(tf.reshape(tf.tensor1d(batch.weights), [-1, 1]), tf.square(tdErrors));
  return { loss: tf.sum(tf.mean(weighted, 0)) as tf.Scalar, tdErrors };
}

/** The actor loss on tensors (call inside a tape), and log pi of the reparameterised actions. */
export function actorLoss(
  actor: SquashedGaussianActor,
  critics: StateActionCritics,
  batch: SACMinibatch,
  alpha: number,
  noise: tf.Tensor2D,
  scale: ActionScale,
): { loss: tf.Scalar; logp: tf.Tensor1D } {
  const { mean, rawLogStd } = actor.forward(batch.obs);
  const { actions, logp } = squashedSample(mean, rawLogStd, noise, scale);
  const minQ = tf.min(critics.forward(batch.obs, actions), 1);
  return { loss: tf.mean(tf.sub(tf.mul(alpha, logp), minQ)) as tf.Scalar, logp };
}

/** The temperature loss on log alpha (call inside a tape). */
export function alphaLoss(logAlpha: tf.Tensor, logp: tf.Tensor1D, targetEntropy: number): tf.Scalar {
  return tf.mean(tf.mul(tf.neg(tf.exp(logAlpha)), tf.add(logp, targetEntropy))) as tf.Scalar;
}

/** `alphaLoss`'s gradient by hand: d/dlog alpha of mean(-alpha (log pi + target)) = -alpha (mean log pi + target). */
export function alphaLossGradient(alpha: number, logpMean: number, targetEntropy: number): number {
  return -alpha * (logpMean + targetEntropy);
}

/** What `criticLossWithGradients` logs. */
export interface CriticMetrics {
  qf_loss: number;
  qf_mean: number;
  td_error_mean: number;
}

/**
 * `criticLoss` for the training loop: its metrics, |TD error| per row (the mean over critics, for the
 * priorities) and the critics' gradient in the flat layout, derived by hand:
 *   dLoss/dQ_k(s_i, a_i) = 2 w_i (Q_k - y_i) / n
 * and back-propagated by `StateActionCritics.forwardWithBackward`. Call inside `tf.tidy`.
 */
export function criticLossWithGradients(
  critics: StateActionCritics,
  batch: SACMinibatch,
  targets: Float32Array,
): { gradient: tf.Tensor1D; tdErrors: Float32Array; metrics: CriticMetrics } {
  const { q, backward } = critics.forwardWithBackward(batch.obs, batch.actions);
  const rows = criticLossRows(q.dataSync() as Float32Array, critics.numCritics, targets, batch.weights);
  return {
    gradient: backward(tf.tensor2d(rows.dQ, [targets.length, critics.numCritics])),
    tdErrors: rows.tdErrors,
    metrics: rows.metrics,
  };
}

/**
 * The critic loss on Q values `q` [n][k] (k critics) and targets y [n]: its metrics, |TD error| per row
 * (the mean over critics) and dLoss/dQ_k(s_i, a_i) = 2 w_i (Q_k - y_i) / n [n][k].
 */
export function criticLossRows(
  q: Float32Array,
  k: number,
  targets: Float32Array,
  weights: Float32Array,
): { dQ: Float32Array; tdErrors: Float32Array; metrics: CriticMetrics } {
  const n = targets.length;
  const dQ = new Float32Array(n * k);
  const tdErrors = new Float32Array(n);
  let loss = 0;
  let qSum = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      const td = Math.fround(q[i * k + c] - targets[i]);
      dQ[i * k + c] = Math.fround((2 * weights[i] * td) / n);
      loss += weights[i] * td * td;
      qSum += q[i * k + c];
      tdErrors[i] += Math.abs(td) / k;
    }
  }
  const tdSum = tdErrors.reduce((a, b) => a + b, 0);
  return { dQ, tdErrors, metrics: { qf_loss: loss / n, qf_mean: qSum / (n * k), td_error_mean: tdSum / n } };
}

/** y = R + discount * (min_k Qtarget_k(s', a') - alpha * log pi(a'|s')) on the targets' Q `nextQ` [n][k]. */
export function softTargets(
  nextQ: Float32Array,
  k: number,
  nextLogp: Float32Array,
  rewards: Float32Array,
  discounts: Float32Array,
  alpha: number,
): Float32Array {
  const n = nextLogp.length;
  const targets = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let minQ = nextQ[i * k];
    for (let c = 1; c < k; c++) minQ = Math.min(minQ, nextQ[i * k + c]);
    targets[i] = rewards[i] + discounts[i] * (minQ - alpha * nextLogp[i]);
  }
  return targets;
}

/** What `actorLossWithGradients` logs. */
export interface ActorMetrics {
  policy_loss: number;
  /** Minus the entropy estimate: mean log pi of the sampled actions. */
  logp_mean: number;
}

/**
 * `actorLoss` for the training loop: its metrics, log pi per row (for the alpha loss) and the actor's
 * gradient in the flat layout, derived by hand. Per row and action dimension, with x = mean + std noise,
 * a = tanh(x), c = scale (1 - a^2) + 1e-6, and (for min_k Q) dQ/da from the critic that is smallest:
 *   dLoss/dx    = [-dQ/da (1 - a^2) + alpha 2 scale a (1 - a^2) / c] / n
 *   dLoss/dmean = dLoss/dx
 *   dLoss/dlogStd = dLoss/dx * std * noise - alpha / n     (log N's -logStd; its square term is constant)
 *   dLoss/draw  = dLoss/dlogStd * (MAX - MIN) / 2 * (1 - tanh(raw)^2)
 * Call inside `tf.tidy`.
 */
export function actorLossWithGradients(
  actor: SquashedGaussianActor,
  critics: StateActionCritics,
  batch: SACMinibatch,
  alpha: number,
  noise: Float32Array,
  scale: ActionScale,
): { gradient: tf.Tensor1D; logp: Float32Array; metrics: ActorMetrics } {
  const n = batch.count;
  const dim = actor.actionDim;
  const k = critics.numCritics;
  const forward = actor.forwardWithBackward(batch.obs);
  const sample = squashedSampleValues(
    forward.mean.dataSync() as Float32Array,
    forward.rawLogStd.dataSync() as Float32Array,
    noise,
    scale,
  );
  const { q, actionGradient } = critics.forwardWithBackward(batch.obs, tf.tensor2d(sample.actions, [n, dim]));
  const minQ = actorMinQGradient(q.dataSync() as Float32Array, k, sample.logp, alpha);
  const dActions = actionGradient(tf.tensor2d(minQ.dQ, [n, k])).dataSync() as Float32Array;
  const { dMean, dRaw } = actorOutputGradients(sample, dActions, noise, scale, alpha);
  return {
    gradient: forward.backward(tf.tensor2d(dMean, [n, dim]), tf.tensor2d(dRaw, [n, dim])),
    logp: sample.logp,
    metrics: minQ.metrics,
  };
}

/**
 * The actor loss mean_i alpha log pi_i - min_k Q_k(s_i, a~_i) on the critics' `q` [n][k] at the sampled
 * actions: its metrics, and d(-mean_i min_k Q_k)/dQ [n][k], -1/n on each row's smallest critic (the first
 * of ties, as tf.min's gradient).
 */
export function actorMinQGradient(
  q: Float32Array,
  k: number,
  logp: Float32Array,
  alpha: number,
): { dQ: Float32Array; metrics: ActorMetrics } {
  const n = logp.length;
  const dQ = new Float32Array(n * k);
  let loss = 0;
  let logpSum = 0;
  for (let i = 0; i < n; i++) {
    let smallest = 0;
    for (let c = 1; c < k; c++) if (q[i * k + c] < q[i * k + smallest]) smallest = c;
    dQ[i * k + smallest] = -1 / n;
    loss += alpha * logp[i] - q[i * k + smallest];
    logpSum += logp[i];
  }
  return { dQ, metrics: { policy_loss: loss / n, logp_mean: logpSum / n } };
}

/**
 * dLoss/dmean and dLoss/draw [n][dim] of the actor loss from dLoss/da~ through the critics (`dActions`):
 * the formulas in `actorLossWithGradients`' comment.
 */
export function actorOutputGradients(
  sample: SquashedSample,
  dActions: Float32Array,
  noise: Float32Array,
  scale: ActionScale,
  alpha: number,
): { dMean: Float32Array; dRaw: Float32Array } {
  const dim = scale.length;
  const n = sample.logp.length;
  const dMean = new Float32Array(n * dim);
  const dRaw = new Float32Array(n * dim);
  const spread = 0.5 * (LOG_STD_MAX - LOG_STD_MIN);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) {
      const e = i * dim + j;
      const a = sample.actions[e];
      const slope = 1 - a * a;
      const correction = scale[j] * slope + SQUASH_EPSILON;
      const dx = dActions[e] * slope + (alpha * 2 * scale[j] * a * slope) / correction / n;
      dMean[e] = dx;
      const dLogStd = dx * sample.std[e] * noise[e] - alpha / n;
      const t = Math.tanh(sample.rawLogStd[e]);
      dRaw[e] = dLogStd * spread * (1 - t * t);
    }
  }
  return { dMean, dRaw };
}

/** A squashed-Gaussian sample [n][dim] and what its log-probability's gradient needs. */
export interface SquashedSample {
  actions: Float32Array;
  logp: Float32Array;
  std: Float32Array;
  rawLogStd: Float32Array;
}

/** `squashedSample` in plain loops on the actor's outputs `mean` and `rawLogStd` [n][dim]. */
export function squashedSampleValues(
  mean: Float32Array,
  rawLogStd: Float32Array,
  noise: Float32Array,
  scale: ActionScale,
): SquashedSample {
  const dim = scale.length;
  const n = noise.length / dim;
  const actions = new Float32Array(n * dim);
  const std = new Float32Array(n * dim);
  const logp = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < dim; j++) {
      const e = i * dim + j;
      const logStd = squashedLogStd(rawLogStd[e]);
      std[e] = Math.exp(logStd);
      // Rounded as the critics will see it, so log pi's correction and the critics agree on a.
      const a = Math.fround(Math.tanh(mean[e] + std[e] * noise[e]));
      actions[e] = a;
      sum +=
        -0.5 * noise[e] * noise[e] -
        logStd -
        LOG_SQRT_2PI -
        Math.log(scale[j] * (1 - a * a) + SQUASH_EPSILON);
    }
    logp[i] = sum;
  }
  return { actions, logp, std, rawLogStd };
}
