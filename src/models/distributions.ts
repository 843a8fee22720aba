/**
 * Action distributions on tfjs tensors, one object per forward pass as `torch.distributions`:
 * categorical over logits (Discrete) and diagonal Gaussian with a state-independent log-std (Box).
 * All methods return one value per batch row. Call them inside `tf.tidy`.
 *
 * `backward()` is the hand-derived vector-Jacobian product of `logProb` and `entropy` w.r.t. the
 * distribution's parameters, so a loss written on those two (PPO's) can skip autodiff: given
 * dLoss/dlogp per row and the weight of every row's entropy, it returns dLoss/d(policy output) and,
 * for the Gaussian, dLoss/d(logStd).
 */
import * as tf from "@tensorflow/tfjs";

const LOG_2PI = Math.log(2 * Math.PI);

/** A loss's gradient w.r.t. the policy output (logits or mean) and, for the Gaussian, its log-std. */
export interface DistributionGradients {
  dPolicyOut: tf.Tensor2D;
  dLogStd: tf.Tensor1D | null;
}

export class CategoricalDistribution {
  private readonly logProbs: tf.Tensor2D;

  constructor(readonly logits: tf.Tensor2D) {
    // log softmax written out: `tf.logSoftmax` wraps the same five ops in a `tf.customGrad`, which costs
    // ~100 us per call on wasm, more than the ops.
    const shifted = tf.sub(logits, tf.max(logits, 1, true));
    this.logProbs = tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), 1, true)));
  }

  /** `actions`: `[batch]` int32 class indices. */
  logProb(actions: tf.Tensor): tf.Tensor1D {
    const n = this.logits.shape[1];
    return tf.sum(tf.mul(this.logProbs, tf.oneHot(actions as tf.Tensor1D, n)), 1) as tf.Tensor1D;
  }

  entropy(): tf.Tensor1D {
    return tf.neg(tf.sum(tf.mul(tf.exp(this.logProbs), this.logProbs), 1)) as tf.Tensor1D;
  }

  /**
   * With p = softmax(z), l = log p and H = -sum p l: dlogp(a)/dz = onehot(a) - p and dH/dz = -p (l + H).
   */
  backward(actions: tf.Tensor, dLogProb: tf.Tensor1D, dEntropy: number): DistributionGradients {
    const n = this.logits.shape[1];
    const probs = tf.exp(this.logProbs);
    const perRow = (v: tf.Tensor1D) => tf.reshape(v, [-1, 1]);
    let dLogits = tf.mul(perRow(dLogProb), tf.sub(tf.oneHot(actions as tf.Tensor1D, n), probs));
    if (dEntropy !== 0) {
      const dH = tf.mul(probs, tf.add(this.logProbs, perRow(this.entropy())));
      dLogits = tf.sub(dLogits, tf.mul(dH, dEntropy));
    }
    return { dPolicyOut: dLogits as tf.Tensor2D, dLogStd: null };
  }

  sample(seed?: number): tf.Tensor1D {
    return tf.reshape(tf.multinomial(this.logits, 1, seed), [-1]);
  }

  mode(): tf.Tensor1D {
    return tf.argMax(this.logits, 1) as tf.Tensor1D;
  }
}

export class DiagGaussianDistribution {
  constructor(
    readonly mean: tf.Tensor2D,
    readonly logStd: tf.Tensor1D,
  ) {}

  /** `actions`: `[batch, dim]` float32. */
  logProb(actions: tf.Tensor): tf.Tensor1D {
    const z = tf.mul(tf.sub(actions, this.mean), tf.exp(tf.neg(this.logStd)));
    const dim = this.mean.shape[1];
    return tf.sub(tf.mul(tf.sum(tf.square(z), 1), -0.5), tf.add(tf.sum(this.logStd), 0.5 * dim * LOG_2PI));
  }

  entropy(): tf.Tensor1D {
    const dim = this.mean.shape[1];
    const perRow = tf.add(tf.sum(this.logStd), 0.5 * dim * (1 + LOG_2PI));
    return tf.mul(tf.ones([this.mean.shape[0]]), perRow);
  }

  /**
   * With z = (a - mean) / std: dlogp/dmean = z / std and dlogp/dlogStd = z^2 - 1; the entropy depends
   * on logStd alone, with dH/dlogStd = 1 per row.
   */
  backward(actions: tf.Tensor, dLogProb: tf.Tensor1D, dEntropy: number): DistributionGradients {
    const invStd = tf.exp(tf.neg(this.logStd));
    const z = tf.mul(tf.sub(actions, this.mean), invStd);
    const dLogp = tf.reshape(dLogProb, [-1, 1]);
    const dMean = tf.mul(tf.mul(dLogp, z), invStd) as tf.Tensor2D;
    const dLogStd = tf.add(
      tf.sum(tf.mul(dLogp, tf.sub(tf.square(z), 1)), 0),
      dEntropy * this.mean.shape[0],
    ) as tf.Tensor1D;
    return { dPolicyOut: dMean, dLogStd };
  }

  sample(seed?: number): tf.Tensor2D {
    return tf.add(
      this.mean,
      tf.mul(tf.randomNormal(this.mean.shape, 0, 1, "float32", seed), tf.exp(this.logStd)),
    );
  }

  mode(): tf.Tensor2D {
    return this.mean;
  }
}
