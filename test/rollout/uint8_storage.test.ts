/**
 * uint8 observations stay uint8 in fragments, train batches and replay (a quarter of float32's memory),
 * and train exactly as their float32 equivalent: Catch-v0 in uint8 pixels (0/255, scaled by the CNN's
 * 1/255) gives the same metrics and weights as Catch-v0 itself (0/1), for PPO and for DQN. With a
 * MeanStdFilter, whose output is fractional, observations are stored as float32 (an MLP's; a CNN refuses it).
 */
import { describe, expect, it } from "vitest";
import { createAlgorithm, parseRunConfig, type RunConfig } from "../../src/algos/index.js";
import type { ReplayBufferState } from "../../src/buffers/replay.js";
import { trainBatchFromFragments } from "../../src/buffers/train_batch.js";
import { initialWeights } from "../../src/models/catalog.js";
import { EnvRunner, onPolicyRunnerConfig } from "../../src/rollout/env_runner.js";
import { algorithmicMetrics } from "../fixtures/fast_cartpole.js";
import { UINT8_CATCH_ID } from "../fixtures/uint8_catch_env.js";

const MODEL = { conv_filters: [[8, [3, 3], 1]], hiddens: [32], activation: "relu" };
const PPO = {
  algo: "PPO",
  seed: 3,
  env_runners: { num_env_runners: 0, num_envs_per_env_runner: 4 },
  model: MODEL,
  ppo: { train_batch_size: 64, minibatch_size: 32, num_epochs: 2 },
};
const DQN = {
  algo: "DQN",
  seed: 3,
  env_runners: { num_env_runners: 0, num_envs_per_env_runner: 1, rollout_fragment_length: 4 },
  model: MODEL,
  dqn: {
    train_batch_size: 16,
    hiddens: [],
    num_steps_sampled_before_learning_starts: 64,
    min_sample_timesteps_per_iteration: 100,
    replay_buffer_config: { type: "prioritized", capacity: 1000 },
    store_buffer_in_checkpoints: true,
  },
};

/** Three iterations' metrics and the final state of `raw` on `envId`. */
async function run(raw: Record<string, unknown>, envId: string) {
  const algo = await createAlgorithm(parseRunConfig({ ...raw, env: { id: envId } }));
  try {
    const metrics = [];
    for (let i = 0; i < 3; i++) metrics.push(algorithmicMetrics(await algo.train()));
    const state = (await algo.getState()) as {
      learner: { weights: Float32Array };
      algorithm: { replay?: ReplayBufferState | null };
    };
    return { metrics, weights: state.learner.weights, replay: state.algorithm.replay ?? null };
  } finally {
    await algo.stop();
  }
}

describe("uint8 observations", () => {
  it("PPO: fragments and the train batch hold bytes, and the run equals Catch-v0's", async () => {
    const config = parseRunConfig({ ...PPO, env: { id: UINT8_CATCH_ID } }) as Extract<
      RunConfig,
      { algo: "PPO" }
    >;
    const runner = await EnvRunner.create(onPolicyRunnerConfig(config, config.ppo), 0);
    runner.setWeights(initialWeights(runner.spec, 0), 1);
    const fragment = await runner.sample();
    await runner.stop();
    expect(fragment.obs).toBeInstanceOf(Uint8Array);
    expect(fragment.lastObs).toBeInstanceOf(Uint8Array);
    expect(new Set(fragment.obs)).toEqual(new Set([0, 255]));
    expect(trainBatchFromFragments([fragment], 0.99, 0.95).obs).toBeInstanceOf(Uint8Array);

    const pixels = await run(PPO, UINT8_CATCH_ID);
    const floats = await run(PPO, "Catch-v0");
    expect(pixels.metrics).toEqual(floats.metrics);
    expect(pixels.weights).toEqual(floats.weights);
  });

  it("DQN: the replay buffer holds bytes, and the run equals Catch-v0's", async () => {
    const pixels = await run(DQN, UINT8_CATCH_ID);
    const floats = await run(DQN, "Catch-v0");
    expect(pixels.replay?.transitions.obs).toBeInstanceOf(Uint8Array);
    expect(pixels.replay?.transitions.nextObs).toBeInstanceOf(Uint8Array);
    expect(floats.replay?.transitions.obs).toBeInstanceOf(Float32Array);
    expect(pixels.replay?.size).toBeGreaterThan(100);
    // Observations and next observations: 2 x 1000 x 50 values, a byte each instead of four.
    const memory = (m: Record<string, number>) => m["replay/memory_bytes"];
    expect(memory(floats.metrics[2]) - memory(pixels.metrics[2])).toBe(2 * 1000 * 50 * 3);
    const withoutMemory = (runs: Record<string, number>[]) =>
      runs.map(({ "replay/memory_bytes": _, ...rest }) => rest);
    expect(withoutMemory(pixels.metrics)).toEqual(withoutMemory(floats.metrics));
    expect(pixels.weights).toEqual(floats.weights);
  });

  it("with a MeanStdFilter (and an MLP) they are stored as float32; a CNN, which scales them itself, refuses the filter", async () => {
    const env_runners = { ...DQN.env_runners, observation_filter: "MeanStdFilter" };
    const filtered = await run(
      { ...DQN, env_runners, model: { ...MODEL, conv_filters: [] } },
      UINT8_CATCH_ID,
    );
    expect(filtered.replay?.transitions.obs).toBeInstanceOf(Float32Array);
    await expect(run({ ...DQN, env_runners }, UINT8_CATCH_ID)).rejects.toThrow(
      /^env_runners\.observation_filter: MeanStdFilter on uint8 frames \(Box\(0, 255, \(10, 5, 1\), uint8\)\): the CNN scales them by 1\/255 itself; use NoFilter$/,
    );
  });
});
