/**
 * DQN's learner: the online Q network, its target copy and Adam. One `update` is one gradient step on a
 * replay minibatch (targets from the two networks, the TD loss with its hand-derived gradient), and, when
 * asked, a target-network move by `tau` after it. It returns the TD errors for the replay priorities.
 */
import * as tf from "@tensorflow/tfjs";
import type { ReplaySample } from "../../buffers/replay.js";
import { nonFiniteNormError } from "../../learner/adam.js";
import { FusedMlpTrainer, fusedStepApplies } from "../../learner/fused_mlp.js";
import { type LearnerSpec, type LearnerState, OptimizerLearner } from "../../learner/learner.js";
import { QNetwork } from "../../models/rl_module.js";
import type { DQNConfig } from "./config.js";
import { bootstrappedTargets, type TDLossMetrics, tdLossWithGradients, tdTargets } from "./loss.js";

/**
 * DQN's fused path: the gradient step in the WebAssembly kernel (`FusedMlpTrainer.tdStep`), the targets'
 * Q values from the same kernel's forward pass with the online and the target weights: no tfjs op per
 * step. The trainer holds the weights, Adam's moments and a copy of the target network; the host
 * optimizer (and the tfjs modules) get them when a checkpoint or a target update needs them.
 */
interface FusedDQN {
  trainer: FusedMlpTrainer;
  /** The trainer's weights after its last step (what `getWeights` publishes). */
  weights: Float32Array;
  /** The trainer must load the host's state before its next step (after a `setState`, and at first). */
  stale: boolean;
  /** The host optimizer lags the trainer (after a fused step). */
  hostBehind: boolean;
  chooserQ: Float32Array;
  targetQ: Float32Array;
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

export class DQNLearner extends OptimizerLearner<QNetwork, DQNConfig, DQNUpdate, DQNUpdateResult> {
  private readonly target: QNetwork;
  private readonly fused: FusedDQN | null;

  constructor(spec: LearnerSpec<DQNConfig>) {
    super(spec, QNetwork);
    // The target network starts as a copy of the online one.
    this.target = new QNetwork(spec.module, this.getWeights(), false);
    this.fused = fusedStepApplies(spec, this.optimizer)
      ? {
          trainer: new FusedMlpTrainer(
            spec.module,
            { adamEpsilon: spec.config.adam_epsilon, gradClip: spec.config.grad_clip },
            spec.config.train_batch_size,
          ),
          weights: this.optimizer.getFlatWeights(),
          stale: true,
          hostBehind: false,
          chooserQ: new Float32Array(0),
          targetQ: new Float32Array(0),
        }
      : null;
  }

  /** Whether gradient steps run the fused WebAssembly step. */
  get usesFusedStep(): boolean {
    return this.fused !== null;
  }

  override getWeights(): Readonly<Float32Array> {
    return this.fused?.hostBehind ? this.fused.weights : super.getWeights();
  }

  protected override hostStateChanged(): void {
    if (this.fused) {
      this.fused.stale = true;
      this.fused.hostBehind = false;
    }
  }

  update({ sample, lr, targetTau }: DQNUpdate): DQNUpdateResult {
    let result: DQNUpdateResult = { metrics: {}, tdErrors: new Float32Array(0) };
    if (sample && this.fused) {
      result = this.fusedStep(this.fused, sample, lr);
    } else if (sample) {
      const targets = tdTargets(this.module, this.target, sample, this.config.double_q);
      const options = { doubleQ: this.config.double_q, lossFn: this.config.td_error_loss_fn };
      tf.tidy(() => {
        const loss = tdLossWithGradients(this.module, sample, targets, options);
        const gradNorm = this.optimizer.step(loss.gradient, lr);
        result = { metrics: { ...loss.metrics, grad_norm: gradNorm }, tdErrors: loss.tdErrors };
      });
    }
    if (targetTau !== null) {
      this.syncHost();
      this.target.updateFrom(this.module, targetTau);
      this.fused?.trainer.setTargetWeights(this.target.getFlatWeights());
    }
    return result;
  }

  private fusedStep(fused: FusedDQN, sample: ReplaySample, lr: number): DQNUpdateResult {
    if (fused.stale) {
      fused.trainer.setWeights(this.optimizer.weights as Float32Array);
      fused.trainer.setOptimizerState(this.optimizer.getOptimizerState());
      fused.trainer.setTargetWeights(this.target.getFlatWeights());
      fused.stale = false;
    }
    const n = sample.count;
    const { obsDim } = this.module.spec;
    const numActions = this.module.numActions;
    if (fused.targetQ.length < n * numActions) {
      fused.targetQ = new Float32Array(n * numActions);
      fused.chooserQ = new Float32Array(n * numActions);
    }
    const nextObs = sample.nextObs.subarray(0, n * obsDim);
    fused.trainer.qValues(nextObs, n, "target", fused.targetQ);
    if (this.config.double_q) fused.trainer.qValues(nextObs, n, "online", fused.chooserQ);
    const chooserQ = this.config.double_q ? fused.chooserQ : fused.targetQ;
    const targets = bootstrappedTargets(sample, chooserQ, fused.targetQ, numActions);
    const step = fused.trainer.tdStep(sample, targets, n, this.config.td_error_loss_fn, lr);
    // The step count moved even when the step is refused (as the host Adam's does).
    fused.hostBehind = true;
    if (!Number.isFinite(step.gradNorm)) throw nonFiniteNormError(step.gradNorm);
    fused.weights = fused.trainer.getWeights();
    return { metrics: { ...step.metrics, grad_norm: step.gradNorm }, tdErrors: step.tdErrors };
  }

  /** The fused trainer's weights and moments back into the host optimizer (and the tfjs module). */
  protected override syncHost(): void {
    if (!this.fused?.hostBehind) return;
    this.optimizer.setFlatWeights(this.fused.trainer.getWeights());
    this.optimizer.setOptimizerState(this.fused.trainer.getOptimizerState());
    this.fused.hostBehind = false;
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
