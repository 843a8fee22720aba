/**
 * Proximal Policy Optimization, one `train()` call per iteration as CleanRL's ppo.py loop body: sample
 * `train_batch_size` steps from the env runners, compute GAE, hand the batch to the learner actor
 * (`num_epochs` epochs of shuffled minibatches through the clipped loss, in the main thread or in a
 * learner thread: `learner.num_learners`), and sync the runners to the weights it put.
 */
import type { Fragment } from "../../buffers/fragment.js";
import { trainBatchFromFragments } from "../../buffers/train_batch.js";
import { parseConfig } from "../../config/load.js";
import type { LearnerActor } from "../../learner/learner_actor.js";
import { onPolicyRunnerConfig } from "../../rollout/env_runner.js";
import type { EnvRunnerGroup } from "../../rollout/env_runner_group.js";
import { siblingModule } from "../../rollout/worker_thread.js";
import { explainedVariance } from "../../utils/stats.js";
import { Algorithm, startActors } from "../algorithm.js";
import { type PPORunConfig, type PPORunConfigInput, ppoRunConfigSchema } from "./config.js";
import type { PPOLearnerSpec, PPOUpdate } from "./learner.js";

export class PPO extends Algorithm<PPORunConfig> {
  private constructor(
    config: PPORunConfig,
    private readonly fragments: EnvRunnerGroup<Fragment>,
    private readonly ppoLearner: LearnerActor<PPOUpdate, Record<string, number>>,
  ) {
    super(config, fragments, ppoLearner as LearnerActor<never, unknown>);
  }

  /** PPO on `input` (validated here), with the env runners and learner its config asks for. */
  static override async create(input: PPORunConfig | PPORunConfigInput): Promise<PPO> {
    const config = parseConfig(ppoRunConfigSchema, input, "PPO config");
    const { runners, learner } = await startActors<
      { kind: "fragments" },
      PPOLearnerSpec,
      PPOUpdate,
      Record<string, number>
    >({
      runners: onPolicyRunnerConfig(config, config.ppo.train_batch_size),
      learner: config.learner,
      learnerModule: siblingModule(import.meta.url, "learner"),
      learnerSpec: (module) => ({ module, ppo: config.ppo, seed: config.seed }),
    });
    return new PPO(config, runners, learner);
  }

  protected override async trainingStep(): Promise<Record<string, number>> {
    const start = performance.now();
    const fragments = await this.fragments.sample();
    const { gamma, lambda } = this.config.ppo;
    const batch = trainBatchFromFragments(fragments, gamma, lambda);
    this.numEnvStepsSampled += batch.size;
    const sampled = performance.now();

    const losses = await this.ppoLearner.update({ batch, numEnvStepsSampled: this.numEnvStepsSampled });
    this.numEnvStepsTrained += batch.size * losses.num_epochs;
    // The learner has put its new weights into the group's object store: never posted between threads.
    await this.fragments.syncWeights(this.iteration + 1);
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

  /** After a restore the runners act with the restored weights, as version `iteration`. */
  protected override async setAlgorithmState(): Promise<void> {
    await this.fragments.syncWeights(this.iteration);
  }
}
