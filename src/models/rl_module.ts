/**
 * RLModules on tfjs, for the learner: the catalog's towers as variables (`MlpTowers`), and the ways an
 * algorithm reads them — `ActorCritic` (a distribution over actions and V(s)), `QNetwork` (Q(s, .),
 * dueling or not), and SAC's `SquashedGaussianActor` (mean and unsquashed log-std) and
 * `StateActionCritics` (Q_k(s, a)); image observations go through the catalog's CNN first. All train through hand-derived backward passes
 * (`forwardWithBackward`) and keep an autodiff `forward` as the reference those are tested against.
 */
import * as tf from "@tensorflow/tfjs";
import type { ModuleSpec } from "./catalog.js";
import { ConvEncoder } from "./conv.js";
import {
  type ActionDistribution,
  BernoulliDistribution,
  CategoricalDistribution,
  CompositeDistribution,
  DiagGaussianDistribution,
  MultiCategoricalDistribution,
} from "./distributions.js";
import { MlpTowers } from "./mlp.js";

/** What an optimizer trains: variables that map to one flat Float32Array. */
export interface TrainableModule {
  readonly variables: tf.Variable[];
  getFlatWeights(): Float32Array;
  setFlatWeights(flat: Float32Array): void;
  dispose(): void;
}

export class RLModule implements TrainableModule {
  /** Image observations: the CNN before the towers. */
  protected readonly encoder: ConvEncoder | null;
  protected readonly mlp: MlpTowers;
  /** Gaussian heads: the log standard deviation, independent of the state. */
  readonly logStd: tf.Variable | null;
  /** Every trainable variable in the flat layout's order. */
  readonly variables: tf.Variable[];
  readonly size: number;

  constructor(
    readonly spec: ModuleSpec,
    weights: Float32Array,
    trainable = true,
  ) {
    this.encoder = spec.encoder ? new ConvEncoder(spec.encoder, trainable) : null;
    this.mlp = new MlpTowers(spec.towers, spec.activation, trainable);
    this.logStd =
      spec.logStdDim > 0
        ? tf.variable(tf.fill([spec.logStdDim], spec.initialLogStd), trainable, undefined, "float32")
        : null;
    this.variables = [
      ...(this.encoder?.variables ?? []),
      ...this.mlp.variables,
      ...(this.logStd ? [this.logStd] : []),
    ];
    this.size = this.variables.reduce((n, v) => n + v.size, 0);
    this.setFlatWeights(weights);
  }

  getFlatWeights(): Float32Array {
    const flat = new Float32Array(this.size);
    let offset = 0;
    for (const v of this.variables) {
      flat.set(v.dataSync() as Float32Array, offset);
      offset += v.size;
    }
    return flat;
  }

  setFlatWeights(flat: Float32Array): void {
    if (flat.length !== this.size) {
      throw new RangeError(
        `module weights: expected ${this.size} float32s for this module, got ${flat.length}`,
      );
    }
    let offset = 0;
    tf.tidy(() => {
      for (const v of this.variables) {
        v.assign(tf.tensor(flat.subarray(offset, offset + v.size), v.shape, "float32"));
        offset += v.size;
      }
    });
  }

  /** this <- tau * source + (1 - tau) * this, variable by variable (tau 1 is a copy): target networks. */
  updateFrom(source: RLModule, tau: number): void {
    tf.tidy(() => {
      this.variables.forEach((v, i) => {
        const s = source.variables[i];
        v.assign(tau === 1 ? s : tf.add(tf.mul(s, tau), tf.mul(v, 1 - tau)));
      });
    });
  }

  dispose(): void {
    tf.dispose(this.variables);
  }

  /** Every tower's output from the observation (through the CNN, if any), for autodiff. */
  protected towersForward(obs: tf.Tensor2D): tf.Tensor2D[] {
    return this.encoder ? this.mlp.forward(this.encoder.forward(obs), true) : this.mlp.forward(obs);
  }

