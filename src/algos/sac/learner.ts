/**
 * SAC's learner: the actor (the module the runners act with), the critics and their target copies, the
 * log temperature, one Adam each, and the generator of the reparameterisation noise. One `update` is one
 * gradient step on a replay minibatch, in the order SB3 and CleanRL take it: the critics toward the soft
 * targets, then the actor through the updated critics, then alpha toward the target entropy; then, when
 * asked, the targets' Polyak move by `tau`. It returns |TD error| per row for the replay priorities.
 */
import * as tf from "@tensorflow/tfjs";
import type { ReplaySample } from "../../buffers/replay.js";
import { Adam, type OptimizerState } from "../../learner/adam.js";
import { type LearnerSpec, type LearnerState, OptimizerLearner } from "../../learner/learner.js";
import { initialWeights, type ModuleSpec, qFunctionSpec } from "../../models/catalog.js";
import { SquashedGaussianActor, StateActionCritics, type TrainableModule } from "../../models/rl_module.js";
import { createRng, normal, type Rng } from "../../utils/rng.js";
import type { SACConfig } from "./config.js";
import {
  type ActionScale,
  type ActorMetrics,
  actorLossWithGradients,
  alphaLossGradient,
  type CriticMetrics,
  criticLossWithGradients,
  criticTargets,
  type SACMinibatch,
} from "./loss.js";

export interface SACUpdate {
  /** A replay minibatch to take one gradient step on; null for a target update alone. */
  sample: ReplaySample | null;
  /** Then move the target critics: target <- tau * critics + (1 - tau) * target; null leaves them. */
  targetTau: number | null;
}

type SACMetrics = CriticMetrics &
  ActorMetrics & {
    alpha_loss: number;
    alpha_value: number;
    critic_grad_norm: number;
    actor_grad_norm: number;
  };

export interface SACUpdateResult {
  /** Empty when there was no sample. */
  metrics: Partial<SACMetrics>;
  /** Mean over the critics of |Q_k(s, a) - y| per sampled transition, for the priorities. */
  tdErrors: Float32Array;
}

/** log alpha as a one-element module, so the same Adam trains it. */
class LogAlpha implements TrainableModule {
  readonly variables: tf.Variable[];

  constructor(initialAlpha: number) {
    this.variables = [tf.variable(tf.tensor1d([Math.log(initialAlpha)]))];
  }

  getFlatWeights(): Float32Array {
    return this.variables[0].dataSync() as Float32Array;
  }

  setFlatWeights(flat: Float32Array): void {
    this.variables[0].assign(tf.tensor1d(flat));
  }

  dispose(): void {
    tf.dispose(this.variables);
  }
}

export class SACLearner extends OptimizerLearner<
  SquashedGaussianActor,
  SACConfig,
  SACUpdate,
  SACUpdateResult
