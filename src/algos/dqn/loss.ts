/**
 * DQN's temporal-difference loss on a replay minibatch:
 *   target = R + discount * Q_target(s', a'),  a' = argmax_a Q_online(s', a) (Double DQN) or argmax Q_target
 *   loss = mean_i w_i * huber(Q_online(s_i, a_i) - target_i)
 * with R the n-step return and discount gamma^k (0 after termination) from the replay buffer, and w the
 * prioritized buffer's importance weights (1 for uniform replay).
 */
import * as tf from "@tensorflow/tfjs";
import type { LossResult } from "../../learner/learner.js";
import type { QNetwork } from "./q_network.js";
import type { ReplaySample } from "./replay.js";

export interface TDLossOptions {
  doubleQ: boolean;
  lossFn: "huber" | "mse";
}

/** Bootstrapped targets `[batch]`, computed outside the gradient tape (they are constants to the loss). */
export function tdTargets(
  online: QNetwork,
  target: QNetwork,
  sample: ReplaySample,
  doubleQ: boolean,
): tf.Tensor1D {
  return tf.tidy(() => {
    const n = sample.count;
    const numActions = online.spec.numActions;
    const nextObs = tf.tensor2d(sample.nextObs.subarray(0, n * online.spec.obsDim), [n, online.spec.obsDim]);
    const nextTargetQ = target.predict(nextObs);
    const nextAction = tf.argMax(doubleQ ? online.predict(nextObs) : nextTargetQ, 1);
    const nextValue = tf.sum(tf.mul(nextTargetQ, tf.oneHot(nextAction, numActions)), 1);
    const rewards = tf.tensor1d(sample.rewards.subarray(0, n));
    const discounts = tf.tensor1d(sample.discounts.subarray(0, n));
    return tf.add(rewards, tf.mul(discounts, nextValue)) as tf.Tensor1D;
  });
}

/** Huber loss with delta 1, elementwise: 0.5 x^2 for |x| <= 1, |x| - 0.5 beyond. */
export function huber(x: tf.Tensor): tf.Tensor {
  const absolute = tf.abs(x);
  const quadratic = tf.minimum(absolute, 1);
  return tf.add(tf.mul(0.5, tf.square(quadratic)), tf.sub(absolute, quadratic));
}

/**
 * The loss for `Learner.update` (autodiff: the readable form, and the reference `tdLossWithGradients` is
 * tested against). `tdErrors` receives Q(s, a) - target `[batch]`, kept alive past the tape
 * so the caller can update priorities and must dispose it.
 */
export function tdLoss(
  online: QNetwork,
  sample: ReplaySample,
  targets: tf.Tensor1D,
  options: TDLossOptions,
  tdErrors: { value: tf.Tensor1D | null },
): LossResult {
  const n = sample.count;
  const obs = tf.tensor2d(sample.obs.subarray(0, n * online.spec.obsDim), [n, online.spec.obsDim]);
  const actions = tf.tensor1d(sample.actions.subarray(0, n), "int32");
  const q = tf.sum(tf.mul(online.forward(obs), tf.oneHot(actions, online.spec.numActions)), 1);
  const td = tf.sub(q, targets) as tf.Tensor1D;
  tdErrors.value = tf.keep(td);
  const perSample = options.lossFn === "huber" ? huber(td) : tf.mul(0.5, tf.square(td));
  const loss = tf.mean(tf.mul(tf.tensor1d(sample.weights.subarray(0, n)), perSample)) as tf.Scalar;
  return {
    loss,
    metrics: {
      // A separate tensor: the Learner disposes the loss itself after the gradient step.
      qf_loss: tf.clone(loss),
      qf_mean: tf.mean(q) as tf.Scalar,
      td_error_mean: tf.mean(tf.abs(td)) as tf.Scalar,
    },
  };
}

/**
 * `tdLoss`'s metrics, TD errors and gradient in the flat weight layout, with the gradient derived by hand:
 *   dLoss/dQ(s_i, a) = [a = a_i] * w_i * huber'(td_i) / n,  huber'(x) = clip(x, -1, 1)  (mse: x)
 * back-propagated through the network by `QNetwork.forwardWithBackward`. Call inside `tf.tidy`.
 */
export function tdLossWithGradients(
  online: QNetwork,
  sample: ReplaySample,
  targets: tf.Tensor1D,
  options: TDLossOptions,
): { gradient: tf.Tensor1D; tdErrors: tf.Tensor1D; metrics: Record<string, tf.Scalar> } {
  const n = sample.count;
  const { obsDim, numActions } = online.spec;
  const obs = tf.tensor2d(sample.obs.subarray(0, n * obsDim), [n, obsDim]);
  const chosen = tf.oneHot(tf.tensor1d(sample.actions.subarray(0, n), "int32"), numActions);
  const weights = tf.tensor1d(sample.weights.subarray(0, n));
  const { q: allQ, backward } = online.forwardWithBackward(obs);
  const q = tf.sum(tf.mul(allQ, chosen), 1);
  const td = tf.sub(q, targets) as tf.Tensor1D;
  const perSample = options.lossFn === "huber" ? huber(td) : tf.mul(0.5, tf.square(td));
  const loss = tf.mean(tf.mul(weights, perSample)) as tf.Scalar;
  const dPerSample = options.lossFn === "huber" ? tf.clipByValue(td, -1, 1) : td;
  const dQ = tf.mul(chosen, tf.reshape(tf.mul(weights, tf.div(dPerSample, n)), [n, 1])) as tf.Tensor2D;
  return {
    gradient: backward(dQ),
    tdErrors: td,
    metrics: {
      qf_loss: loss,
      qf_mean: tf.mean(q) as tf.Scalar,
      td_error_mean: tf.mean(tf.abs(td)) as tf.Scalar,
    },
  };
}
