import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Algorithm } from "../../src/algos/algorithm.js";
import { DQN } from "../../src/algos/dqn/dqn.js";
import { PPO } from "../../src/algos/ppo/ppo.js";
import { algorithmicMetrics, FAST_CARTPOLE_PPO } from "../fixtures/fast_cartpole.js";

/** `algo.save(dir)`, `PPO.fromCheckpoint(dir)` and `Algorithm.fromCheckpoint(dir)`: the library's save/restore. */
describe("save and fromCheckpoint", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it("PPO: a restored algorithm has the saved state, and two restores train on alike", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "rlts-save-"));
    dirs.push(dir);
    const original = await PPO.create(FAST_CARTPOLE_PPO);
    await original.train();
    await original.train();
    const checkpoint = await original.save(path.join(dir, "ppo"));
    const restored = await PPO.fromCheckpoint(checkpoint);
    const again = await PPO.fromCheckpoint(checkpoint);
    try {
      expect(restored).toBeInstanceOf(PPO);
      expect(await restored.getState()).toEqual(await original.getState());
      // The envs start over from a reset after a restore (their state is not saved), so the next iteration
      // differs from the original's, but it is the same for every restore of the checkpoint.
      expect(algorithmicMetrics(await restored.train())).toEqual(algorithmicMetrics(await again.train()));
    } finally {
      await Promise.all([original.stop(), restored.stop(), again.stop()]);
    }
  });

  it("Algorithm.fromCheckpoint restores whichever algorithm the checkpoint holds", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "rlts-save-"));
    dirs.push(dir);
    const dqn = await DQN.create({
      env: { id: "CartPole-v1" },
      env_runners: { num_envs_per_env_runner: 2 },
      dqn: { num_steps_sampled_before_learning_starts: 100, min_sample_timesteps_per_iteration: 200 },
    });
    await dqn.train();
    const checkpoint = await dqn.save(path.join(dir, "dqn"));
    await dqn.stop();
    const restored = await Algorithm.fromCheckpoint(checkpoint);
    try {
      expect(restored).toBeInstanceOf(DQN);
      expect((await restored.train()).training_iteration).toBe(2);
    } finally {
      await restored.stop();
    }
  });
});
