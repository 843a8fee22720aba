/**
 * DQN's learner: the online Q network, its target copy and Adam. One `update` is one gradient step on a
 * replay minibatch (targets from the two networks, the TD loss with its hand-derived gradient), and, when
 * asked, a target-network move by `tau` after it. It returns the TD errors for the replay priorities.
 */
import * as tf from "@tensorflow/tfjs";
import type { ReplaySample } from "../../buffers/replay.js";
import { type LearnerState, OptimizerLearner } from "../../learner/learner.js";
import { initialWeights, type ModuleSpec } from "../../models/catalog.js";
import { QNetwork } from "../../models/rl_module.js";
import type { DQNConfig } from "./config.js";
import { type TDLossMetrics, tdLossWithGradients, tdTargets } from "./loss.js";

/** What the learner is built from (plain data, so a learner thread builds the same one). */
export interface DQNLearnerSpec {
  module: ModuleSpec;
  dqn: DQNConfig;
  seed: number;
}

export interface DQNUpdate {
  /** A replay minibatch to take one gradient step on at `lr`; null for a target update alone. */
  sample: ReplaySample | null;
  lr: number;
  /** Then move the target network: target <- tau * online + (1 - tau) * target; null leaves it. */
  targetTau: number | null;
}

export interface DQNUpdateResult {
  /** Empty when there was no sample. */
  metrics: Partial<TDLossMetrics & { grad_norm: number }>;
  /** Q(s, a) - target per sampled transition, for the priorities. */
  tdErrors: Float32Array;
}

class DQNLearner extends OptimizerLearner<QNetwork, DQNUpdate, DQNUpdateResult> {
  private readonly target: QNetwork;
  private readonly dqn: DQNConfig;

  constructor({ module, dqn, seed }: DQNLearnerSpec) {
    const weights = initialWeights(module, seed);
    super(new QNetwork(module, weights), { adamEpsilon: dqn.adam_epsilon, gradClip: dqn.grad_clip });
    this.dqn = dqn;
    this.target = new QNetwork(module, weights, false);
  }

  update({ sample, lr, targetTau }: DQNUpdate): DQNUpdateResult {
    let result: DQNUpdateResult = { metrics: {}, tdErrors: new Float32Array(0) };
    if (sample) {
      const targets = tdTargets(this.module, this.target, sample, this.dqn.double_q);
      const options = { doubleQ: this.dqn.double_q, lossFn: this.dqn.td_error_loss_fn };
      tf.tidy(() => {
        const loss = tdLossWithGradients(this.module, sample, targets, options);
        const gradNorm = this.optimizer.step(loss.gradient, lr);
        result = { metrics: { ...loss.metrics, grad_norm: gradNorm }, tdErrors: loss.tdErrors };
      });
    }
    if (targetTau !== null) this.target.updateFrom(this.module, targetTau);
    return result;
  }

  protected override getExtraState(): LearnerState {
    return { targetWeights: this.target.getFlatWeights() };
  }

  protected override setExtraState(state: LearnerState): void {
    this.target.setFlatWeights(state.targetWeights as Float32Array);
  }

  override dispose(): void {
    super.dispose();
    this.target.dispose();
  }
}

/**
 * The learner actor's entry, imported by URL (in a learner thread too): builds the learner from its spec.
 * @public
 */
export function createLearner(spec: DQNLearnerSpec): DQNLearner {
  return new DQNLearner(spec);
}
