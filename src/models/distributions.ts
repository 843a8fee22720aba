/**
 * Action distributions on tfjs tensors, one object per forward pass as `torch.distributions`:
 * categorical over logits (Discrete), independent categoricals (MultiDiscrete), independent Bernoullis
 * (MultiBinary), diagonal Gaussian with a state-independent log-std (Box), and a composite of those, one
 * per part (Tuple, Dict).
 * All methods return one value per batch row. Call them inside `tf.tidy`.
 *
 * `backward()` is the hand-derived vector-Jacobian product of `logProb` and `entropy` w.r.t. the
 * distribution's parameters, so a loss written on those two (PPO's) can skip autodiff: given
 * dLoss/dlogp per row and the weight of every row's entropy, it returns dLoss/d(policy output) and,
 * for the Gaussian, dLoss/d(logStd).
 */
import * as tf from "@tensorflow/tfjs";
import { actionNumbers, type PartHead, policyOutputs } from "./catalog.js";

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

/**
 * Independent categoricals over consecutive slices of the logits, one per MultiDiscrete entry (RLlib's
 * MultiCategorical): log-probabilities and entropies add up.
 */
export class MultiCategoricalDistribution {
  private readonly parts: CategoricalDistribution[];

  constructor(
    readonly logits: tf.Tensor2D,
    readonly nvec: readonly number[],
  ) {
    this.parts = (tf.split(logits, [...nvec], 1) as tf.Tensor2D[]).map((l) => new CategoricalDistribution(l));
  }

  /** `actions`: int32 `[batch, entries]`, each a class index from 0. */
  logProb(actions: tf.Tensor): tf.Tensor1D {
    return tf.addN(this.parts.map((part, j) => part.logProb(this.column(actions, j)))) as tf.Tensor1D;
  }

  entropy(): tf.Tensor1D {
    return tf.addN(this.parts.map((part) => part.entropy())) as tf.Tensor1D;
  }

  /** Each categorical's gradient for the same dLoss/dlogp and entropy weight, side by side. */
  backward(actions: tf.Tensor, dLogProb: tf.Tensor1D, dEntropy: number): DistributionGradients {
    const grads = this.parts.map(
      (part, j) => part.backward(this.column(actions, j), dLogProb, dEntropy).dPolicyOut,
    );
    return { dPolicyOut: tf.concat(grads, 1) as tf.Tensor2D, dLogStd: null };
  }

  /** The most likely class of each entry: int32 `[batch, entries]`. */
  mode(): tf.Tensor2D {
    return tf.stack(
      this.parts.map((part) => part.mode()),
      1,
    ) as tf.Tensor2D;
  }

  private column(actions: tf.Tensor, j: number): tf.Tensor1D {
    return tf.reshape(tf.slice(actions, [0, j], [-1, 1]), [-1]) as tf.Tensor1D;
  }
}

/** Independent Bernoullis, one logit l per MultiBinary entry: p(1) = sigmoid(l). */
export class BernoulliDistribution {
  constructor(readonly logits: tf.Tensor2D) {}

  /** `actions`: `[batch, n]` of 0 and 1. log p = a l - softplus(l), summed over the entries. */
  logProb(actions: tf.Tensor): tf.Tensor1D {
    const a = tf.cast(actions, "float32");
    return tf.sum(tf.sub(tf.mul(a, this.logits), tf.softplus(this.logits)), 1) as tf.Tensor1D;
  }

  /** H = softplus(l) - l sigmoid(l) per entry, summed. */
  entropy(): tf.Tensor1D {
    const l = this.logits;
    return tf.sum(tf.sub(tf.softplus(l), tf.mul(l, tf.sigmoid(l))), 1) as tf.Tensor1D;
  }

  /** With p = sigmoid(l): dlogp/dl = a - p and dH/dl = -l p (1 - p). */
  backward(actions: tf.Tensor, dLogProb: tf.Tensor1D, dEntropy: number): DistributionGradients {
    const p = tf.sigmoid(this.logits);
    let dLogits = tf.mul(tf.reshape(dLogProb, [-1, 1]), tf.sub(tf.cast(actions, "float32"), p));
    if (dEntropy !== 0) {
      const dH = tf.neg(tf.mul(this.logits, tf.mul(p, tf.sub(1, p))));
      dLogits = tf.add(dLogits, tf.mul(dH, dEntropy));
    }
    return { dPolicyOut: dLogits as tf.Tensor2D, dLogStd: null };
  }

