/**
 * DQN's learner: the online Q network, its target copy and Adam. One `update` is one gradient step on a
 * replay minibatch (targets from the two networks, the TD loss with its hand-derived gradient), and, when
 * asked, a target-network move by `tau` after it. It returns the TD errors for the replay priorities.
 */
import * as tf from "@tensorflow/tfjs";
import type { ReplaySample } from "../../buffers/replay.js";
import { Adam, type OptimizerState } from "../../learner/adam.js";
import type { Learner, LearnerState } from "../../learner/learner.js";
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

interface DQNLearnerState {
  weights: Float32Array;
  targetWeights: Float32Array;
  optimizer: OptimizerState;
}

class DQNLearner implements Learner<DQNUpdate, DQNUpdateResult> {
  private readonly online: QNetwork;
  private readonly target: QNetwork;
  private readonly optimizer: Adam;
  private readonly dqn: DQNConfig;

  constructor({ module, dqn, seed }: DQNLearnerSpec) {
    this.dqn = dqn;
    const weights = initialWeights(module, seed);
    this.online = new QNetwork(module, weights);
    this.target = new QNetwork(module, weights, false);
    this.optimizer = new Adam(this.online, { adamEpsilon: dqn.adam_epsilon, gradClip: dqn.grad_clip });
  }

  update({ sample, lr, targetTau }: DQNUpdate): DQNUpdateResult {
    let result: DQNUpdateResult = { metrics: {}, tdErrors: new Float32Array(0) };
    if (sample) {
      const targets = tdTargets(this.online, this.target, sample, this.dqn.double_q);
      const options = { doubleQ: this.dqn.double_q, lossFn: this.dqn.td_error_loss_fn };
      tf.tidy(() => {
        const loss = tdLossWithGradients(this.online, sample, targets, options);
        const gradNorm = this.optimizer.step(loss.gradient, lr);
        result = { metrics: { ...loss.metrics, grad_norm: gradNorm }, tdErrors: loss.tdErrors };
      });
    }
    if (targetTau !== null) this.target.updateFrom(this.online, targetTau);
    return result;
  }

  getWeights(): Float32Array {
    return this.optimizer.getFlatWeights();
  }

  getState(): LearnerState {
    const state: DQNLearnerState = {
      weights: this.optimizer.getFlatWeights(),
      targetWeights: this.target.getFlatWeights(),
      optimizer: this.optimizer.getOptimizerState(),
    };
    return { ...state };
  }

  setState(saved: LearnerState): void {
    const state = saved as unknown as DQNLearnerState;
    this.optimizer.setFlatWeights(state.weights);
    this.target.setFlatWeights(state.targetWeights);
    this.optimizer.setOptimizerState(state.optimizer);
  }

  dispose(): void {
    this.online.dispose();
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