> {
  private readonly critics: StateActionCritics;
  private readonly targetCritics: StateActionCritics;
  private readonly criticOptimizer: Adam;
  private readonly logAlpha: LogAlpha;
  private readonly alphaOptimizer: Adam;
  private readonly targetEntropy: number;
  /** The Box's centre and half-width per dimension: replay actions are scaled to [-1, 1] with them. */
  private readonly center: Float32Array;
  private readonly scale: ActionScale;
  private noiseRng: Rng;

  constructor(spec: LearnerSpec<SACConfig>) {
    super(spec, SquashedGaussianActor);
    const { config, module: actor } = spec;
    if (actor.head.kind !== "squashed_gaussian") {
      this.module.dispose();
      throw new TypeError(`SAC learner: the actor needs a squashed_gaussian head, got ${actor.head.kind}`);
    }
    const criticSpec = qFunctionSpec(actor, config.q_model, config.twin_q ? 2 : 1);
    const criticWeights = initialWeights(criticSpec, spec.seed);
    this.critics = new StateActionCritics(criticSpec, criticWeights);
    this.targetCritics = new StateActionCritics(criticSpec, criticWeights, false);
    const adamOptions = { adamEpsilon: config.adam_epsilon, gradClip: config.grad_clip };
    this.criticOptimizer = new Adam(this.critics, adamOptions);
    this.logAlpha = new LogAlpha(config.initial_alpha);
    this.alphaOptimizer = new Adam(this.logAlpha, { adamEpsilon: config.adam_epsilon, gradClip: null });
    this.targetEntropy = config.target_entropy === "auto" ? -actor.actionDim : config.target_entropy;
    const { low, high } = actor.head as Extract<ModuleSpec["head"], { kind: "squashed_gaussian" }>;
    this.center = Float32Array.from(low, (l, j) => (l + high[j]) / 2);
    this.scale = Float32Array.from(low, (l, j) => (high[j] - l) / 2);
    this.noiseRng = createRng(`${spec.seed}-sac-noise`);
  }

  get alpha(): number {
    return Math.exp(this.alphaOptimizer.weights[0]);
  }

  update({ sample, targetTau }: SACUpdate): SACUpdateResult {
    let result: SACUpdateResult = { metrics: {}, tdErrors: new Float32Array(0) };
    if (sample) {
      tf.tidy(() => {
        result = this.gradientStep(sample);
      });
    }
    if (targetTau !== null) this.targetCritics.updateFrom(this.critics, targetTau);
    return result;
  }

  /** Critics, then actor, then alpha, on one minibatch. Call inside `tf.tidy`. */
  private gradientStep(sample: ReplaySample): SACUpdateResult {
    const { config } = this;
    const batch = this.minibatch(sample);
    const alpha = this.alpha;
    const noiseShape: [number, number] = [batch.count, this.module.actionDim];
    const targets = criticTargets(
      this.module,
      this.targetCritics,
      batch,
      alpha,
      tf.tensor2d(this.noise(batch.count), noiseShape),
      this.scale,
    ).dataSync() as Float32Array;
    const critic = criticLossWithGradients(this.critics, batch, targets);
    const criticGradNorm = this.criticOptimizer.step(critic.gradient, config.critic_lr);
    const actor = actorLossWithGradients(
      this.module,
      this.critics,
      batch,
      alpha,
      this.noise(batch.count),
      this.scale,
    );
    const actorGradNorm = this.optimizer.step(actor.gradient, config.actor_lr);
    const alphaGradient = alphaLossGradient(alpha, actor.metrics.logp_mean, this.targetEntropy);
    if (config.autotune_alpha) this.alphaOptimizer.step(tf.tensor1d([alphaGradient]), config.alpha_lr);
    return {
      metrics: {
        ...critic.metrics,
        ...actor.metrics,
        // mean(-alpha (log pi + target)) is the gradient's value: the loss is linear in alpha.
        alpha_loss: alphaGradient,
        alpha_value: alpha,
        critic_grad_norm: criticGradNorm,
        actor_grad_norm: actorGradNorm,
      },
      tdErrors: critic.tdErrors,
    };
  }

  /** The sample as tensors, its actions scaled from the Box to [-1, 1]. */
  private minibatch(sample: ReplaySample): SACMinibatch {
    const n = sample.count;
    const { obsDim, actionDim } = this.module.spec;
    const unit = new Float32Array(n * actionDim);
    for (let e = 0; e < unit.length; e++) {
      const j = e % actionDim;
      unit[e] = (sample.actions[e] - this.center[j]) / this.scale[j];
    }
    return {
      obs: tf.tensor2d(sample.obs.subarray(0, n * obsDim), [n, obsDim], "float32"),
      nextObs: tf.tensor2d(sample.nextObs.subarray(0, n * obsDim), [n, obsDim], "float32"),
      actions: tf.tensor2d(unit, [n, actionDim]),
      rewards: sample.rewards.subarray(0, n),
      discounts: sample.discounts.subarray(0, n),
      weights: sample.weights.subarray(0, n),
      count: n,
    };
  }

  /** Standard-normal reparameterisation noise for `rows` actions. */
  private noise(rows: number): Float32Array {
    return Float32Array.from({ length: rows * this.module.actionDim }, () => normal(this.noiseRng));
  }

  protected override getExtraState(): LearnerState {
    return {
      criticWeights: this.criticOptimizer.getFlatWeights(),
      criticOptimizer: this.criticOptimizer.getOptimizerState(),
      targetCriticWeights: this.targetCritics.getFlatWeights(),
      logAlpha: this.alphaOptimizer.getFlatWeights(),
      alphaOptimizer: this.alphaOptimizer.getOptimizerState(),
      noiseRng: this.noiseRng.state(),
    };
  }

  protected override setExtraState(state: LearnerState): void {
    this.criticOptimizer.setFlatWeights(state.criticWeights as Float32Array);
    this.criticOptimizer.setOptimizerState(state.criticOptimizer as OptimizerState);
    this.targetCritics.setFlatWeights(state.targetCriticWeights as Float32Array);
    this.alphaOptimizer.setFlatWeights(state.logAlpha as Float32Array);
    this.alphaOptimizer.setOptimizerState(state.alphaOptimizer as OptimizerState);
    this.noiseRng = createRng(undefined, state.noiseRng as object);
  }

  override dispose(): void {
    super.dispose();
    this.critics.dispose();
    this.targetCritics.dispose();
    this.logAlpha.dispose();
  }
}

/**
 * The learner actor's entry, imported by URL (in a learner thread too): builds the learner from its spec.
 * @public
 */
export function createLearner(spec: LearnerSpec<SACConfig>): SACLearner {
  return new SACLearner(spec);
}