  /**
   * Every tower's output without autodiff, and `backward`: dLoss/d(outputs) to the gradient of the CNN's
   * and the towers' weights, flat (the log-std's is the caller's).
   */
  protected towersForwardWithBackward(obs: tf.Tensor2D): {
    outputs: tf.Tensor2D[];
    backward: (dOutputs: (tf.Tensor2D | null)[]) => tf.Tensor1D;
  } {
    if (!this.encoder) return this.mlp.forwardWithBackward(obs);
    const cnn = this.encoder.forwardWithBackward(obs);
    const { outputs, backwardWithInput } = this.mlp.forwardWithBackward(cnn.features);
    return {
      outputs,
      backward: (dOutputs) => {
        const { grads, dInput } = backwardWithInput(dOutputs);
        return tf.concat([cnn.backward(dInput), grads]);
      },
    };
  }
}

/** The policy output (logits or Gaussian mean) and V(s) of an actor-critic module. */
export class ActorCritic extends RLModule {
  /** Autodiff-capable forward pass. */
  forward(obs: tf.Tensor2D): { policyOut: tf.Tensor2D; values: tf.Tensor1D } {
    const outputs = this.towersForward(obs);
    return {
      policyOut: outputs[this.spec.policyTower],
      values: tf.reshape(outputs[this.spec.valueTower], [-1]),
    };
  }

  /**
   * `forward()` without autodiff, and `backward`, which takes dLoss/d(policy output), dLoss/dValues and
   * (Gaussian) dLoss/dlogStd and returns the gradient of every weight in the flat layout.
   */
  forwardWithBackward(obs: tf.Tensor2D): {
    policyOut: tf.Tensor2D;
    values: tf.Tensor1D;
    backward: (dPolicyOut: tf.Tensor2D, dValues: tf.Tensor1D, dLogStd: tf.Tensor1D | null) => tf.Tensor1D;
  } {
    const { policyTower, valueTower } = this.spec;
    const { outputs, backward } = this.towersForwardWithBackward(obs);
    return {
      policyOut: outputs[policyTower],
      values: tf.reshape(outputs[valueTower], [-1]),
      backward: (dPolicyOut, dValues, dLogStd) => {
        const dOutputs = outputs.map((): tf.Tensor2D | null => null);
        dOutputs[policyTower] = dPolicyOut;
        dOutputs[valueTower] = tf.reshape(dValues, [-1, 1]) as tf.Tensor2D;
        const towers = backward(dOutputs);
        return dLogStd ? tf.concat([towers, dLogStd]) : towers;
      },
    };
  }

  distribution(policyOut: tf.Tensor2D): ActionDistribution {
    const head = this.spec.head;
    if (head.kind === "composite") {
      return new CompositeDistribution(policyOut, head.parts, this.logStd as tf.Tensor1D | null);
    }
    if (head.kind === "multi_categorical") return new MultiCategoricalDistribution(policyOut, head.nvec);
    if (head.kind === "bernoulli") return new BernoulliDistribution(policyOut);
    return this.logStd
      ? new DiagGaussianDistribution(policyOut, this.logStd as tf.Tensor1D)
      : new CategoricalDistribution(policyOut);
  }
}

/** Q(s, .) of a Q module: one stream, or dueling, Q = V + A - mean(A) (Wang et al. 2016). */
export class QNetwork extends RLModule {
  get numActions(): number {
    return this.spec.head.kind === "q_values" ? this.spec.head.n : 1;
  }

  /** Q values `[batch, numActions]` through autodiff-capable ops. */
  forward(obs: tf.Tensor2D): tf.Tensor2D {
    const outputs = this.towersForward(obs);
    return this.combine(outputs);
  }

  /** Q values without autodiff, and `backward`: dLoss/dQ to the gradient of every weight (flat layout). */
  forwardWithBackward(obs: tf.Tensor2D): { q: tf.Tensor2D; backward: (dQ: tf.Tensor2D) => tf.Tensor1D } {
    const { policyTower, valueTower } = this.spec;
    const { outputs, backward } = this.towersForwardWithBackward(obs);
    return {
      q: this.combine(outputs),
      backward: (dQ) => {
        const dOutputs = outputs.map((): tf.Tensor2D | null => null);
        if (valueTower < 0) dOutputs[policyTower] = dQ;
        else {
          // Q = V + A - mean(A): dA = dQ - mean over actions of dQ, dV = the sum over actions of dQ.
          dOutputs[policyTower] = tf.sub(dQ, tf.mean(dQ, 1, true)) as tf.Tensor2D;
          dOutputs[valueTower] = tf.sum(dQ, 1, true) as tf.Tensor2D;
        }
        return backward(dOutputs);
      },
    };
  }

