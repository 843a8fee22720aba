/**
 * DQN (Mnih et al. 2015) with RLlib's extensions: Double DQN, dueling heads, n-step returns, prioritized
 * replay, Polyak or hard target updates, a replay ratio (`training_intensity`) and Ape-X per-env epsilons.
 * The loop (sampling into replay, the replay ratio, target updates, async runner threads) is the one
 * off-policy loop (../off_policy.ts); DQN adds its learner's update and epsilon-greedy exploration.
 */
import type { ReplaySample } from "../../buffers/replay.js";
import { parseConfig } from "../../config/load.js";
import { type LearnerActor, learnerModule } from "../../learner/learner_actor.js";
import type { SampledTransitions } from "../../rollout/env_runner.js";
import type { EnvRunnerGroup } from "../../rollout/env_runner_group.js";
import { scheduleValue } from "../../utils/schedule.js";
import { OffPolicyAlgorithm, type OffPolicyUpdateResult } from "../off_policy.js";
import { type DQNRunConfig, type DQNRunConfigInput, dqnRunConfigSchema } from "./config.js";
import type { DQNLearner, DQNUpdate, DQNUpdateResult } from "./learner.js";

/** Ape-X's per-actor epsilons: env i of n explores with 0.4^(1 + 7 i / (n - 1)) (Horgan et al. 2018). */
export function apexEpsilons(numEnvs: number): Float64Array {
  return Float64Array.from(
    { length: numEnvs },
    (_, i) => 0.4 ** (1 + (numEnvs > 1 ? (7 * i) / (numEnvs - 1) : 0)),
  );
}

export class DQN extends OffPolicyAlgorithm<DQNRunConfig, DQNLearner> {
  private readonly apexEpsilons: Float64Array | null;

  private constructor(
    config: DQNRunConfig,
    runners: EnvRunnerGroup<SampledTransitions>,
    learner: LearnerActor<DQNUpdate, DQNUpdateResult>,
  ) {
    super(config, config.dqn, runners, learner);
    const totalEnvs =
      Math.max(1, config.env_runners.num_env_runners) * config.env_runners.num_envs_per_env_runner;
    this.apexEpsilons = config.dqn.per_worker_exploration ? apexEpsilons(totalEnvs) : null;
  }

  /** DQN on `input` (validated here): sampling in the main thread, or asynchronously in runner threads. */
  static override async create(input: DQNRunConfig | DQNRunConfigInput): Promise<DQN> {
    const config = parseConfig(dqnRunConfigSchema, input, "DQN config");
    const { dqn, model } = config;
    return OffPolicyAlgorithm.startWith(
      config,
      dqn,
      { type: "q", model, headHiddens: dqn.hiddens, dueling: dqn.dueling },
      learnerModule<DQNLearner>(import.meta.url, "learner"),
      (runners, learner) => new DQN(config, runners, learner),
    );
  }

  /** Exploration epsilon at the current step (Ape-X: the per-env epsilons are fixed). */
  get epsilon(): number {
    return scheduleValue(this.config.dqn.epsilon, this.numEnvStepsSampled);
  }

  override explorationFor(runnerIndex: number, envsPerRunner: number): number[] {
    if (this.apexEpsilons) {
      const first = runnerIndex * envsPerRunner;
      return Array.from(this.apexEpsilons.subarray(first, first + envsPerRunner));
    }
    return new Array<number>(envsPerRunner).fill(this.epsilon);
  }

  protected override async update(
    sample: ReplaySample | null,
    targetTau: number | null,
  ): Promise<OffPolicyUpdateResult> {
    const lr = sample ? scheduleValue(this.config.dqn.lr, this.numEnvStepsSampled) : 0;
    const { metrics, tdErrors } = await this.learner.update({ sample, lr, targetTau });
    return { metrics: metrics as Record<string, number>, tdErrors };
  }

  protected override iterationMetrics(): Record<string, number> {
    return {
      "learners/curr_lr": scheduleValue(this.config.dqn.lr, this.numEnvStepsSampled),
      "env_runners/epsilon": this.apexEpsilons ? Math.max(...this.apexEpsilons) : this.epsilon,
    };
  }
}
