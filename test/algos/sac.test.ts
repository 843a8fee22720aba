/**
 * SAC end to end: it learns Pendulum, runs on runner threads and a learner thread, resumes exactly from a
 * checkpoint, and refuses what it cannot train with one clear line.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseRunConfig } from "../../src/algos/index.js";
import type { SACRunConfigInput } from "../../src/algos/sac/config.js";
import { SAC } from "../../src/algos/sac/sac.js";
import { algorithmicMetrics } from "../fixtures/fast_cartpole.js";

/** Pendulum with small networks, lr 1e-3 and a short warm-up: a random policy scores about -1200. */
function fastPendulum(overrides: Partial<SACRunConfigInput> = {}): SACRunConfigInput {
  return {
    seed: 0,
    env: { id: "Pendulum-v1" },
    env_runners: { num_envs_per_env_runner: 1 },
    learner: { backend: "wasm" },
    model: { hiddens: [64, 64] },
    sac: {
      actor_lr: 1e-3,
      critic_lr: 1e-3,
      alpha_lr: 1e-3,
      num_steps_sampled_before_learning_starts: 100,
      min_sample_timesteps_per_iteration: 1000,
      q_model: { hiddens: [64, 64] },
    },
    ...overrides,
  };
}

/** Worker threads and message ports alive in this process. */
function threadHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "Worker" || r === "MessagePort").length;
}

describe("SAC", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it("the greedy policy reaches -250 on Pendulum-v1 within 6k env steps (seed 0)", {
    timeout: 120_000,
  }, async () => {
    const algo = await SAC.create(fastPendulum());
    const evaluations: number[] = [];
    try {
      while (evaluations.length < 6 && !(evaluations.at(-1)! >= -250)) {
        const metrics = await algo.train();
        expect(metrics["learners/alpha_value"]).toBeGreaterThan(0);
        evaluations.push((await algo.evaluate(5))["evaluation/env_runners/episode_return_mean"]);
      }
    } finally {
      await algo.stop();
    }
    // Untrained, the greedy policy scores about -1300; -250 needs the critics, the actor and alpha together.
    expect(evaluations[0]).toBeLessThan(-700);
    expect(evaluations.at(-1)).toBeGreaterThanOrEqual(-250);
  });

  it("samples uniformly in the Box until learning starts, then from the actor", async () => {
    const algo = await SAC.create(
      fastPendulum({
        sac: {
          num_steps_sampled_before_learning_starts: 500,
          min_sample_timesteps_per_iteration: 250,
          q_model: { hiddens: [8] },
        },
        model: { hiddens: [8] },
      }),
    );
    try {
      const first = await algo.train();
      expect(first["learners/num_gradient_steps_lifetime"]).toBe(0);
      expect(algo.explorationFor(0, 1)).toEqual([1]);
      await algo.train();
      const third = await algo.train();
      expect(algo.explorationFor(0, 1)).toEqual([0]);
      // One gradient step after each env step (fragments of one step, one env) from step 500 to 750.
      expect(third["learners/num_gradient_steps_lifetime"]).toBe(251);
      expect(third["learners/num_target_updates_lifetime"]).toBe(251);
    } finally {
      await algo.stop();
    }
  });

  it("trains from two runner threads into a learner thread and leaves no thread", {
    timeout: 60_000,
  }, async () => {
    const handlesBefore = threadHandles();
    const algo = await SAC.create(
      fastPendulum({
        env_runners: { num_env_runners: 2, num_envs_per_env_runner: 2, rollout_fragment_length: 8 },
        learner: { backend: "wasm", num_learners: 1 },
        model: { hiddens: [16] },
        sac: {
          num_steps_sampled_before_learning_starts: 200,
          min_sample_timesteps_per_iteration: 400,
          training_intensity: 64,
          replay_buffer_config: { type: "prioritized" },
          n_step: 3,
          q_model: { hiddens: [16] },
        },
      }),
    );
    let last: Record<string, number> = {};
    try {
      for (let iteration = 0; iteration < 3; iteration++) last = await algo.train();
      expect((await algo.evaluate(2))["evaluation/env_runners/num_episodes"]).toBe(2);
    } finally {
      await algo.stop();
    }
    // Replay ratio 64 at batches of 256: one gradient step per 4 env steps after step 200, less at most the
    // steps queued when learning started (2 runners x 2 fragments x 2 envs x 8 steps).
    const owed = (last.num_env_steps_sampled_lifetime - 200) / 4;
    expect(last["learners/num_gradient_steps_lifetime"]).toBeGreaterThan(owed - 64 / 4 - 1);
    expect(last["learners/num_gradient_steps_lifetime"]).toBeLessThanOrEqual(owed + 64 / 4);
    expect(Number.isFinite(last["learners/qf_loss"])).toBe(true);
    expect(threadHandles()).toBe(handlesBefore);
  });

  it("resumes from a checkpoint exactly: two restores train on alike", { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "rlts-sac-"));
    dirs.push(dir);
    const config = fastPendulum({
      model: { hiddens: [16] },
      sac: {
        num_steps_sampled_before_learning_starts: 100,
        min_sample_timesteps_per_iteration: 200,
        exploration_noise_correlation: 0.9,
        store_buffer_in_checkpoints: true,
        q_model: { hiddens: [16] },
      },
    });
    const original = await SAC.create(config);
    await original.train();
    const checkpoint = await original.save(path.join(dir, "sac"));
    const restored = await SAC.fromCheckpoint(checkpoint);
    const again = await SAC.fromCheckpoint(checkpoint);
    try {
      expect(await restored.getState()).toEqual(await original.getState());
      expect(algorithmicMetrics(await restored.train())).toEqual(algorithmicMetrics(await again.train()));
    } finally {
      await Promise.all([original.stop(), restored.stop(), again.stop()]);
    }
  });

  it("refuses a Discrete action space and unknown options with one line naming them", async () => {
    await expect(SAC.create({ env: { id: "CartPole-v1" } })).rejects.toThrow(
      /action space Discrete\(2\): a squashed-Gaussian policy \(SAC\) needs a float Box with finite bounds/,
    );
    expect(() => parseRunConfig({ algo: "SAC", env: { id: "Pendulum-v1" }, sac: { tua: 0.01 } })).toThrow(
      /sac\.tua: unknown key \(did you mean "tau"\?\)/,
    );
    const config = parseRunConfig({ algo: "SAC", env: { id: "Pendulum-v1" } });
    expect(config.model.hiddens).toEqual([256, 256]);
    expect(config.model.activation).toBe("relu");
  });
});
