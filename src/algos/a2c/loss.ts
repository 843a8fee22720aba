/**
 * A2C's loss (Mnih et al. 2016, the synchronous form; as Stable-Baselines3's a2c.py writes it):
 *   L_pi = -mean(A * log pi(a|s))
 *   L_vf = mean((R - V)^2)
 *   loss = L_pi + c_vf * L_vf - c_ent * mean(entropy)
 * `a2cLoss` is the reference, differentiated by tfjs's autodiff; `a2cLossWithGradients` computes the same
 * loss with its gradient derived by hand, for the training loop. Call inside `tf.tidy`.
 */
import * as tf from "@tensorflow/tfjs";
import type { ActionDistribution, DistributionGradients } from "../../models/distributions.js";

export interface A2CLossInputs {
  dist: ActionDistribution;
  /** int32 `[batch]` class indices for the categorical, float32 `[batch, dim]` for the Gaussian. */
  actions: tf.Tensor;
  advantages: tf.Tensor1D;
  values: tf.Tensor1D;
  returns: tf.Tensor1D;
  vfLossCoeff: number;
  entropyCoeff: number;
}

/** The metrics `a2cLossWithGradients` packs into one vector, in this order. */
export const A2C_LOSS_METRICS = ["policy_loss", "vf_loss", "entropy"] as const;

export function a2cLoss(x: A2CLossInputs): tf.Scalar {
  const policyLoss = tf.neg(tf.mean(tf.mul(x.advantages, x.dist.logProb(x.actions))));
  const vfLoss = tf.mean(tf.square(tf.sub(x.returns, x.values)));
  const entropy = tf.mean(x.dist.entropy());
  return tf.sub(
    tf.add(policyLoss, tf.mul(x.vfLossCoeff, vfLoss)),
    tf.mul(x.entropyCoeff, entropy),
  ) as tf.Scalar;
}

/**
 * `a2cLoss`'s gradient: dL/dlogp = -A / n, dL/dV = 2 c_vf (V - R) / n, and the entropy term through the
 * distribution's own backward pass; `metrics` is `A2C_LOSS_METRICS` as one vector.
 */
export function a2cLossWithGradients(
  x: A2CLossInputs,
): DistributionGradients & { dValues: tf.Tensor1D; metrics: tf.Tensor1D } {
  const n = x.advantages.shape[0];
  const logp = x.dist.logProb(x.actions);
  const error = tf.sub(x.values, x.returns);
  const metrics = tf.mean(
    tf.stack([tf.neg(tf.mul(x.advantages, logp)), tf.square(error), x.dist.entropy()]),
    1,
  ) as tf.Tensor1D;
  const dLogp = tf.mul(x.advantages, -1 / n) as tf.Tensor1D;
  const dValues = tf.mul(error, (2 * x.vfLossCoeff) / n) as tf.Tensor1D;
  return { ...x.dist.backward(x.actions, dLogp, -x.entropyCoeff / n), dValues, metrics };
}
