/**
 * Proximal Policy Optimization, one `train()` call per iteration as CleanRL's ppo.py loop body: sample
 * `train_batch_size` steps from the env runners, compute GAE, hand the batch to the learner actor
 * (`num_epochs` epochs of shuffled minibatches through the clipped loss, in the main thread or in a
 * learner thread: `learner.num_learners`), and sync the runners to the weights it put.
 */
import { parseConfig } from "../../config/load.js";
import { learnerModule } from "../../learner/learner_actor.js";
import { explainedVariance } from "../../utils/stats.js";
import { OnPolicyAlgorithm, startOnPolicyActors } from "../on_policy.js";
import { type PPORunConfig, type PPORunConfigInput, ppoRunConfigSchema } from "./config.js";
import type { PPOLearner } from "./learner.js";

export class PPO extends OnPolicyAlgorithm<PPORunConfig, PPOLearner> {
  /** PPO on `input` (validated here), with the env runners and learner its config asks for. */
  static override async create(input: PPORunConfig | PPORunConfigInput): Promise<PPO> {
    const config = parseConfig(ppoRunConfigSchema, input, "PPO config");
    const learnerUrl = learnerModule<PPOLearner>(import.meta.url, "learner");
    const { runners, learner } = await startOnPolicyActors(config, config.ppo, learnerUrl);
    return new PPO(config, runners, learner);
  }

  protected override async trainingStep(): Promise<Record<string, number>> {
    const start = performance.now();
    const batch = await this.sampleTrainBatch(this.config.ppo);
    const sampled = performance.now();

    const losses = await this.learner.update({ batch, numEnvStepsSampled: this.numEnvStepsSampled });
    this.numEnvStepsTrained += batch.size * losses.num_epochs;
    // The learner has put its new weights into the group's object store: never posted between threads.
    await this.runners.syncWeights(this.iteration + 1);
    const learned = performance.now();
    return {
      "learners/policy_loss": losses.policy_loss,
      "learners/vf_loss": losses.vf_loss,
      "learners/entropy": losses.entropy,
      "learners/mean_kl": losses.mean_kl,
      "learners/clip_fraction": losses.clip_fraction,
      "learners/grad_norm": losses.grad_norm,
      "learners/vf_explained_var": explainedVariance(batch.values, batch.returns),
      "learners/lr": losses.lr,
      "learners/num_epochs": losses.num_epochs,
      "timers/sample_ms": sampled - start,
      "timers/learn_ms": learned - sampled,
      "throughput/env_steps_per_s": (batch.size / (learned - start)) * 1000,
    };
  }
}
