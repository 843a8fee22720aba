/**
 * What the on-policy algorithms (PPO, A2C) share: their actors — env runners writing fragments of
 * `train_batch_size` steps split over all runners and envs — and turning one iteration's fragments into
 * a train batch with GAE.
 */
import type { Fragment } from "../buffers/fragment.js";
import { type TrainBatch, trainBatchFromFragments } from "../buffers/train_batch.js";
import type { CommonRunConfig } from "../config/schema.js";
import type { LearnerModuleUrl } from "../learner/learner_actor.js";
import { onPolicyRunnerConfig } from "../rollout/env_runner.js";
import { Algorithm, startActors } from "./algorithm.js";

/** `startActors` for an on-policy algorithm whose config section is `section`. */
export function startOnPolicyActors<L, Section extends { train_batch_size: number; gamma: number }>(
  config: CommonRunConfig,
  section: Section,
  learner: LearnerModuleUrl<L>,
) {
  return startActors(config, onPolicyRunnerConfig(config, section), learner, section);
}

export abstract class OnPolicyAlgorithm<Config extends CommonRunConfig, L> extends Algorithm<
  Config,
  Fragment,
  L
> {
  private lastBatch: TrainBatch | undefined;

  /** One fragment from every runner, with the weights last synced, as a batch with GAE(gamma, lambda). */
  protected async sampleTrainBatch({
    gamma,
    lambda,
  }: {
    gamma: number;
    lambda: number;
  }): Promise<TrainBatch> {
    const batch = trainBatchFromFragments(await this.runners.sample(), gamma, lambda);
    this.numEnvStepsSampled += batch.size;
    this.lastBatch = batch;
    return batch;
  }

  override histograms(): Record<string, ArrayLike<number>> {
    const batch = this.lastBatch;
    if (!batch) return super.histograms();
    return {
      ...super.histograms(),
      "env_runners/actions": batch.actions,
      "learners/advantages": batch.advantages,
    };
  }
}
