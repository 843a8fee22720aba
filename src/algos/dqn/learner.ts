/**
 * DQN's learner: the online Q network, its target copy and Adam. One `update` is one gradient step on a
 * replay minibatch (targets from the two networks, the TD loss with its hand-derived gradient), and, when
 * asked, a target-network move by `tau` after it. It returns the TD errors for the replay priorities.
 */
import * as tf from "@tensorflow/tfjs";
import type { ReplaySample } from "../../buffers/replay.js";
import { type LearnerSpec, type LearnerState, OptimizerLearner } from "../../learner/learner.js";
import { QNetwork } from "../../models/rl_module.js";
import type { DQNConfig } from "./config.js";
import { type TDLossMetrics, tdLossWithGradients, tdTargets } from "./loss.js";

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

export class DQNLearner extends OptimizerLearner<QNetwork, DQNConfig, DQNUpdate, DQNUpdateResult> {
  private readonly target: QNetwork;

  constructor(spec: LearnerSpec<DQNConfig>) {
    super(spec, QNetwork);
    // The target network starts as a copy of the online one.
    this.target = new QNetwork(spec.module, this.getWeights(), false);
  }

  update({ sample, lr, targetTau }: DQNUpdate): DQNUpdateResult {
    let result: DQNUpdateResult = { metrics: {}, tdErrors: new Float32Array(0) };
    if (sample) {
      const targets = tdTargets(this.module, this.target, sample, this.config.double_q);
      const options = { doubleQ: this.config.double_q, lossFn: this.config.td_error_loss_fn };
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
export function createLearner(spec: LearnerSpec<DQNConfig>): DQNLearner {
  return new DQNLearner(spec);
}
