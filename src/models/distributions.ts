/**
 * Action distributions on tfjs tensors, one object per forward pass as `torch.distributions`:
 * categorical over logits (Discrete) and diagonal Gaussian with a state-independent log-std (Box).
 * All methods return one value per batch row. Call them inside `tf.tidy`.
 */
import * as tf from "@tensorflow/tfjs";

const LOG_2PI = Math.log(2 * Math.PI);

export class CategoricalDistribution {
  private readonly logProbs: tf.Tensor2D;

  constructor(readonly logits: tf.Tensor2D) {
    this.logProbs = tf.logSoftmax(logits);
  }

  /** `actions`: `[batch]` int32 class indices. */
  logProb(actions: tf.Tensor): tf.Tensor1D {
    const n = this.logits.shape[1];
    return tf.sum(tf.mul(this.logProbs, tf.oneHot(actions as tf.Tensor1D, n)), 1) as tf.Tensor1D;
  }

  entropy(): tf.Tensor1D {
    return tf.neg(tf.sum(tf.mul(tf.exp(this.logProbs), this.logProbs), 1)) as tf.Tensor1D;
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
