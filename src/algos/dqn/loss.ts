/**
 * DQN's temporal-difference loss on a replay minibatch:
 *   target = R + discount * Q_target(s', a'),  a' = argmax_a Q_online(s', a) (Double DQN) or argmax Q_target
 *   loss = mean_i w_i * huber(Q_online(s_i, a_i) - target_i)
 * with R the n-step return and discount gamma^k (0 after termination) from the replay buffer, and w the
 * prioritized buffer's importance weights (1 for uniform replay).
 */
import * as tf from "@tensorflow/tfjs";
import type { ReplaySample } from "../../buffers/replay.js";
import type { QNetwork } from "../../models/rl_module.js";

export interface TDLossOptions {
  doubleQ: boolean;
  lossFn: "huber" | "mse";
}

/**
 * Bootstrapped targets `[batch]`: the two networks' Q values for the next observations come back from the
 * backend and the rest is a few multiply-adds here, in float32 as the backend would round them (one op
 * dispatch costs more than this whole loop on small batches).
 */
export function tdTargets(
  online: QNetwork,
  target: QNetwork,
  sample: ReplaySample,
  doubleQ: boolean,
): Float32Array {
  const n = sample.count;
  const { obsDim } = online.spec;
  const numActions = online.numActions;
  let targetQ: Float32Array = new Float32Array(0);
  let chooserQ: Float32Array = new Float32Array(0);
  tf.tidy(() => {
    const nextObs = tf.tensor2d(sample.nextObs.subarray(0, n * obsDim), [n, obsDim], "float32");
    targetQ = target.predict(nextObs).dataSync() as Float32Array;
    chooserQ = doubleQ ? (online.predict(nextObs).dataSync() as Float32Array) : targetQ;
  });
  return bootstrappedTargets(sample, chooserQ, targetQ, numActions);
}

/**
 * R + discount * targetQ(s', a'), a' = argmax chooserQ(s', .), from the two networks' Q values for the
 * next observations (`[count * numActions]` each; the same array without Double DQN).
 */
export function bootstrappedTargets(
  sample: Pick<ReplaySample, "count" | "rewards" | "discounts">,
  chooserQ: ArrayLike<number>,
  targetQ: ArrayLike<number>,
  numActions: number,
): Float32Array {
  const n = sample.count;
  const targets = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let next = 0;
    for (let a = 1; a < numActions; a++) {
      if (chooserQ[i * numActions + a] > chooserQ[i * numActions + next]) next = a;
    }
    targets[i] = sample.rewards[i] + Math.fround(sample.discounts[i] * targetQ[i * numActions + next]);
  }
  return targets;
}

/** Huber loss with delta 1, elementwise: 0.5 x^2 for |x| <= 1, |x| - 0.5 beyond. */
export function huber(x: tf.Tensor): tf.Tensor {
  const absolute = tf.abs(x);
  const quadratic = tf.minimum(absolute, 1);
  return tf.add(tf.mul(0.5, tf.square(quadratic)), tf.sub(absolute, quadratic));
}

/**
 * The loss in its readable form, differentiated by autodiff: the reference `tdLossWithGradients` is
 * tested against. Returns the loss and the TD errors Q(s, a) - target `[batch]`. Call inside a tape.
 */
export function tdLoss(
  online: QNetwork,
  sample: ReplaySample,
  targets: tf.Tensor1D,
  options: TDLossOptions,
): { loss: tf.Scalar; tdErrors: tf.Tensor1D } {
  const n = sample.count;
  const obs = tf.tensor2d(sample.obs.subarray(0, n * online.spec.obsDim), [n, online.spec.obsDim], "float32");
  const actions = tf.tensor1d(Int32Array.from(sample.actions.subarray(0, n)), "int32");
  const q = tf.sum(tf.mul(online.forward(obs), tf.oneHot(actions, online.numActions)), 1);
  const tdErrors = tf.sub(q, targets) as tf.Tensor1D;
  const perSample = options.lossFn === "huber" ? huber(tdErrors) : tf.mul(0.5, tf.square(tdErrors));
  const loss = tf.mean(tf.mul(tf.tensor1d(sample.weights.subarray(0, n)), perSample)) as tf.Scalar;
  return { loss, tdErrors };
}

/** What `tdLossWithGradients` logs, as `tdLoss` names them. */
export interface TDLossMetrics {
  qf_loss: number;
  qf_mean: number;
  td_error_mean: number;
}

/**
 * `tdLoss` for the training loop: its metrics, the TD errors (for the priorities) and the gradient in the
 * flat weight layout, derived by hand:
 *   dLoss/dQ(s_i, a) = [a = a_i] * w_i * huber'(td_i) / n,  huber'(x) = clip(x, -1, 1)  (mse: x)
 * and back-propagated through the network by `QNetwork.forwardWithBackward`. Only the network passes run
 * on the backend; the loss arithmetic on `[batch]` vectors is a loop here. Call inside `tf.tidy`.
 */
export function tdLossWithGradients(
  online: QNetwork,
  sample: ReplaySample,
  targets: Float32Array,
  options: TDLossOptions,
): { gradient: tf.Tensor1D; tdErrors: Float32Array; metrics: TDLossMetrics } {
  const n = sample.count;
  const { obsDim } = online.spec;
  const numActions = online.numActions;
  const { q, backward } = online.forwardWithBackward(
    tf.tensor2d(sample.obs.subarray(0, n * obsDim), [n, obsDim], "float32"),
  );
  const allQ = q.dataSync() as Float32Array;
  const tdErrors = new Float32Array(n);
  const dQ = new Float32Array(n * numActions);
  let loss = 0;
  let qSum = 0;
  let absTdSum = 0;
  for (let i = 0; i < n; i++) {
    const chosen = i * numActions + sample.actions[i];
    const td = Math.fround(allQ[chosen] - targets[i]);
    tdErrors[i] = td;
    const absTd = Math.abs(td);
    const perSample = options.lossFn === "huber" && absTd > 1 ? absTd - 0.5 : 0.5 * td * td;
    const dPerSample = options.lossFn === "huber" ? Math.max(-1, Math.min(1, td)) : td;
    dQ[chosen] = sample.weights[i] * Math.fround(dPerSample / n);
    loss += sample.weights[i] * perSample;
    qSum += allQ[chosen];
    absTdSum += absTd;
  }
  return {
    gradient: backward(tf.tensor2d(dQ, [n, numActions])),
    tdErrors,
    metrics: { qf_loss: loss / n, qf_mean: qSum / n, td_error_mean: absTdSum / n },
  };
}
