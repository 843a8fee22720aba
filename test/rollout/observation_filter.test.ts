/**
 * `env_runners.observation_filter: MeanStdFilter`: runners normalise observations with statistics merged
 * over all of them every iteration; the statistics are exact, make an env scaled by 1000 learnable, survive
 * a checkpoint, and travel with the exported policy. `env_runners.normalize_rewards`: the learner's rewards
 * are scaled as Gymnasium's NormalizeReward scales them, with return statistics merged the same way.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { PPORunConfigInput } from "../../src/algos/ppo/config.js";
import { PPO } from "../../src/algos/ppo/ppo.js";
import { makeEnv } from "../../src/envs/registry.js";
import { NormalizeReward } from "../../src/envs/wrappers.js";
import { emptyStatistics, MeanStdFilter, RewardNormalizer } from "../../src/rollout/observation_filter.js";
import { createRng, normal } from "../../src/utils/rng.js";
import { FAST_CARTPOLE_PPO } from "../fixtures/fast_cartpole.js";
import { SCALED_CARTPOLE_ID } from "../fixtures/scaled_cartpole_env.js";

const SCALED_MODULE = fileURLToPath(new URL("../fixtures/scaled_cartpole_env.ts", import.meta.url));

function scaledCartPole(filter: "MeanStdFilter" | "NoFilter", envRunners = {}): PPORunConfigInput {
  return {
    ...FAST_CARTPOLE_PPO,
    env: { id: SCALED_CARTPOLE_ID, module: SCALED_MODULE },
    env_runners: { num_envs_per_env_runner: 8, observation_filter: filter, ...envRunners },
  };
}

/** Trains `iterations` iterations; returns the last metrics and the best training return seen. */
async function train(algo: PPO, iterations: number): Promise<{ last: Record<string, number>; best: number }> {
  let last: Record<string, number> = {};
  let best = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < iterations; i++) {
    last = await algo.train();
    best = Math.max(best, last["env_runners/episode_return_mean"] || Number.NEGATIVE_INFINITY);
  }
  return { last, best };
}

