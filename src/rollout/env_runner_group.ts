/**
 * What an algorithm sees of its env runners: sample one iteration's fragments, push weights, drain
 * episode metrics, evaluate. `LocalEnvRunnerGroup` (num_env_runners 0) keeps one EnvRunner in the main
 * thread; the worker-thread group implements the same interface.
 */
import type { RunConfig } from "../config/schema.js";
import type { PolicySpec } from "../models/network.js";
import { EnvRunner, type EpisodeMetrics } from "./env_runner.js";
import type { Fragment } from "./fragment.js";
import type { VersionedSample, WorkerEnvRunner } from "./worker_protocol.js";

export interface EnvRunnerGroup {
  /** The policy network the runners run (from the env's spaces and the model config). */
  readonly policySpec: PolicySpec;
  /** Workers replaced after a failure, over the group's life (`fault/num_worker_restarts`). */
  readonly numWorkerRestarts: number;
  /** One iteration's fragments, one per runner. */
  sample(): Promise<Fragment[]>;
  setWeights(flat: Float32Array, version: number): Promise<void>;
  /** Episodes completed since the last call, over all runners. */
  getMetrics(): Promise<EpisodeMetrics>;
  /** Greedy-policy episodes on evaluation env copies. */
  evaluate(numEpisodes: number): Promise<EpisodeMetrics>;
  stop(): Promise<void>;
}

/**
 * Steps per fragment: `rollout_fragment_length`, or with `auto`: PPO, the train batch split evenly over
 * all envs of all runners (rounded up, so an iteration samples at least `train_batch_size` steps); DQN,
 * one vector step in the main thread, so learning interleaves with sampling as finely as possible, and 8
 * in runner threads, where each fragment costs a round trip between threads.
 */
export function fragmentLength(config: RunConfig): number {
  const { rollout_fragment_length, num_env_runners, num_envs_per_env_runner } = config.env_runners;
  if (rollout_fragment_length !== "auto") return rollout_fragment_length;
  if (config.algo === "DQN") return num_env_runners === 0 ? 1 : 8;
  const envs = Math.max(1, num_env_runners) * num_envs_per_env_runner;
  return Math.ceil(config.ppo.train_batch_size / envs);
}

/**
 * One env runner in the calling thread (`num_env_runners` 0): PPO's `EnvRunner` (then the group is an
 * `EnvRunnerGroup`), or DQN's runner, which also takes each fragment's epsilons from `epsilonsFor(0)`.
 */
export class LocalEnvRunnerGroup<Runner extends WorkerEnvRunner<unknown, VersionedSample> = EnvRunner> {
  readonly policySpec: Runner["spec"];
  /** A local runner has no thread to restart: an env error ends the run. */
  readonly numWorkerRestarts = 0;

  constructor(
    /** The runner itself (its exploration RNG goes into DQN's checkpoints). */
    readonly runner: Runner,
    private readonly numSteps: number,
    private readonly epsilonsFor?: (index: number) => number[],
  ) {
    this.policySpec = runner.spec;
  }

  static async create(config: RunConfig, runner?: EnvRunner): Promise<LocalEnvRunnerGroup> {
    return new LocalEnvRunnerGroup(runner ?? (await EnvRunner.fromConfig(config, 0)), fragmentLength(config));
  }

  async sample(): Promise<Awaited<ReturnType<Runner["sample"]>>[]> {
    return [
      (await this.runner.sample(this.numSteps, this.epsilonsFor?.(0))) as Awaited<
        ReturnType<Runner["sample"]>
      >,
    ];
  }

  async setWeights(flat: Float32Array, version: number): Promise<void> {
    this.runner.setWeights(flat, version);
  }

  async getMetrics(): Promise<EpisodeMetrics> {
    return this.runner.getMetrics();
  }

  evaluate(numEpisodes: number): Promise<EpisodeMetrics> {
    return this.runner.evaluate(numEpisodes);
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }
}
