/**
 * End to end: PPO learning CartPole-v1 from two worker-thread env runners, one of which is killed
 * mid-run and replaced.
 */
import { describe, expect, it } from "vitest";
import { PPO } from "../../src/algos/ppo/ppo.js";
import { runConfigSchema } from "../../src/config/schema.js";
import { ThreadedEnvRunnerGroup } from "../../src/rollout/threaded_group.js";
import { FAST_CARTPOLE_PPO } from "../fixtures/fast_cartpole.js";

/** The learning test's settings over 2 runners x 4 envs. */
const config = runConfigSchema.parse({
  ...FAST_CARTPOLE_PPO,
  env_runners: { num_env_runners: 2, num_envs_per_env_runner: 4 },
});

describe("PPO with worker-thread env runners", () => {
  it("reaches a mean return of 195 within 60k steps although a runner is terminated mid-run", async () => {
    const group = await ThreadedEnvRunnerGroup.create(config);
    const ppo = await PPO.create(config, { runnerGroup: group });
    try {
      let metrics = await ppo.train();
      const first = metrics;
      while (
        metrics["env_runners/episode_return_mean"] < 195 &&
        metrics.num_env_steps_sampled_lifetime < 60_000
      ) {
        if (metrics.training_iteration === 5) void group.workerThread(1).terminate();
        metrics = await ppo.train();
      }
      expect(first["env_runners/episode_return_mean"]).toBeLessThan(60);
      expect(metrics.training_iteration).toBeGreaterThan(5); // the kill happened before it learned
      expect(metrics["env_runners/episode_return_mean"]).toBeGreaterThanOrEqual(195);
      expect(group.numWorkerRestarts).toBe(1);
    } finally {
      await ppo.stop();
    }
  });
});
