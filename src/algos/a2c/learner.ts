/**
 * A2C's learner: the actor-critic and Adam; `update()` takes one gradient step on the whole batch, as
 * SB3's A2C does (no epochs, no minibatches, no ratio: the batch was sampled by these very weights).
 */
import * as tf from "@tensorflow/tfjs";
import { Minibatch, type TrainBatch } from "../../buffers/train_batch.js";
import { type LearnerSpec, OptimizerLearner } from "../../learner/learner.js";
import { minibatchTensors } from "../../learner/minibatch_tensors.js";
import { ActorCritic } from "../../models/rl_module.js";
import { scheduleValue } from "../../utils/schedule.js";
import type { A2CConfig } from "./config.js";
import { A2C_LOSS_METRICS, a2cLossWithGradients } from "./loss.js";

export interface A2CUpdate {
  batch: TrainBatch;
  /** The step count the schedules (lr, entropy) are read at. */
  numEnvStepsSampled: number;
}

export class A2CLearner extends OptimizerLearner<ActorCritic, A2CConfig, A2CUpdate, Record<string, number>> {
  constructor(spec: LearnerSpec<A2CConfig>) {
    super(spec, ActorCritic);
  }

  update({ batch, numEnvStepsSampled }: A2CUpdate): Record<string, number> {
    const { config: a2c, module: model } = this;
    const lr = scheduleValue(a2c.lr, numEnvStepsSampled);
    const entropyCoeff = scheduleValue(a2c.entropy_coeff, numEnvStepsSampled);
    const spec = model.spec;
    const all = new Minibatch(batch.size, spec.obsDim, spec.actionDim);
    all.gather(
      batch,
      Int32Array.from({ length: batch.size }, (_, i) => i),
      a2c.normalize_advantages,
    );
    let gradNorm = 0;
    const metrics = tf.tidy(() => {
      const t = minibatchTensors(all, batch.size, spec.head);
      const { policyOut, values, backward } = model.forwardWithBackward(t.obs);
      const loss = a2cLossWithGradients({
        dist: model.distribution(policyOut),
        actions: t.actions,
        advantages: t.advantages,
        values,
        returns: t.returns,
        vfLossCoeff: a2c.vf_loss_coeff,
        entropyCoeff,
      });
      gradNorm = this.optimizer.step(backward(loss.dPolicyOut, loss.dValues, loss.dLogStd), lr);
      return loss.metrics.dataSync();
    });
    return {
      ...Object.fromEntries(A2C_LOSS_METRICS.map((name, i) => [name, metrics[i]])),
      grad_norm: gradNorm,
      lr,
    };
  }
}

/**
 * The learner actor's entry, imported by URL (in a learner thread too): builds the learner from its spec.
 * @public
 */
export function createLearner(spec: LearnerSpec<A2CConfig>): A2CLearner {
  return new A2CLearner(spec);
}
