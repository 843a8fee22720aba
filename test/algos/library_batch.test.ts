/**
 * The library path (`PPO.create(input)`) builds its env runners from the same config slice as the CLI
 * (`rlts train`: `train(parseRunConfig(...))`), so both sample a whole `train_batch_size` per iteration.
 * Before the refactor the library path sized fragments for one runner's envs only and, with two runner
 * threads of 4 envs, sampled 256 steps of a 512-step batch.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRunConfig } from "../../src/algos/index.js";
import { ppoRunConfigSchema } from "../../src/algos/ppo/config.js";
import { PPO } from "../../src/algos/ppo/ppo.js";
import { onPolicyRunnerConfig } from "../../src/rollout/env_runner.js";
import { train } from "../../src/scheduler/trainer.js";

const INPUT = {
  env: { id: "CartPole-v1" },
  learner: { backend: "wasm" },
  env_runners: { num_env_runners: 2, num_envs_per_env_runner: 4 },
  ppo: { train_batch_size: 512, minibatch_size: 256, num_epochs: 1 },
} as const;

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "rlts-library-batch-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("PPO.create samples the batch the CLI samples", () => {
  it("splits train_batch_size over all envs of all runners: 64 steps per env, 2 x 4 envs", () => {
    const config = ppoRunConfigSchema.parse(INPUT);
    const slice = onPolicyRunnerConfig(config, config.ppo);
    expect(slice.numSteps).toBe(64);
    expect(slice.env_runners.num_env_runners).toBe(2);
    // In the main thread (no runner threads) one runner's 4 envs take the whole batch.
    const local = onPolicyRunnerConfig(
      ppoRunConfigSchema.parse({ ...INPUT, env_runners: { num_env_runners: 0, num_envs_per_env_runner: 4 } }),
      { train_batch_size: 512, gamma: 0.99 },
    );
    expect(local.numSteps).toBe(128);
  });

  it("one train() with 2 runner threads of 4 envs samples 512 steps, as rlts train does", {
    timeout: 120_000,
  }, async () => {
    const algo = await PPO.create(INPUT);
    let metrics: Record<string, number>;
    try {
      expect(algo.config.env_runners.num_env_runners).toBe(2);
      metrics = await algo.train();
    } finally {
      await algo.stop();
    }
    expect(metrics.num_env_steps_sampled_lifetime).toBe(512);
    expect(metrics.num_env_steps_trained_lifetime).toBe(512); // one epoch over the batch
    expect(metrics.training_iteration).toBe(1);
    expect(metrics["fault/num_worker_restarts"]).toBe(0);

    const cli = await train(
      parseRunConfig({
        ...INPUT,
        algo: "PPO",
        name: "library-batch",
        output: scratch,
        stop: { training_iteration: 1 },
        checkpoint: { frequency: 0, at_end: false },
      }),
      { mode: "quiet" },
    );
    expect(cli.iterations).toBe(1);
    expect(cli.metrics.num_env_steps_sampled_lifetime).toBe(metrics.num_env_steps_sampled_lifetime);
    expect(cli.metrics.num_env_steps_trained_lifetime).toBe(metrics.num_env_steps_trained_lifetime);
  });
});
