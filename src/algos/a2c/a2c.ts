/**
 * Advantage Actor-Critic, synchronous (A2C, as Stable-Baselines3's): each iteration samples
 * `train_batch_size` steps from the env runners with the current weights, computes GAE (lambda 1: n-step
 * returns), takes one gradient step on the whole batch, and syncs the runners to the new weights.
 */
import { parseConfig } from "../../config/load.js";
import { learnerModule } from "../../learner/learner_actor.js";
import { explainedVariance } from "../../utils/stats.js";
import { OnPolicyAlgorithm, startOnPolicyActors } from "../on_policy.js";
import { type A2CRunConfig, type A2CRunConfigInput, a2cRunConfigSchema } from "./config.js";
import type { A2CLearner } from "./learner.js";

export class A2C extends OnPolicyAlgorithm<A2CRunConfig, A2CLearner> {
  static override async create(input: A2CRunConfig | A2CRunConfigInput): Promise<A2C> {
    const config = parseConfig(a2cRunConfigSchema, input, "A2C config");
    const learnerUrl = learnerModule<A2CLearner>(import.meta.url, "learner");
    const { runners, learner } = await startOnPolicyActors(config, config.a2c, learnerUrl);
    return new A2C(config, runners, learner);
  }

  protected override async trainingStep(): Promise<Record<string, number>> {
    const start = performance.now();
    const batch = await this.sampleTrainBatch(this.config.a2c);
    const sampled = performance.now();
    const losses = await this.learner.update({ batch, numEnvStepsSampled: this.numEnvStepsSampled });
    this.numEnvStepsTrained += batch.size;
    await this.runners.syncWeights(this.iteration + 1);
    const learned = performance.now();
    return {
      ...Object.fromEntries(Object.entries(losses).map(([name, value]) => [`learners/${name}`, value])),
      "learners/vf_explained_var": explainedVariance(batch.values, batch.returns),
      "timers/sample_ms": sampled - start,
      "timers/learn_ms": learned - sampled,
    };
  }
}
