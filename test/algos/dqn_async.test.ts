/**
 * DQN's asynchronous loop: runner threads keep sampling with the newest weights from the object store
 * while the learner trains from replay at the configured replay ratio.
 */
import { describe, expect, it } from "vitest";
import { dqnRunConfigSchema } from "../../src/algos/dqn/config.js";
import { DQN } from "../../src/algos/dqn/dqn.js";
import { EnvRunnerActorGroup } from "../../src/rollout/actor_group.js";
import type { CollectSpec } from "../../src/rollout/env_runner.js";

/** Worker threads and message ports alive in this process. */
function threadHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "Worker" || r === "MessagePort").length;
}

const config = dqnRunConfigSchema.parse({
  algo: "DQN",
  env: { id: "CartPole-v1" },
  env_runners: { num_env_runners: 2, num_envs_per_env_runner: 2, rollout_fragment_length: 8 },
  model: { hiddens: [32], activation: "relu" },
  learner: { backend: "wasm" },
  dqn: {
    hiddens: [],
    train_batch_size: 32,
    training_intensity: 8,
    num_steps_sampled_before_learning_starts: 200,
    min_sample_timesteps_per_iteration: 400,
    per_worker_exploration: true,
  },
});

describe("DQN with runner threads (async)", () => {
  it("trains at the replay ratio from two sampling threads, survives a killed runner, leaves no thread", {
    timeout: 60_000,
  }, async () => {
    const handlesBefore = threadHandles();
    const algo = await DQN.create(config);
    // The runner group is the algorithm's own (protected): reached into only to kill a worker thread.
    const group = (algo as unknown as { runners: EnvRunnerActorGroup<CollectSpec> }).runners;
    expect(group).toBeInstanceOf(EnvRunnerActorGroup);
    expect(group.numEnvRunners).toBe(2);
    const rows: Record<string, number>[] = [];
    try {
      for (let iteration = 0; iteration < 5; iteration++) {
        const training = algo.train();
        if (iteration === 2) void group.actor(1).terminate();
        rows.push(await training);
      }
      const evaluation = await algo.evaluate(4);
      expect(evaluation["evaluation/env_runners/num_episodes"]).toBe(4);
      rows.push(await algo.train()); // sampling resumes after evaluation
    } finally {
      await algo.stop();
    }
    const last = rows.at(-1)!;
    // Each iteration takes whole fragments of 2 envs x 8 steps until it has 400 steps.
    expect(last.num_env_steps_sampled_lifetime).toBeGreaterThanOrEqual(6 * 400);
    // Replay ratio 8 with batches of 32: one gradient step per 4 env steps sampled after step 200, less
    // at most one fragment's worth of steps owed by the fragment that crossed the start.
    const owed = (last.num_env_steps_sampled_lifetime - 200) / 4;
    expect(last["learners/num_gradient_steps_lifetime"]).toBeGreaterThan(owed - 16 / 4 - 1);
    expect(last["learners/num_gradient_steps_lifetime"]).toBeLessThanOrEqual(owed + 16 / 4);
    expect(last.num_env_steps_trained_lifetime).toBe(32 * last["learners/num_gradient_steps_lifetime"]);
    for (const row of rows) {
      expect(row["env_runners/weights_staleness_mean"]).toBeGreaterThanOrEqual(0);
      expect(row["env_runners/weights_staleness_max"]).toBeGreaterThanOrEqual(
        row["env_runners/weights_staleness_mean"],
      );
    }
    // Ape-X epsilons over 2 x 2 envs: the largest is 0.4.
    expect(last["env_runners/epsilon"]).toBeCloseTo(0.4, 12);
    expect(last["fault/num_worker_restarts"]).toBe(1);
    expect(last["env_runners/num_episodes"]).toBeGreaterThan(0);
    expect(threadHandles()).toBe(handlesBefore);
  });
});
