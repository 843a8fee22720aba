/**
 * PPO on the structured action spaces: MultiDiscrete (independent categoricals) on a TypeScript env and
 * MultiBinary (independent Bernoullis) on a real Gymnasium env over the bridge. Each task pays for copying
 * the observation into the action, so a return near the optimum needs the head's sampling, log-probabilities
 * and gradients all right.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { PPO } from "../../src/algos/ppo/ppo.js";
import { venvPython } from "../remote/python.js";

const MATCH_DIGITS_MODULE = fileURLToPath(new URL("../fixtures/match_digits_env.ts", import.meta.url));

/** Trains until the training mean return reaches `threshold` or `maxIterations`; returns the returns seen. */
async function trainUntil(algo: PPO, threshold: number, maxIterations: number): Promise<number[]> {
  const returns: number[] = [];
  try {
    while (returns.length < maxIterations && !(returns.at(-1)! >= threshold)) {
      returns.push((await algo.train())["env_runners/episode_return_mean"]);
    }
  } finally {
    await algo.stop();
  }
  return returns;
}

const ppo = {
  lr: 3e-3,
  train_batch_size: 1000,
  minibatch_size: 250,
  num_epochs: 4,
  entropy_coeff: 0.0,
  gamma: 0.0,
  lambda: 1.0,
};

describe("PPO on structured action spaces", () => {
  it("MultiDiscrete (with starts): a TypeScript env reaches 18 of 20 within 30k steps (random: ~5.8)", {
    timeout: 60_000,
  }, async () => {
    const algo = await PPO.create({
      seed: 0,
      env: { id: "rlts-test/MatchDigits-v0", module: MATCH_DIGITS_MODULE },
      env_runners: { num_envs_per_env_runner: 4 },
      model: { hiddens: [32] },
      ppo,
    });
    const returns = await trainUntil(algo, 18, 30);
    expect(returns[0]).toBeLessThan(9);
    expect(returns.at(-1)).toBeGreaterThanOrEqual(18);
  });

  it("MultiBinary: a Gymnasium env over the bridge reaches 9.5 of 10 within 30k steps (random: 5)", {
    timeout: 60_000,
  }, async () => {
    venvPython();
    const algo = await PPO.create({
      seed: 0,
      env: { id: "rlts_gym/MatchBits-v0", backend: "gymnasium" },
      env_runners: { num_envs_per_env_runner: 4 },
      model: { hiddens: [32] },
      ppo,
    });
    const returns = await trainUntil(algo, 9.5, 30);
    expect(returns[0]).toBeLessThan(6.5);
    expect(returns.at(-1)).toBeGreaterThanOrEqual(9.5);
  });
});