describe("MeanStdFilter", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it("merges runners' deltas into the statistics of all their observations, and normalises with them", () => {
    const rng = createRng(3);
    const rows = (n: number, offset: number) =>
      Float32Array.from({ length: n * 2 }, (_, i) => offset + (i % 2 === 0 ? 5 : 0.1) * normal(rng));
    const batches = [rows(30, 100), rows(50, -3), rows(20, 7)];
    const runners = [new MeanStdFilter(2), new MeanStdFilter(2)];
    const reference = emptyStatistics(2);
    const global = emptyStatistics(2);
    batches.forEach((batch, k) => {
      reference.update(batch, batch.length / 2);
      runners[k % 2].apply(batch.slice(), batch.length / 2, true);
    });
    for (const runner of runners) {
      const delta = runner.takeDelta();
      global.merge(delta.mean, delta.var, delta.count);
    }
    expect(global.count).toBe(100);
    for (let d = 0; d < 2; d++) {
      expect(global.mean[d]).toBeCloseTo(reference.mean[d], 9);
      expect(global.var[d]).toBeCloseTo(reference.var[d], 6);
    }
    // After the sync every runner normalises with the global statistics, clipped to +-10.
    runners[0].setGlobal(global.getState());
    const obs = Float32Array.of(global.mean[0] + 2 * Math.sqrt(global.var[0]), 1e6);
    runners[0].apply(obs, 1, false);
    expect(obs[0]).toBeCloseTo(2, 5);
    expect(obs[1]).toBe(10);
  });

  it("PPO learns CartPole with observations x1000 with the filter, and not without it", {
    timeout: 120_000,
  }, async () => {
    const withFilter = await PPO.create(scaledCartPole("MeanStdFilter"));
    const without = await PPO.create(scaledCartPole("NoFilter"));
    try {
      // 120 iterations of 256 steps: ~30k env steps.
      const filtered = await train(withFilter, 120);
      const unfiltered = await train(without, 120);
      expect(filtered.best).toBeGreaterThanOrEqual(250);
      expect(unfiltered.best).toBeLessThan(250);
    } finally {
      await Promise.all([withFilter.stop(), without.stop()]);
    }
  });

  it("counts every observation once, over runner threads too, and survives a checkpoint into the exported policy", {
    timeout: 60_000,
  }, async () => {
    for (const envRunners of [{}, { num_env_runners: 2, num_envs_per_env_runner: 4 }]) {
      const algo = await PPO.create(scaledCartPole("MeanStdFilter", envRunners));
      const dir = await mkdtemp(path.join(tmpdir(), "rlts-filter-"));
      dirs.push(dir);
      try {
        const { last } = await train(algo, 2);
        type Filters = { filters: { observations: { mean: number[]; var: number[]; count: number } } };
        const observations = ((await algo.getState()) as Filters).filters.observations;
        // Every sampled step's observation, plus the 8 first resets.
        expect(observations.count).toBe(last.num_env_steps_sampled_lifetime + 8);
        // Scaled by 1000, CartPole's velocities spread over hundreds.
        expect(Math.sqrt(observations.var[1])).toBeGreaterThan(50);
        const checkpoint = await algo.save(path.join(dir, "ckpt"));
        const restored = await PPO.fromCheckpoint(checkpoint);
        try {
          expect(((await restored.getState()) as Filters).filters.observations).toEqual(observations);
        } finally {
          await restored.stop();
        }
        const policy = JSON.parse(await readFile(path.join(checkpoint, "model", "policy.json"), "utf8"));
        expect(policy.observationNormalization).toEqual({
          mean: observations.mean,
          var: observations.var,
          epsilon: 1e-8,
          clip: 10,
        });
      } finally {
        await algo.stop();
      }
    }
  });
});

describe("normalize_rewards", () => {
  it("scales rewards as Gymnasium's NormalizeReward does, one env at a time", () => {
    const env = new NormalizeReward(makeEnv("CartPole-v1"), 0.9);
    const normalizer = new RewardNormalizer(1, 0.9);
    env.reset({ seed: 1 });
    const out = new Float64Array(1);
    for (let t = 0; t < 300; t++) {
      const [, scaled, terminated, truncated] = env.step(t % 3 === 0 ? 0 : 1);
      out[0] = 1;
      normalizer.apply(out, Uint8Array.of(terminated ? 1 : 0));
      // Gymnasium's running variance starts from var 1 at count 1e-4; ours from count 0: equal soon after.
      if (t > 10) expect(out[0]).toBeCloseTo(scaled, 4);
      if (terminated || truncated) env.reset();
    }
  });

  it("trains on scaled rewards while episode returns stay raw; the statistics are merged and checkpointed", {
    timeout: 60_000,
  }, async () => {
    for (const envRunners of [{}, { num_env_runners: 2, num_envs_per_env_runner: 4 }]) {
      const algo = await PPO.create({
        ...FAST_CARTPOLE_PPO,
        env_runners: { num_envs_per_env_runner: 8, normalize_rewards: true, ...envRunners },
      });
      try {
        const { last } = await train(algo, 3);
        // CartPole pays 1 per step: raw returns equal episode lengths.
        expect(last["env_runners/episode_return_mean"]).toBeCloseTo(last["env_runners/episode_len_mean"], 9);
        const { filters } = (await algo.getState()) as {
          filters: { returns: { var: number[]; count: number }; observations?: unknown };
        };
        expect(filters.observations).toBeUndefined();
        expect(filters.returns.count).toBe(last.num_env_steps_sampled_lifetime);
        // Discounted returns of ~20-step episodes at gamma 0.98 spread by several units.
        expect(Math.sqrt(filters.returns.var[0])).toBeGreaterThan(1);
      } finally {
        await algo.stop();
      }
    }
  });
});
