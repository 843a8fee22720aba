/**
 * PPO's learner: the actor-critic, Adam and the minibatch-shuffle generator, and `update()`, the one
 * place where an iteration's batch becomes gradient steps (CleanRL's ppo.py inner loops): `num_epochs`
 * epochs of shuffled minibatches, advantages normalised per minibatch, an early stop once the KL passes
 * `kl_target`. The learner actor runs it in the main thread or in its own worker thread.
 */
import * as tf from "@tensorflow/tfjs";
import { Minibatch, type TrainBatch } from "../../buffers/train_batch.js";
import { type FlatOptimizer, nonFiniteNormError } from "../../learner/adam.js";
import { FusedMlpTrainer, fusedStepApplies } from "../../learner/fused_mlp.js";
import {
  type LearnerSpec,
  type LearnerState,
  MetricsAccumulator,
  OptimizerLearner,
} from "../../learner/learner.js";
import { type MinibatchTensors, minibatchTensors } from "../../learner/minibatch_tensors.js";
import { ActorCritic } from "../../models/rl_module.js";
import { createRng, type Rng, shuffle } from "../../utils/rng.js";
import { scheduleValue } from "../../utils/schedule.js";
import type { PPOConfig } from "./config.js";
import { PPO_LOSS_METRICS, type PPOLossInputs, ppoLossWithGradients } from "./loss.js";

/** One update's input: the batch, and the step count the schedules (lr, entropy, clip) are read at. */
export interface PPOUpdate {
  batch: TrainBatch;
  numEnvStepsSampled: number;
}

export class PPOLearner extends OptimizerLearner<ActorCritic, PPOConfig, PPOUpdate, Record<string, number>> {
  private shuffleRng: Rng;
  /**
   * The fused WebAssembly step (`learner.fused: auto` on wasm or cpu, for a module it covers), or null
   * for the tfjs path. It holds the weights and Adam's moments during an update; the host optimizer gets
   * them back after each, so checkpoints, `getWeights` and the tfjs module see the same state either way.
   */
  private readonly fused: FusedMlpTrainer | null;

  constructor(spec: LearnerSpec<PPOConfig>) {
    super(spec, ActorCritic);
    this.shuffleRng = createRng(`${spec.seed}-minibatch-shuffle`);
    this.fused = fusedStepApplies(spec, this.optimizer)
      ? new FusedMlpTrainer(
          spec.module,
          { adamEpsilon: spec.config.adam_epsilon, gradClip: spec.config.grad_clip },
          spec.config.minibatch_size,
        )
      : null;
  }

  /** Whether updates run the fused WebAssembly step. */
  get usesFusedStep(): boolean {
    return this.fused !== null;
  }

