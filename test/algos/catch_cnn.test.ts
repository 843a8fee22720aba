/**
 * The CNN path end to end on Catch-v0 (bsuite's Catch, 10x5 pixels): PPO and DQN with the shipped
 * configs reach a mean return of 0.9 over the last 100 episodes within 50k env steps, seeds 0-2 (the
 * optimum is 1.0: +1 per caught ball, -1 per miss; a random policy scores about -0.6). One PPO run also
 * samples in a runner thread, whose tfjs backend the CNN needs made ready there.
 */
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createAlgorithm, loadRunConfig } from "../../src/algos/index.js";

const THRESHOLD = 0.9;
const BUDGET = 50_000;

async function stepsToThreshold(
  file: string,
  overrides: string[],
): Promise<{ steps: number; first: number }> {
  const config = loadRunConfig(fileURLToPath(new URL(`../../configs/${file}`, import.meta.url)), overrides);
  expect(config.model.conv_filters).toEqual([[16, [3, 3], 1]]);
  const algo = await createAlgorithm(config);
  try {
    const first = await algo.train();
    let metrics = first;
    while (
      !(metrics["env_runners/episode_return_mean"] >= THRESHOLD) &&
      metrics.num_env_steps_sampled_lifetime < BUDGET
    ) {
      metrics = await algo.train();
    }
    expect(
      metrics["env_runners/episode_return_mean"],
      `mean return after ${metrics.num_env_steps_sampled_lifetime} steps`,
    ).toBeGreaterThanOrEqual(THRESHOLD);
    return { steps: metrics.num_env_steps_sampled_lifetime, first: first["env_runners/episode_return_mean"] };
  } finally {
    await algo.stop();
  }
}

describe("a CNN learns Catch-v0", () => {
  for (const file of ["ppo-catch.yaml", "dqn-catch.yaml"]) {
    for (const seed of [0, 1, 2]) {
      it(`${file}, seed ${seed}: a mean return of ${THRESHOLD} within ${BUDGET / 1000}k steps`, {
        timeout: 60_000,
      }, async () => {
        const { steps, first } = await stepsToThreshold(file, [`seed=${seed}`]);
        expect(steps).toBeLessThanOrEqual(BUDGET);
        expect(first).toBeLessThan(0.5);
      });
    }
  }

  it("ppo-catch.yaml with a runner thread", { timeout: 60_000 }, async () => {
    const { steps } = await stepsToThreshold("ppo-catch.yaml", ["env_runners.num_env_runners=1"]);
    expect(steps).toBeLessThanOrEqual(BUDGET);
  });
});
