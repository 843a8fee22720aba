/**
 * PPO's loss (Schulman et al. 2017, eq. 7 and 9), as CleanRL's ppo.py writes it:
 *   ratio = pi(a|s) / pi_old(a|s)
 *   L_clip = -mean(min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A))
 *   L_vf = 0.5 * mean((V - R)^2), or with value clipping 0.5 * mean(max((V - R)^2, (V_clipped - R)^2))
 *   loss = L_clip + c_vf * L_vf - c_ent * mean(entropy)
 * Call inside `tf.tidy` (the learner's gradient tape is one).
 */
import * as tf from "@tensorflow/tfjs";

export interface PPOLossInputs {
  /** log pi(a|s) under the current parameters, `[batch]`. */
  logp: tf.Tensor1D;
  /** log pi_old(a|s) recorded when sampling. */
  oldLogp: tf.Tensor1D;
  /** Advantages (already normalised, if that is wanted). */
  advantages: tf.Tensor1D;
  values: tf.Tensor1D;
  oldValues: tf.Tensor1D;
  returns: tf.Tensor1D;
  entropy: tf.Tensor1D;
  clipParam: number;
  /** Keeps V within oldValues ± this; null for no value clipping. */
  vfClipParam: number | null;
  vfLossCoeff: number;
  entropyCoeff: number;
}

export interface PPOLoss {
  total: tf.Scalar;
  policyLoss: tf.Scalar;
  vfLoss: tf.Scalar;
  entropy: tf.Scalar;
  /** The low-variance KL estimate mean((ratio - 1) - log ratio) (CleanRL's approx_kl). */
  approxKl: tf.Scalar;
  /** Fraction of samples whose ratio left [1 - eps, 1 + eps]. */
  clipFraction: tf.Scalar;
}

export function ppoLoss(x: PPOLossInputs): PPOLoss {
  const logRatio = tf.sub(x.logp, x.oldLogp);
  const ratio = tf.exp(logRatio);
  const unclipped = tf.mul(ratio, x.advantages);
  const clipped = tf.mul(tf.clipByValue(ratio, 1 - x.clipParam, 1 + x.clipParam), x.advantages);
  const policyLoss = tf.neg(tf.mean(tf.minimum(unclipped, clipped))) as tf.Scalar;

  let squaredError = tf.square(tf.sub(x.values, x.returns));
  if (x.vfClipParam !== null) {
    const valuesClipped = tf.add(
      x.oldValues,
      tf.clipByValue(tf.sub(x.values, x.oldValues), -x.vfClipParam, x.vfClipParam),
    );
    squaredError = tf.maximum(squaredError, tf.square(tf.sub(valuesClipped, x.returns)));
  }
  const vfLoss = tf.mul(0.5, tf.mean(squaredError)) as tf.Scalar;

  const entropy = tf.mean(x.entropy) as tf.Scalar;
  const total = tf.sub(
    tf.add(policyLoss, tf.mul(x.vfLossCoeff, vfLoss)),
    tf.mul(x.entropyCoeff, entropy),
  ) as tf.Scalar;

  // Diagnostics only: no gradient flows through these.
  const approxKl = tf.mean(tf.sub(tf.sub(ratio, 1), logRatio)) as tf.Scalar;
  const clipFraction = tf.mean(
    tf.cast(tf.greater(tf.abs(tf.sub(ratio, 1)), x.clipParam), "float32"),
  ) as tf.Scalar;
  return { total, policyLoss, vfLoss, entropy, approxKl, clipFraction };
}