  /**
   * `num_epochs` passes of shuffled minibatches. Returns the losses averaged over the epochs run, `lr`
   * and `num_epochs`.
   */
  update({ batch, numEnvStepsSampled }: PPOUpdate): Record<string, number> {
    const ppo = this.config;
    const lr = scheduleValue(ppo.lr, numEnvStepsSampled);
    const entropyCoeff = scheduleValue(ppo.entropy_coeff, numEnvStepsSampled);
    const clipParam = scheduleValue(ppo.clip_param, numEnvStepsSampled);
    const spec = this.module.spec;
    const minibatchSize = Math.min(ppo.minibatch_size, batch.size);
    const indices = Int32Array.from({ length: batch.size }, (_, i) => i);
    const minibatch = new Minibatch(minibatchSize, spec.obsDim, spec.actionDim);
    const epochMetrics = new MetricsAccumulator();
    const coeffs = {
      clipParam,
      vfClipParam: ppo.vf_clip_param,
      vfLossCoeff: ppo.vf_loss_coeff,
      entropyCoeff,
    };
    const { fused } = this;
    /** The fused step's metric sums over an epoch's minibatches (MINIBATCH_METRICS' order). */
    const fusedSums = new Float64Array(MINIBATCH_METRICS.length);
    let fusedCount = 0;
    if (fused) {
      fused.setWeights(this.optimizer.weights as Float32Array);
      fused.setOptimizerState(this.optimizer.getOptimizerState());
    }
    const totals: Record<string, number> = {};
    let epochs = 0;
    try {
      for (let epoch = 0; epoch < ppo.num_epochs; epoch++) {
        shuffle(this.shuffleRng, indices);
        for (let start = 0; start < batch.size; start += minibatchSize) {
          const rows = indices.subarray(start, Math.min(start + minibatchSize, batch.size));
          minibatch.gather(batch, rows, ppo.normalize_advantages);
          if (fused) {
            const { metrics, gradNorm } = fused.ppoStep(minibatch, rows.length, coeffs, lr);
            if (!Number.isFinite(gradNorm)) throw nonFiniteNormError(gradNorm);
            metrics.forEach((value, i) => {
              fusedSums[i] += value;
            });
            fusedSums[metrics.length] += gradNorm;
            fusedCount += 1;
            continue;
          }
          const metrics = tf.tidy(() =>
            ppoMinibatchUpdate(
              this.module,
              this.optimizer,
              minibatchTensors(minibatch, rows.length, spec.head),
              coeffs,
              lr,
            ),
          );
          epochMetrics.addPacked(MINIBATCH_METRICS, metrics);
        }
        epochs += 1;
        // One read per epoch: the KL early stop needs it, and it keeps dataSync out of the minibatch loop.
        const means = fused
          ? Object.fromEntries(MINIBATCH_METRICS.map((name, i) => [name, fusedSums[i] / fusedCount]))
          : epochMetrics.read();
        fusedSums.fill(0);
        fusedCount = 0;
        // BackendAdam leaves a non-finite step undone on the backend; here is where it is seen.
        if (!Number.isFinite(means.grad_norm)) throw nonFiniteNormError(means.grad_norm);
        for (const [name, value] of Object.entries(means)) totals[name] = (totals[name] ?? 0) + value;
        if (ppo.kl_target !== null && means.mean_kl > ppo.kl_target) break;
      }
    } finally {
      // The steps taken (all of them, or those before a refused one) go back to the host optimizer.
      if (fused) {
        this.optimizer.setFlatWeights(fused.getWeights());
        this.optimizer.setOptimizerState(fused.getOptimizerState());
      }
    }
    const result = Object.fromEntries(Object.entries(totals).map(([name, sum]) => [name, sum / epochs]));
    return { ...result, lr, num_epochs: epochs };
  }

  protected override getExtraState(): LearnerState {
    return { shuffleRng: this.shuffleRng.state() };
  }

  protected override setExtraState(state: LearnerState): void {
    this.shuffleRng = createRng(undefined, state.shuffleRng as object);
  }
}

/**
 * The learner actor's entry, imported by URL (in a learner thread too): builds the learner from its spec.
 * @public
 */
export function createLearner(spec: LearnerSpec<PPOConfig>): PPOLearner {
  return new PPOLearner(spec);
}

/** What `ppoMinibatchUpdate` returns, in this order. */
const MINIBATCH_METRICS = [...PPO_LOSS_METRICS, "grad_norm"];

/**
 * One Adam step on PPO's loss for a minibatch: forward pass, the loss with its hand-derived gradient
 * (`ppoLossWithGradients`), the network's hand-written backward pass, clipping and Adam; no autodiff.
 * Returns `MINIBATCH_METRICS` as one vector. Call inside `tf.tidy`.
 */
export function ppoMinibatchUpdate(
  model: ActorCritic,
  optimizer: FlatOptimizer,
  t: MinibatchTensors,
  coeffs: Pick<PPOLossInputs, "clipParam" | "vfClipParam" | "vfLossCoeff" | "entropyCoeff">,
  lr: number,
): tf.Tensor1D {
  const { policyOut, values, backward } = model.forwardWithBackward(t.obs);
  const loss = ppoLossWithGradients({
    dist: model.distribution(policyOut),
    actions: t.actions,
    oldLogp: t.logp,
    advantages: t.advantages,
    values,
    oldValues: t.values,
    returns: t.returns,
    ...coeffs,
  });
  const gradNorm = optimizer.stepTensor(backward(loss.dPolicyOut, loss.dValues, loss.dLogStd), lr);
  return tf.concat([loss.metrics, gradNorm]);
}