  mode(): tf.Tensor2D {
    return bernoulliMode(this.logits);
  }
}

/** The more likely value of each entry: int32 `[batch, n]`, 1 where l > 0. */
function bernoulliMode(logits: tf.Tensor2D): tf.Tensor2D {
  return tf.cast(tf.greater(logits, 0), "int32") as tf.Tensor2D;
}

/** The distribution of one `PartHead`: an actor-critic's for a non-composite action space. */
type PartDistribution =
  | CategoricalDistribution
  | MultiCategoricalDistribution
  | BernoulliDistribution
  | DiagGaussianDistribution;

/** Every distribution an actor-critic head gives. */
export type ActionDistribution = PartDistribution | CompositeDistribution;

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

/**
 * Tuple and Dict actions (RLlib's TorchMultiDistribution): one distribution per part, each over its own
 * consecutive slice of the policy output, of the action columns and (Gaussian parts) of the log-std, in
 * the parts' order. The parts are independent: log-probabilities and entropies add up, and so the
 * gradients are the parts' own, side by side.
 */
export class CompositeDistribution {
  private readonly parts: PartDistribution[];
  /** Each part's first column and number of columns in the action rows. */
  private readonly columns: { start: number; size: number }[];

  constructor(
    readonly policyOut: tf.Tensor2D,
    readonly heads: readonly PartHead[],
    logStd: tf.Tensor1D | null,
  ) {
    const outputs = tf.split(policyOut, heads.map(policyOutputs), 1) as tf.Tensor2D[];
    let logStdAt = 0;
    this.parts = heads.map((head, i): PartDistribution => {
      if (head.kind === "categorical") return new CategoricalDistribution(outputs[i]);
      if (head.kind === "multi_categorical") return new MultiCategoricalDistribution(outputs[i], head.nvec);
      if (head.kind === "bernoulli") return new BernoulliDistribution(outputs[i]);
      if (!logStd) throw new Error("CompositeDistribution: a Gaussian part needs the log-std");
      const partLogStd = tf.slice(logStd, [logStdAt], [head.dim]);
      logStdAt += head.dim;
      return new DiagGaussianDistribution(outputs[i], partLogStd);
    });
    let start = 0;
    this.columns = heads.map((head) => {
      const size = actionNumbers(head);
      start += size;
      return { start: start - size, size };
    });
  }

  /** `actions`: `[batch, actionDim]`, the parts' numbers side by side (float32; or int32 when all are integer). */
  logProb(actions: tf.Tensor): tf.Tensor1D {
    return tf.addN(this.parts.map((part, i) => part.logProb(this.partActions(actions, i)))) as tf.Tensor1D;
  }

  entropy(): tf.Tensor1D {
    return tf.addN(this.parts.map((part) => part.entropy())) as tf.Tensor1D;
  }

  /** Each part's gradient for the same dLoss/dlogp and entropy weight: logits and means side by side, the Gaussian parts' dLoss/dlogStd one after another. */
  backward(actions: tf.Tensor, dLogProb: tf.Tensor1D, dEntropy: number): DistributionGradients {
    const grads = this.parts.map((part, i) =>
      part.backward(this.partActions(actions, i), dLogProb, dEntropy),
    );
    const dLogStds = grads.flatMap((g) => (g.dLogStd ? [g.dLogStd] : []));
    return {
      dPolicyOut: tf.concat(
        grads.map((g) => g.dPolicyOut),
        1,
      ) as tf.Tensor2D,
      dLogStd: dLogStds.length > 0 ? (tf.concat(dLogStds) as tf.Tensor1D) : null,
    };
  }

  /** Each part's mode, side by side: float32 `[batch, actionDim]` (class indices from 0, bits, means). */
  mode(): tf.Tensor2D {
    return tf.concat(
      this.parts.map((part, i) => tf.reshape(tf.cast(part.mode(), "float32"), [-1, this.columns[i].size])),
      1,
    ) as tf.Tensor2D;
  }

  /** Part `i`'s columns as its distribution reads them: int32 class indices or bits, float32 values. */
  private partActions(actions: tf.Tensor, i: number): tf.Tensor {
    const { start, size } = this.columns[i];
    const block = tf.slice(actions, [0, start], [-1, size]);
    switch (this.heads[i].kind) {
      case "gaussian":
        return tf.cast(block, "float32");
      case "categorical":
        return tf.cast(tf.reshape(block, [-1]), "int32");
      default:
        return tf.cast(block, "int32");
    }
  }
}
