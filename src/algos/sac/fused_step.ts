/**
 * SAC's gradient step on the fused WebAssembly kernel (src/learner/fused_mlp.ts): the actor and the
 * critics (with their target copy) each in a kernel instance of their own, which holds the weights and
 * Adam's moments between steps. Every forward and backward pass, clipping and Adam run in the kernel; between
 * the passes, the loss arithmetic is loss.ts's plain loops, the same the tfjs path runs: no tfjs op at all.
 * The order is the tfjs path's (learner.ts): the soft targets, the critics' step, the actor's step
 * through the updated critics.
 */
import type { ObsArray } from "../../buffers/fragment.js";
import { nonFiniteNormError } from "../../learner/adam.js";
import { type FusedAdamOptions, FusedMlpTrainer } from "../../learner/fused_mlp.js";
import type { ModuleSpec } from "../../models/catalog.js";
import {
  type ActionScale,
  type ActorMetrics,
  actorMinQGradient,
  actorOutputGradients,
  type CriticMetrics,
  criticLossRows,
  softTargets,
  squashedSampleValues,
} from "./loss.js";

/** A replay minibatch as rows of numbers, actions scaled to [-1, 1]. */
export interface SACRows {
  obs: ObsArray;
  nextObs: ObsArray;
  actions: Float32Array;
  rewards: Float32Array;
  discounts: Float32Array;
  weights: Float32Array;
}

export interface FusedSACResult {
  critic: CriticMetrics & { gradNorm: number };
  actor: ActorMetrics & { gradNorm: number };
  tdErrors: Float32Array;
}

export class FusedSACStep {
  readonly actor: FusedMlpTrainer;
  readonly critics: FusedMlpTrainer;
  private readonly obsDim: number;
  private readonly actionDim: number;
  private readonly numCritics: number;

  constructor(actorSpec: ModuleSpec, criticSpec: ModuleSpec, adam: FusedAdamOptions, capacity: number) {
    this.actor = new FusedMlpTrainer(actorSpec, adam, capacity);
    this.critics = new FusedMlpTrainer(criticSpec, adam, capacity);
    this.obsDim = actorSpec.obsDim;
    this.actionDim = actorSpec.actionDim;
    this.numCritics = criticSpec.towers.length;
  }

  /**
   * One gradient step on the `n` rows of `batch` at temperature `alpha`: `nextNoise` draws a' for the
   * targets, `noise` the actor's reparameterised actions. Returns each network's gradient norm before
   * clipping; a non-finite one moves nothing in its network and throws, as `Adam.step` does.
   */
  step(
    batch: SACRows,
    n: number,
    alpha: number,
    nextNoise: Float32Array,
    noise: Float32Array,
    scale: ActionScale,
    lr: { critic: number; actor: number },
  ): FusedSACResult {
    const k = this.numCritics;
    // y = R + discount (min_k Qtarget_k(s', a') - alpha log pi(a'|s')), a' ~ pi(.|s')
    const next = this.sampleActions(batch.nextObs, n, nextNoise, scale);
    const nextQ = this.criticValues(batch.nextObs, next.actions, n, "target");
    const targets = softTargets(nextQ, k, next.logp, batch.rewards, batch.discounts, alpha);

    // The critics toward y.
    const q = this.criticValues(batch.obs, batch.actions, n, "online");
    const critic = criticLossRows(q, k, targets, batch.weights.subarray(0, n));
    const criticGradNorm = this.critics.backwardStep(n, this.perCritic(critic.dQ, n), lr.critic);
    if (!Number.isFinite(criticGradNorm)) throw nonFiniteNormError(criticGradNorm);

    // The actor through the updated critics: a~ ~ pi(.|s) reparameterised, dLoss/da~ from the critics.
    const sample = this.sampleActions(batch.obs, n, noise, scale);
    const qSampled = this.criticValues(batch.obs, sample.actions, n, "online");
    const minQ = actorMinQGradient(qSampled, k, sample.logp, alpha);
    const dInput = this.critics.inputGradient(
      n,
      this.perCritic(minQ.dQ, n),
      new Float32Array(n * (this.obsDim + this.actionDim)),
    );
    const dActions = new Float32Array(n * this.actionDim);
    for (let i = 0; i < n; i++) {
      const from = i * (this.obsDim + this.actionDim) + this.obsDim;
      dActions.set(dInput.subarray(from, from + this.actionDim), i * this.actionDim);
    }
    const { dMean, dRaw } = actorOutputGradients(sample, dActions, noise, scale, alpha);
    const actorGradNorm = this.actor.backwardStep(n, [this.sideBySide(dMean, dRaw, n)], lr.actor);
    if (!Number.isFinite(actorGradNorm)) throw nonFiniteNormError(actorGradNorm);
    return {
      critic: { ...critic.metrics, gradNorm: criticGradNorm },
      actor: { ...minQ.metrics, gradNorm: actorGradNorm },
      tdErrors: critic.tdErrors,
    };
  }

  /** The actor's forward pass on `obs`, and squashed-Gaussian actions from `noise`. */
  private sampleActions(obs: ObsArray, n: number, noise: Float32Array, scale: ActionScale) {
    const dim = this.actionDim;
    this.actor.inputRows(n).set(obs.subarray(0, n * this.obsDim));
    this.actor.forwardRows(n, "online");
    const out = this.actor.towerOutput(0, n, new Float32Array(n * 2 * dim));
    const mean = new Float32Array(n * dim);
    const rawLogStd = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      mean.set(out.subarray(2 * i * dim, (2 * i + 1) * dim), i * dim);
      rawLogStd.set(out.subarray((2 * i + 1) * dim, (2 * i + 2) * dim), i * dim);
    }
    return squashedSampleValues(mean, rawLogStd, noise.subarray(0, n * dim), scale);
  }

  /** Q_k(s, a) [n][k] by the trained or the target critics. */
  private criticValues(
    obs: ObsArray,
    actions: Float32Array,
    n: number,
    network: "online" | "target",
  ): Float32Array {
    const { obsDim, actionDim, numCritics: k } = this;
    const input = this.critics.inputRows(n);
    for (let i = 0; i < n; i++) {
      input.set(obs.subarray(i * obsDim, (i + 1) * obsDim), i * (obsDim + actionDim));
      input.set(actions.subarray(i * actionDim, (i + 1) * actionDim), i * (obsDim + actionDim) + obsDim);
    }
    this.critics.forwardRows(n, network);
    const q = new Float32Array(n * k);
    const column = new Float32Array(n);
    for (let c = 0; c < k; c++) {
      this.critics.towerOutput(c, n, column);
      for (let i = 0; i < n; i++) q[i * k + c] = column[i];
    }
    return q;
  }

  /** dLoss/dQ [n][k] as each critic tower's output gradient [n][1]. */
  private perCritic(dQ: Float32Array, n: number): Float32Array[] {
    const k = this.numCritics;
    return Array.from({ length: k }, (_, c) => Float32Array.from({ length: n }, (_, i) => dQ[i * k + c]));
  }

  /** The actor's output gradient [n][2 dim]: dLoss/dmean, then dLoss/draw, per row (its output's order). */
  private sideBySide(dMean: Float32Array, dRaw: Float32Array, n: number): Float32Array {
    const dim = this.actionDim;
    const out = new Float32Array(n * 2 * dim);
    for (let i = 0; i < n; i++) {
      out.set(dMean.subarray(i * dim, (i + 1) * dim), 2 * i * dim);
      out.set(dRaw.subarray(i * dim, (i + 1) * dim), (2 * i + 1) * dim);
    }
    return out;
  }
}
