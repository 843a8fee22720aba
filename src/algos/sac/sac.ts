/**
 * SAC (Haarnoja et al. 2018) for bounded Box actions: a tanh-squashed Gaussian actor, twin critics with
 * Polyak-averaged targets, and the entropy temperature tuned toward a target entropy. The loop (sampling
 * into replay, the replay ratio, n-step returns, prioritized replay, async runner threads, the learner
 * thread) is the one off-policy loop it shares with DQN (../off_policy.ts); SAC adds its learner's update
 * and SB3's and CleanRL's warm-up: uniformly random actions until learning starts.
 */
import type { ReplaySample } from "../../buffers/replay.js";
import { parseConfig } from "../../config/load.js";
import { type LearnerActor, learnerModule } from "../../learner/learner_actor.js";
import type { SampledTransitions } from "../../rollout/env_runner.js";
import type { EnvRunnerGroup } from "../../rollout/env_runner_group.js";
import { OffPolicyAlgorithm, type OffPolicyUpdateResult } from "../off_policy.js";
import { type SACRunConfig, type SACRunConfigInput, sacRunConfigSchema } from "./config.js";
import type { SACLearner, SACUpdate, SACUpdateResult } from "./learner.js";

export class SAC extends OffPolicyAlgorithm<SACRunConfig, SACLearner> {
  private constructor(
    config: SACRunConfig,
    runners: EnvRunnerGroup<SampledTransitions>,
    learner: LearnerActor<SACUpdate, SACUpdateResult>,
  ) {
    super(config, config.sac, runners, learner);
  }

  /** SAC on `input` (validated here): sampling in the main thread, or asynchronously in runner threads. */
  static override async create(input: SACRunConfig | SACRunConfigInput): Promise<SAC> {
    const config = parseConfig(sacRunConfigSchema, input, "SAC config");
    return OffPolicyAlgorithm.startWith(
      config,
      config.sac,
      {
        type: "squashed_gaussian_actor",
        model: config.model,
        noiseCorrelation: config.sac.exploration_noise_correlation,
      },
      learnerModule<SACLearner>(import.meta.url, "learner"),
      (runners, learner) => new SAC(config, runners, learner),
    );
  }

  /** Uniformly random actions (epsilon 1) until learning starts, then the actor's own samples. */
  override explorationFor(_runnerIndex: number, envsPerRunner: number): number[] {
    const warmingUp = this.numEnvStepsSampled < this.config.sac.num_steps_sampled_before_learning_starts;
    return new Array<number>(envsPerRunner).fill(warmingUp ? 1 : 0);
  }

  protected override async update(
    sample: ReplaySample | null,
    targetTau: number | null,
  ): Promise<OffPolicyUpdateResult> {
    const { metrics, tdErrors } = await this.learner.update({ sample, targetTau });
    return { metrics: metrics as Record<string, number>, tdErrors };
  }

  protected override iterationMetrics(): Record<string, number> {
    return {};
  }
}
