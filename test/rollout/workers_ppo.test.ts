/**
 * End to end: PPO solving CartPole-v1 from two worker-thread env runners and a learner thread, one
 * runner killed mid-sample and replaced.
 */
import { describe, expect, it } from "vitest";
import { ppoRunConfigSchema } from "../../src/algos/ppo/config.js";
import { PPO } from "../../src/algos/ppo/ppo.js";
import { ThreadedLearnerActor } from "../../src/learner/learner_actor.js";
import { EnvRunnerActorGroup } from "../../src/rollout/actor_group.js";
import { FAST_CARTPOLE_PPO } from "../fixtures/fast_cartpole.js";

/** The learning test's settings over 2 runners x 4 envs, the learner in its own thread. */
const config = ppoRunConfigSchema.parse({
  ...FAST_CARTPOLE_PPO,
  learner: { ...FAST_CARTPOLE_PPO.learner, num_learners: 1 },
  env_runners: { num_env_runners: 2, num_envs_per_env_runner: 4 },
});

describe("PPO with worker-thread env runners and a learner thread", () => {
  it("solves CartPole (mean return 475) within 100k steps although a runner is killed mid-sample", {
    timeout: 180_000,
  }, async () => {
    const ppo = await PPO.create(config);
    // PPO builds its runner group from the config; the test reaches in to kill one of its threads.
    const group = (ppo as unknown as { runners: EnvRunnerActorGroup<{ kind: "fragments" }> }).runners;
    try {
      expect(group).toBeInstanceOf(EnvRunnerActorGroup);
      expect(group.numEnvRunners).toBe(2);
      expect((ppo as unknown as { learner: unknown }).learner).toBeInstanceOf(ThreadedLearnerActor);
      let metrics = await ppo.train();
      const first = metrics;
      while (
        metrics["env_runners/episode_return_mean"] < 475 &&
        metrics.num_env_steps_sampled_lifetime < 100_000
      ) {
        const iteration = ppo.train(); // posts the sample requests before it returns
        if (metrics.training_iteration === 5) void group.actor(1).terminate();
        metrics = await iteration;
      }
      expect(first["env_runners/episode_return_mean"]).toBeLessThan(60);
      expect(metrics.training_iteration).toBeGreaterThan(6); // the kill happened before it learned
      expect(metrics["env_runners/episode_return_mean"]).toBeGreaterThanOrEqual(475);
      expect(group.numWorkerRestarts).toBe(1);
    } finally {
      await ppo.stop();
    }
  });
});
