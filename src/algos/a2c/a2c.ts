/**
 * Advantage Actor-Critic, synchronous (A2C, as Stable-Baselines3's): each iteration samples
 * `train_batch_size` steps from the env runners with the current weights, computes GAE (lambda 1: n-step
 * returns), takes one gradient step on the whole batch, and syncs the runners to the new weights.
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
import { type A2CRunConfig, type A2CRunConfigInput, a2cRunConfigSchema } from "./config.js";
import type { A2CLearnerSpec, A2CUpdate } from "./learner.js";

export class A2C extends Algorithm<A2CRunConfig> {
  private constructor(
    config: A2CRunConfig,
    private readonly fragments: EnvRunnerGroup<Fragment>,
    private readonly a2cLearner: LearnerActor<A2CUpdate, Record<string, number>>,
  ) {
    super(config, fragments, a2cLearner as LearnerActor<never, unknown>);
  }

  static override async create(input: A2CRunConfig | A2CRunConfigInput): Promise<A2C> {
    const config = parseConfig(a2cRunConfigSchema, input, "A2C config");
    const { runners, learner } = await startActors<
      { kind: "fragments" },
      A2CLearnerSpec,
      A2CUpdate,
      Record<string, number>
    >({
      runners: onPolicyRunnerConfig(config, config.a2c.train_batch_size),
      learner: config.learner,
      learnerModule: siblingModule(import.meta.url, "learner"),
      learnerSpec: (module) => ({ module, a2c: config.a2c, seed: config.seed }),
    });
    return new A2C(config, runners, learner);
  }

  protected override async trainingStep(): Promise<Record<string, number>> {
    const start = performance.now();
    const { gamma, lambda } = this.config.a2c;
    const batch = trainBatchFromFragments(await this.fragments.sample(), gamma, lambda);
    this.numEnvStepsSampled += batch.size;
    const sampled = performance.now();
    const losses = await this.a2cLearner.update({ batch, numEnvStepsSampled: this.numEnvStepsSampled });
    this.numEnvStepsTrained += batch.size;
    await this.fragments.syncWeights(this.iteration + 1);
    const learned = performance.now();
    return {
      ...Object.fromEntries(Object.entries(losses).map(([name, value]) => [`learners/${name}`, value])),
      "learners/vf_explained_var": explainedVariance(batch.values, batch.returns),
      "timers/sample_ms": sampled - start,
      "timers/learn_ms": learned - sampled,
    };
  }

  protected override async setAlgorithmState(): Promise<void> {
    await this.fragments.syncWeights(this.iteration);
  }
}
