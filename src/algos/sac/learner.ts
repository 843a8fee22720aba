/**
 * SAC's learner: the actor (the module the runners act with), the critics and their target copies, the
 * log temperature, one Adam each, and the generator of the reparameterisation noise. One `update` is one
 * gradient step on a replay minibatch, in the order SB3 and CleanRL take it: the critics toward the soft
 * targets, then the actor through the updated critics, then alpha toward the target entropy; then, when
 * asked, the targets' Polyak move by `tau`. It returns |TD error| per row for the replay priorities.
 * Where the fused kernel covers the networks (MLPs on the wasm and cpu backends, `learner.fused: auto`),
 * the step runs there (fused_step.ts) with the same row arithmetic.
 */
import * as tf from "@tensorflow/tfjs";
import type { ReplaySample } from "../../buffers/replay.js";
import { Adam, type OptimizerState } from "../../learner/adam.js";
import { fusedStepApplies } from "../../learner/fused_mlp.js";
import { type LearnerSpec, type LearnerState, OptimizerLearner } from "../../learner/learner.js";
import { initialWeights, type ModuleSpec, qFunctionSpec } from "../../models/catalog.js";
import { SquashedGaussianActor, StateActionCritics, type TrainableModule } from "../../models/rl_module.js";
import { createRng, normal, type Rng } from "../../utils/rng.js";
import type { SACConfig } from "./config.js";
import { type FusedSACResult, FusedSACStep } from "./fused_step.js";
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

/**
 * The fused path's state: the kernel instances hold the weights, the moments and the target critics
 * while it trains; the host optimizers (and the tfjs modules) get them when a checkpoint asks.
 */
