/**
 * PPO's loss (Schulman et al. 2017, eq. 7 and 9), as CleanRL's ppo.py writes it:
 *   ratio = pi(a|s) / pi_old(a|s)
 *   L_clip = -mean(min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A))
 *   L_vf = 0.5 * mean((V - R)^2), or with value clipping 0.5 * mean(max((V - R)^2, (V_clipped - R)^2))
 *   loss = L_clip + c_vf * L_vf - c_ent * mean(entropy)
 * Call inside `tf.tidy` (the learner's gradient tape is one).
 *
 * `ppoLoss` is the reference, differentiated by tfjs's autodiff. `ppoLossWithGradients` computes the same
 * loss with its gradient derived by hand, for the training loop: on wasm each op costs ~5-10 us to
 * dispatch, and autodiff through this loss and the distribution takes ~200 ops per minibatch.
 */
import * as tf from "@tensorflow/tfjs";
import type { ActionDistribution, DistributionGradients } from "../../models/distributions.js";
import type { ActorCritic } from "../../models/rl_module.js";

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

/** A minibatch as `ppoLossOf` reads it: what was sampled, and the targets. */
export interface PPOMinibatch {
  obs: tf.Tensor2D;
  actions: tf.Tensor;
  oldLogp: tf.Tensor1D;
  oldValues: tf.Tensor1D;
  advantages: tf.Tensor1D;
  returns: tf.Tensor1D;
}

/** `ppoLoss` of `module` on `batch`: its forward pass and distribution, then the loss (autodiff's reference). */
export function ppoLossOf(
  module: ActorCritic,
  batch: PPOMinibatch,
  coeffs: Pick<PPOLossInputs, "clipParam" | "vfClipParam" | "vfLossCoeff" | "entropyCoeff">,
): PPOLoss {
  const { policyOut, values } = module.forward(batch.obs);
  const dist = module.distribution(policyOut);
  return ppoLoss({
    logp: dist.logProb(batch.actions),
    oldLogp: batch.oldLogp,
    advantages: batch.advantages,
    values,
    oldValues: batch.oldValues,
    returns: batch.returns,
    entropy: dist.entropy(),
    ...coeffs,
  });
}

/** The metrics `ppoLossWithGradients` packs into one vector, in this order. */
export const PPO_LOSS_METRICS = ["policy_loss", "vf_loss", "entropy", "mean_kl", "clip_fraction"] as const;

export type PPOLossWithGradientsInputs = Omit<PPOLossInputs, "logp" | "entropy"> & {
  dist: ActionDistribution;
  /** The actions taken: int32 `[batch]` for the categorical, float32 `[batch, dim]` for the Gaussian. */
  actions: tf.Tensor;
};

export interface PPOLossWithGradients extends DistributionGradients {
  /** `PPO_LOSS_METRICS` as one `[5]` vector: what `ppoLoss` returns as scalars. */
  metrics: tf.Tensor1D;
  /** The total loss, as `ppoLoss`'s `total`. */
  total: tf.Scalar;
  /** dLoss/dValues, `[batch]`. */
  dValues: tf.Tensor1D;
}

/**
 * `ppoLoss` and its gradient w.r.t. the distribution's parameters and the values, the gradient derived
 * by hand to equal what tfjs's autodiff gives through `ppoLoss` (including its tie-breaking: `minimum`
 * passes the gradient to its first argument on ties, `maximum` likewise, `clipByValue` inside the bounds).
 */
export function ppoLossWithGradients(x: PPOLossWithGradientsInputs): PPOLossWithGradients {
  const batch = x.advantages.shape[0];
  const logp = x.dist.logProb(x.actions);
  const entropy = x.dist.entropy();

  // Policy: the surrogate's gradient w.r.t. logp is ratio * A where the unclipped term is the minimum,
  // and 0 where the clipped one is (there the ratio is outside the clip range, so clip's gradient is 0).
  const logRatio = tf.sub(logp, x.oldLogp);
  const ratio = tf.exp(logRatio);
  const unclipped = tf.mul(ratio, x.advantages);
  const clipped = tf.mul(tf.clipByValue(ratio, 1 - x.clipParam, 1 + x.clipParam), x.advantages);
  const surrogate = tf.minimum(unclipped, clipped);
  const unclippedIsMin = tf.cast(tf.lessEqual(unclipped, clipped), "float32");
  const dLogp = tf.mul(tf.mul(unclipped, unclippedIsMin), -1 / batch) as tf.Tensor1D;

  // Value: d/dV of 0.5 * (V - R)^2 is V - R; with clipping, the larger of the two squared errors passes
  // its gradient, the clipped one only where V - oldV lies within the clip range.
  const error = tf.sub(x.values, x.returns);
  let squaredError = tf.square(error);
  let dSquaredError = error;
  if (x.vfClipParam !== null) {
    const change = tf.sub(x.values, x.oldValues);
    const errorClipped = tf.sub(
      tf.add(x.oldValues, tf.clipByValue(change, -x.vfClipParam, x.vfClipParam)),
      x.returns,
    );
    const squaredErrorClipped = tf.square(errorClipped);
    const changeWithinClip = tf.cast(tf.lessEqual(tf.abs(change), x.vfClipParam), "float32");
    dSquaredError = tf.where(
      tf.greaterEqual(squaredError, squaredErrorClipped),
      error,
      tf.mul(errorClipped, changeWithinClip),
    );
    squaredError = tf.maximum(squaredError, squaredErrorClipped);
  }
  const dValues = tf.mul(dSquaredError, x.vfLossCoeff / batch) as tf.Tensor1D;

  // All five metrics as the means of one [5, batch] stack: two ops where five means and a stack take ten.
  const ratioMinusOne = tf.sub(ratio, 1);
  const perRow = tf.stack([
    tf.neg(surrogate),
    tf.mul(squaredError, 0.5),
    entropy,
    tf.sub(ratioMinusOne, logRatio),
    tf.cast(tf.greater(tf.abs(ratioMinusOne), x.clipParam), "float32"),
  ]);
  const metrics = tf.mean(perRow, 1) as tf.Tensor1D;
  const total = tf.sum(tf.mul(metrics, tf.tensor1d([1, x.vfLossCoeff, -x.entropyCoeff, 0, 0]))) as tf.Scalar;

  const gradients = x.dist.backward(x.actions, dLogp, -x.entropyCoeff / batch);
  return { ...gradients, dValues, metrics, total };
}
