/**
 * PPO on the structured action spaces: MultiDiscrete (independent categoricals) on a TypeScript env,
 * MultiBinary (independent Bernoullis) on a real Gymnasium env over the bridge, and a Dict (a composite of
 * a categorical and a Gaussian) on a TypeScript env. Each task pays for copying the observation into the
 * action, so a return near the optimum needs the head's sampling, log-probabilities and gradients all right.
 * DQN and SAC refuse a Dict action space naming it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { A2C } from "../../src/algos/a2c/a2c.js";
import { DQN } from "../../src/algos/dqn/dqn.js";
import { PPO } from "../../src/algos/ppo/ppo.js";
import { SAC } from "../../src/algos/sac/sac.js";
import { evaluateCheckpoint } from "../../src/scheduler/evaluate.js";
import { MATCH_TARGET_ID } from "../fixtures/match_target_env.js";
import { venvPython } from "../remote/python.js";

const MATCH_DIGITS_MODULE = fileURLToPath(new URL("../fixtures/match_digits_env.ts", import.meta.url));
const MATCH_TARGET_MODULE = fileURLToPath(new URL("../fixtures/match_target_env.ts", import.meta.url));

/**
 * Trains until the training mean return reaches `threshold` or `maxIterations`, calls `before` (if any)
 * and stops the algorithm; returns the returns seen.
 */
async function trainUntil(
  algo: Pick<PPO, "train" | "stop">,
  threshold: number,
  maxIterations: number,
  before?: () => Promise<unknown>,
): Promise<number[]> {
  const returns: number[] = [];
  try {
    while (returns.length < maxIterations && !(returns.at(-1)! >= threshold)) {
      returns.push((await algo.train())["env_runners/episode_return_mean"]);
    }
    await before?.();
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

  it("Dict{Discrete with a start, Box}: a TypeScript env reaches 8 of 10 within 40k steps (random: ~-4)", {
    timeout: 60_000,
  }, async () => {
    // 8 needs both parts: the right class every step pays 10 but a random value costs ~6, and a value
    // within 0.2 of x leaves ~-1.6 beside a random class's ~3.3.
    const algo = await PPO.create({
      seed: 0,
      env: { id: MATCH_TARGET_ID, module: MATCH_TARGET_MODULE },
      env_runners: { num_envs_per_env_runner: 4 },
      model: { hiddens: [32] },
      ppo,
    });
    const dir = await mkdtemp(path.join(tmpdir(), "rlts-match-target-"));
    try {
      const returns = await trainUntil(algo, 8, 40, () => algo.save(dir));
      expect(returns[0]).toBeLessThan(-2);
      expect(returns.at(-1)).toBeGreaterThanOrEqual(8);
      // The exported policy (`rlts evaluate`'s path): GreedyPolicy returns the Dict the env steps with.
      const greedy = await evaluateCheckpoint(dir, { episodes: 5, seed: 1 });
      expect(greedy.returnMean).toBeGreaterThanOrEqual(8);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("Dict, with A2C: the same env reaches 8 of 10 within 60k steps", { timeout: 60_000 }, async () => {
    const algo = await A2C.create({
      seed: 0,
      env: { id: MATCH_TARGET_ID, module: MATCH_TARGET_MODULE },
      env_runners: { num_envs_per_env_runner: 8 },
      model: { hiddens: [32] },
      a2c: { lr: 3e-3, gamma: 0, train_batch_size: 40, grad_clip: 0.5 },
    });
    // 40 env steps an iteration: 1,500 iterations are 60k steps.
    const returns = await trainUntil(algo, 8, 1500);
    expect(returns.at(-1)).toBeGreaterThanOrEqual(8);
  });

  it("Tuple: PPO samples and trains through the bridge (a float32 action frame rebuilt into tuples)", {
    timeout: 60_000,
  }, async () => {
    venvPython();
    const algo = await PPO.create({
      seed: 0,
      env: { id: "rlts_gym/TupleAct-v0", backend: "gymnasium" },
      env_runners: { num_envs_per_env_runner: 2 },
      model: { hiddens: [8] },
      ppo: { ...ppo, train_batch_size: 100, minibatch_size: 50, num_epochs: 1 },
    });
    try {
      const metrics = await algo.train();
      // The env asserts every action is a tuple of its parts' types; its episodes are 5 steps long.
      expect(metrics["env_runners/episode_len_mean"]).toBe(5);
      expect(Number.isFinite(metrics["env_runners/episode_return_mean"])).toBe(true);
    } finally {
      await algo.stop();
    }
  });
});

describe("algorithms without Tuple and Dict actions", () => {
  const env = { id: MATCH_TARGET_ID, module: MATCH_TARGET_MODULE };

  it("DQN and SAC refuse a Dict action space, naming it", async () => {
    const space =
      /action space Dict\('target': Discrete\(3, start=1\), 'value': Box\(-1, 1, \(1,\), float32\)\)/;
    await expect(DQN.create({ env })).rejects.toThrow(space);
    await expect(DQN.create({ env })).rejects.toThrow(/\(DQN\) needs a Discrete action space/);
    await expect(SAC.create({ env })).rejects.toThrow(space);
    await expect(SAC.create({ env })).rejects.toThrow(/\(SAC\) needs a float Box with finite bounds/);
  });
});
