import { describe, expect, it } from "vitest";
import { ppoRunConfigSchema } from "../../src/algos/ppo/config.js";
import { PPO } from "../../src/algos/ppo/ppo.js";
import { algorithmicMetrics, FAST_CARTPOLE_PPO } from "../fixtures/fast_cartpole.js";

describe("PPO on CartPole-v1", () => {
  it("reaches a mean return of 195 over the last 100 episodes within 60k steps", {
    timeout: 180_000,
  }, async () => {
    const ppo = await PPO.create(ppoRunConfigSchema.parse(FAST_CARTPOLE_PPO));
    const first = await ppo.train();
    let metrics = first;
    while (
      metrics["env_runners/episode_return_mean"] < 195 &&
      metrics.num_env_steps_sampled_lifetime < 60_000
    ) {
      metrics = await ppo.train();
    }
    await ppo.stop();
    expect(first["env_runners/episode_return_mean"]).toBeLessThan(60); // a random policy: ~22
    expect(metrics["env_runners/episode_return_mean"]).toBeGreaterThanOrEqual(195);
    expect(metrics["learners/vf_explained_var"]).toBeGreaterThan(0);
  });

  it("gives identical metrics for the same seed and config", { timeout: 60_000 }, async () => {
    const run = async () => {
      const ppo = await PPO.create(ppoRunConfigSchema.parse({ ...FAST_CARTPOLE_PPO, seed: 7 }));
      const iterations = [await ppo.train(), await ppo.train()];
      const evaluation = await ppo.evaluate(3);
      const { learner } = (await ppo.getState()) as { learner: { weights: Float32Array } };
      await ppo.stop();
      return { algorithmic: iterations.map(algorithmicMetrics), evaluation, weights: learner.weights };
    };
    const a = await run();
    const b = await run();
    expect(b.algorithmic).toEqual(a.algorithmic);
    expect(b.evaluation).toEqual(a.evaluation);
    expect(b.weights).toEqual(a.weights);
    expect(a.algorithmic[1]["env_runners/num_episodes"]).toBeGreaterThan(0);
    expect(a.algorithmic[1].num_env_steps_sampled_lifetime).toBe(512);
  });

  it("restores weights and optimizer state from getState()", { timeout: 60_000 }, async () => {
    const config = ppoRunConfigSchema.parse({ ...FAST_CARTPOLE_PPO, seed: 3 });
    const original = await PPO.create(config);
    await original.train();
    const state = await original.getState();
    const resumed = await PPO.create(config);
    await resumed.setState(state);
    const restored = await resumed.getState();
    const learner = (s: Record<string, unknown>) =>
      s.learner as { weights: Float32Array; optimizer: unknown };
    expect(learner(restored).optimizer).toEqual(learner(state).optimizer);
    expect(learner(restored).weights).toEqual(learner(state).weights);
    expect(learner(restored).weights.length).toBeGreaterThan(0);
    // Everything else too: counters, episode window, runners' envs and generators.
    expect(restored).toEqual(state);
    await Promise.all([original.stop(), resumed.stop()]);
  });
});