interface FusedSAC {
  step: FusedSACStep;
  /** The kernels must load the host's state before their next step (after a `setState`, and at first). */
  stale: boolean;
  /** The host lags the kernels (after a fused step or target move). */
  hostBehind: boolean;
  /** The actor's weights after the last step, read when first asked for. */
  weights: Float32Array | null;
}

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
  private readonly fused: FusedSAC | null;

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
    this.fused = fusedStepApplies(spec, this.optimizer)
      ? {
          step: new FusedSACStep(actor, criticSpec, adamOptions, config.train_batch_size),
          stale: true,
          hostBehind: false,
          weights: null,
        }
      : null;
  }

  get alpha(): number {
    return Math.exp(this.alphaOptimizer.weights[0]);
  }

  /** Whether gradient steps run the fused WebAssembly step. */
  get usesFusedStep(): boolean {
    return this.fused !== null;
  }

  override getWeights(): Readonly<Float32Array> {
    const fused = this.fused;
    if (!fused?.hostBehind) return super.getWeights();
    fused.weights ??= fused.step.actor.getWeights();
    return fused.weights;
  }

  protected override hostStateChanged(): void {
    if (this.fused) {
      this.fused.stale = true;
      this.fused.hostBehind = false;
    }
  }

  update({ sample, targetTau }: SACUpdate): SACUpdateResult {
    let result: SACUpdateResult = { metrics: {}, tdErrors: new Float32Array(0) };
    const fused = this.fused;
    if (sample && fused) {
      result = this.fusedGradientStep(fused, sample);
    } else if (sample) {
      tf.tidy(() => {
        result = this.gradientStep(sample);
      });
    }
    if (targetTau !== null && fused && !fused.stale) {
      fused.step.critics.updateTarget(targetTau);
      fused.hostBehind = true;
    } else if (targetTau !== null) {
      this.targetCritics.updateFrom(this.critics, targetTau);
    }
    return result;
  }

  /** `gradientStep` on the fused kernel, the host's state loaded into it first when it lags. */
  private fusedGradientStep(fused: FusedSAC, sample: ReplaySample): SACUpdateResult {
    const { actor, critics } = fused.step;
    if (fused.stale) {
      actor.setWeights(this.optimizer.weights as Float32Array);
      actor.setOptimizerState(this.optimizer.getOptimizerState());
      critics.setWeights(this.criticOptimizer.weights as Float32Array);
      critics.setOptimizerState(this.criticOptimizer.getOptimizerState());
      critics.setTargetWeights(this.targetCritics.getFlatWeights());
      fused.stale = false;
    }
    const { config } = this;
    const n = sample.count;
    const alpha = this.alpha;
    const nextNoise = this.noise(n);
    const noise = this.noise(n);
    fused.hostBehind = true;
    fused.weights = null;
    const step = fused.step.step(
      { ...sample, actions: this.unitActions(sample) },
      n,
      alpha,
      nextNoise,
      noise,
      this.scale,
      { critic: config.critic_lr, actor: config.actor_lr },
    );
    return this.alphaStep(alpha, step.critic, step.actor, step.tdErrors);
  }

  /** The kernels' weights, moments and target critics back into the host optimizers and modules. */
  protected override syncHost(): void {
    const fused = this.fused;
    if (!fused?.hostBehind) return;
    const { actor, critics } = fused.step;
    this.optimizer.setFlatWeights(actor.getWeights());
    this.optimizer.setOptimizerState(actor.getOptimizerState());
    this.criticOptimizer.setFlatWeights(critics.getWeights());
    this.criticOptimizer.setOptimizerState(critics.getOptimizerState());
    this.targetCritics.setFlatWeights(critics.getTargetWeights());
    fused.hostBehind = false;
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
    return this.alphaStep(
      alpha,
      { ...critic.metrics, gradNorm: criticGradNorm },
      { ...actor.metrics, gradNorm: actorGradNorm },
      critic.tdErrors,
    );
  }

  /** After the critics' and the actor's steps: alpha's, and the step's metrics. */
  private alphaStep(
    alpha: number,
    { gradNorm: criticGradNorm, ...critic }: FusedSACResult["critic"],
    { gradNorm: actorGradNorm, ...actor }: FusedSACResult["actor"],
    tdErrors: Float32Array,
  ): SACUpdateResult {
    const { config } = this;
    const alphaGradient = alphaLossGradient(alpha, actor.logp_mean, this.targetEntropy);
    if (config.autotune_alpha) {
      tf.tidy(() => this.alphaOptimizer.step(tf.tensor1d([alphaGradient]), config.alpha_lr));
    }
    return {
      metrics: {
        ...critic,
        ...actor,
        // mean(-alpha (log pi + target)) is the gradient's value: the loss is linear in alpha.
        alpha_loss: alphaGradient,
        alpha_value: alpha,
        critic_grad_norm: criticGradNorm,
        actor_grad_norm: actorGradNorm,
      },
      tdErrors,
    };
  }

  /** The sample as tensors, its actions scaled from the Box to [-1, 1]. */
  private minibatch(sample: ReplaySample): SACMinibatch {
    const n = sample.count;
    const { obsDim, actionDim } = this.module.spec;
    return {
      obs: tf.tensor2d(sample.obs.subarray(0, n * obsDim), [n, obsDim], "float32"),
      nextObs: tf.tensor2d(sample.nextObs.subarray(0, n * obsDim), [n, obsDim], "float32"),
      actions: tf.tensor2d(this.unitActions(sample), [n, actionDim]),
      rewards: sample.rewards.subarray(0, n),
      discounts: sample.discounts.subarray(0, n),
      weights: sample.weights.subarray(0, n),
      count: n,
    };
  }

  /** The sample's actions scaled from the Box to [-1, 1]. */
  private unitActions(sample: ReplaySample): Float32Array {
    const { actionDim } = this.module.spec;
    const unit = new Float32Array(sample.count * actionDim);
    for (let e = 0; e < unit.length; e++) {
      const j = e % actionDim;
      unit[e] = (sample.actions[e] - this.center[j]) / this.scale[j];
    }
    return unit;
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
