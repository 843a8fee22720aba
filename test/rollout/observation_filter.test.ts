/**
 * `env_runners.observation_filter: MeanStdFilter`: runners normalise observations with statistics merged
 * over all of them every iteration; the statistics are exact, make an env scaled by 1000 learnable, survive
 * a checkpoint, and travel with the exported policy.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import type { PPORunConfigInput } from "../../src/algos/ppo/config.js";
import { PPO } from "../../src/algos/ppo/ppo.js";
import { MeanStdFilter } from "../../src/rollout/observation_filter.js";
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
    const reference = MeanStdFilter.empty(2);
    const global = MeanStdFilter.empty(2);
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
        const state = (await algo.getState()) as {
          observationFilter: { mean: number[]; var: number[]; count: number };
        };
        // Every sampled step's observation, plus the 8 first resets.
        expect(state.observationFilter.count).toBe(last.num_env_steps_sampled_lifetime + 8);
        // Scaled by 1000, CartPole's velocities spread over hundreds.
        expect(Math.sqrt(state.observationFilter.var[1])).toBeGreaterThan(50);
        const checkpoint = await algo.save(path.join(dir, "ckpt"));
        const restored = await PPO.fromCheckpoint(checkpoint);
        try {
          expect(((await restored.getState()) as typeof state).observationFilter).toEqual(
            state.observationFilter,
          );
        } finally {
          await restored.stop();
        }
        const policy = JSON.parse(await readFile(path.join(checkpoint, "model", "policy.json"), "utf8"));
        expect(policy.observationNormalization).toEqual({
          mean: state.observationFilter.mean,
          var: state.observationFilter.var,
          epsilon: 1e-8,
          clip: 10,
        });
      } finally {
        await algo.stop();
      }
    }
  });
});