  /** Q values `[batch, numActions]` for targets (no gradient). */
  predict(obs: tf.Tensor2D): tf.Tensor2D {
    return this.forwardWithBackward(obs).q;
  }

  private combine(outputs: tf.Tensor2D[]): tf.Tensor2D {
    const { policyTower, valueTower } = this.spec;
    const advantages = outputs[policyTower];
    if (valueTower < 0) return advantages;
    return tf.add(outputs[valueTower], tf.sub(advantages, tf.mean(advantages, 1, true))) as tf.Tensor2D;
  }
}

/** SAC's actor: the Gaussian's mean and unsquashed log-std `[batch, dim]` each (see squashed_gaussian.ts). */
export class SquashedGaussianActor extends RLModule {
  get actionDim(): number {
    return this.spec.actionDim;
  }

  /** Autodiff-capable forward pass. */
  forward(obs: tf.Tensor2D): { mean: tf.Tensor2D; rawLogStd: tf.Tensor2D } {
    return this.split(this.mlp.forward(obs)[0]);
  }

  /** `forward()` without autodiff, and `backward`: dLoss/dmean and dLoss/drawLogStd to the flat gradient. */
  forwardWithBackward(obs: tf.Tensor2D): {
    mean: tf.Tensor2D;
    rawLogStd: tf.Tensor2D;
    backward: (dMean: tf.Tensor2D, dRawLogStd: tf.Tensor2D) => tf.Tensor1D;
  } {
    const { outputs, backward } = this.mlp.forwardWithBackward(obs);
    return {
      ...this.split(outputs[0]),
      backward: (dMean, dRawLogStd) => backward([tf.concat([dMean, dRawLogStd], 1)]),
    };
  }

  private split(out: tf.Tensor2D): { mean: tf.Tensor2D; rawLogStd: tf.Tensor2D } {
    const [mean, rawLogStd] = tf.split(out, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
    return { mean, rawLogStd };
  }
}

/** SAC's critics: Q_k(s, a) `[batch, numCritics]` on the observation and the action in [-1, 1]. */
export class StateActionCritics extends RLModule {
  get numCritics(): number {
    return this.spec.towers.length;
  }

  /** Autodiff-capable forward pass. */
  forward(obs: tf.Tensor2D, actions: tf.Tensor2D): tf.Tensor2D {
    return tf.concat(this.mlp.forward(tf.concat([obs, actions], 1), true), 1) as tf.Tensor2D;
  }

  /**
   * `forward()` without autodiff; `backward` takes dLoss/dQ `[batch, numCritics]` to the flat gradient,
   * `actionGradient` to dLoss/d(actions) alone (the critics' weights untouched).
   */
  forwardWithBackward(
    obs: tf.Tensor2D,
    actions: tf.Tensor2D,
  ): {
    q: tf.Tensor2D;
    backward: (dQ: tf.Tensor2D) => tf.Tensor1D;
    actionGradient: (dQ: tf.Tensor2D) => tf.Tensor2D;
  } {
    const { outputs, backward, inputGradient } = this.mlp.forwardWithBackward(tf.concat([obs, actions], 1));
    const perCritic = (dQ: tf.Tensor2D) => tf.split(dQ, this.numCritics, 1) as tf.Tensor2D[];
    const obsDim = obs.shape[1];
    return {
      q: tf.concat(outputs, 1) as tf.Tensor2D,
      backward: (dQ) => backward(perCritic(dQ)),
      actionGradient: (dQ) => tf.slice(inputGradient(perCritic(dQ)), [0, obsDim], [-1, actions.shape[1]]),
    };
  }

  /** Q values for targets (no gradient). */
  predict(obs: tf.Tensor2D, actions: tf.Tensor2D): tf.Tensor2D {
    return tf.concat(this.mlp.forwardWithBackward(tf.concat([obs, actions], 1)).outputs, 1) as tf.Tensor2D;
  }
}
