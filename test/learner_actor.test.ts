/**
 * The learner actor (`learner.num_learners`): PPO trains identically with the learner in the main thread
 * and in its own thread; state and checkpoints cross the thread boundary intact; the thread ends with
 * stop(); a dead or failing learner thread is a clear error, never a hang.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AlgorithmState } from "../src/algos/algorithm.js";
import { PPO } from "../src/algos/ppo/ppo.js";
import { allocateTrainBatch, type TrainBatch } from "../src/algos/ppo/ppo_learner.js";
import { ConfigError, parseRunConfig } from "../src/config/load.js";
import { type RunConfig, runConfigSchema } from "../src/config/schema.js";
import { Box, Discrete } from "../src/envs/spaces.js";
import {
  createPPOLearnerActor,
  type PPOLearnerActor,
  ThreadedPPOLearnerActor,
} from "../src/learner/learner_actor.js";
import { type PolicySpec, policySpecFor } from "../src/models/network.js";
import { ThreadedEnvRunnerGroup } from "../src/rollout/threaded_group.js";
import { WEIGHTS_ENTRY } from "../src/rollout/worker_protocol.js";
import { loadLayersModel, readCheckpoint, writeCheckpoint } from "../src/scheduler/checkpoint.js";
import { createRng, normal } from "../src/utils/rng.js";
import { algorithmicMetrics, FAST_CARTPOLE_PPO } from "./fixtures/fast_cartpole.js";

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "rlts-learner-actor-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** The fast CartPole config, seed 7, with the learner in the main thread (0) or its own thread (1). */
function withLearners(numLearners: number): RunConfig {
  return runConfigSchema.parse({
    ...FAST_CARTPOLE_PPO,
    seed: 7,
    learner: { backend: "wasm", num_learners: numLearners },
  });
}

/** CartPole's network under the fast config. */
function cartPoleSpec(config: RunConfig): PolicySpec {
  return policySpecFor(new Box(-5, 5, [4]), new Discrete(2), config.model);
}

/** A reproducible CartPole-shaped batch (random observations, actions and advantages). */
function randomBatch(seed: number, size = 256): TrainBatch {
  const rng = createRng(`batch-${seed}`);
  const batch = allocateTrainBatch(size, 4, 1);
  for (let i = 0; i < size * 4; i++) batch.obs[i] = normal(rng);
  for (let i = 0; i < size; i++) {
    batch.actions[i] = rng() < 0.5 ? 0 : 1;
    batch.logp[i] = Math.log(0.5);
    batch.values[i] = normal(rng);
    batch.advantages[i] = normal(rng);
    batch.returns[i] = batch.values[i] + batch.advantages[i];
  }
  return batch;
}

/** Worker threads and message ports alive in this process. */
function threadHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "Worker" || r === "MessagePort").length;
}

function layerWeights(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

async function threadedActor(config: RunConfig): Promise<ThreadedPPOLearnerActor> {
  const actor = await createPPOLearnerActor(config, cartPoleSpec(config));
  if (!(actor instanceof ThreadedPPOLearnerActor)) throw new Error("num_learners 1 gave no learner thread");
  return actor;
}

describe("PPO with the learner in the main thread or in its own thread", () => {
  it("gives identical metrics, state and exported policy for the same seed", async () => {
    const run = async (numLearners: number) => {
      const ppo = await PPO.create(withLearners(numLearners));
      try {
        const first = await ppo.train();
        // Asked for after every iteration, so a policy that stops following the learner shows.
        const policies = [layerWeights(ppo.policyModel)];
        const iterations = [first, await ppo.train(), await ppo.train()];
        policies.push(layerWeights(ppo.policyModel));
        return { metrics: iterations.map(algorithmicMetrics), state: await ppo.getState(), policies };
      } finally {
        await ppo.stop();
      }
    };
    const main = await run(0);
    const threaded = await run(1);
    expect(threaded.metrics).toEqual(main.metrics);
    expect(threaded.state).toEqual(main.state);
    expect(threaded.policies).toEqual(main.policies);
    expect(main.policies[1]).not.toEqual(main.policies[0]);
    expect(main.metrics[2].num_env_steps_trained_lifetime).toBe(3 * 256 * 10);
  });

  it("round-trips a checkpoint through the learner thread, exported policy included", async () => {
    const config = withLearners(1);
    const original = await PPO.create(config);
    const resumed = await PPO.create(config);
    try {
      await original.train();
      await original.train();
      const state = await original.getState();
      const dir = await writeCheckpoint(scratch, {
        algo: "PPO",
        iteration: 2,
        config,
        state,
        policy: { model: original.policyModel, metadata: original.policyMetadata() },
      });
      const saved = await readCheckpoint(dir);
      await resumed.setState(saved.state as AlgorithmState);
      expect(await resumed.getState()).toEqual(state);
      const exported = await loadLayersModel(path.join(dir, "model"));
      expect(layerWeights(exported)).toEqual(layerWeights(original.policyModel));
      expect(layerWeights(resumed.policyModel)).toEqual(layerWeights(original.policyModel));
      exported.dispose();
    } finally {
      await Promise.all([original.stop(), resumed.stop()]);
    }
  });
});

describe("runner threads and a learner thread share one object store", () => {
  it("a learner thread given the runners' store puts there, and the runners sample with that put", {
    timeout: 60_000,
  }, async () => {
    const config = runConfigSchema.parse({
      ...withLearners(1),
      env_runners: { num_env_runners: 2, num_envs_per_env_runner: 2, rollout_fragment_length: 32 },
    });
    const group = await ThreadedEnvRunnerGroup.create(config);
    const actor = await createPPOLearnerActor(config, group.policySpec, group.store);
    try {
      expect(group.store.latestVersion(WEIGHTS_ENTRY)).toBe(1); // the learner thread's initial weights
      await actor.update(randomBatch(1), 256);
      expect(group.store.latestVersion(WEIGHTS_ENTRY)).toBe(2);
      group.adoptLatestPut(1);
      const fragments = await group.sample();
      expect(fragments.map((f) => f.weightsVersion)).toEqual([1, 1]);
    } finally {
      await actor.stop();
      await group.stop();
    }
    // And through PPO: each iteration's weights reach the runners as that iteration's version.
    const ppoGroup = await ThreadedEnvRunnerGroup.create(config);
    const ppo = await PPO.create(config, { runnerGroup: ppoGroup });
    try {
      for (let i = 0; i < 2; i++) await ppo.train();
      expect(ppoGroup.store.latestVersion(WEIGHTS_ENTRY)).toBe(3);
      expect((await ppoGroup.sample()).map((f) => f.weightsVersion)).toEqual([2, 2]);
    } finally {
      await ppo.stop();
    }
  });
});

describe("the learner actor", () => {
  it("continues from another actor's state exactly, across threads", async () => {
    const threaded = await threadedActor(withLearners(1));
    const local: PPOLearnerActor = await createPPOLearnerActor(
      withLearners(0),
      cartPoleSpec(withLearners(0)),
    );
    try {
      await threaded.update(randomBatch(1), 256);
      await local.setState(await threaded.getState());
      expect(local.latestWeights()).toEqual(threaded.latestWeights());
      const [fromThread, fromMain] = await Promise.all([
        threaded.update(randomBatch(2), 512),
        local.update(randomBatch(2), 512),
      ]);
      expect(fromMain).toEqual(fromThread);
      expect(local.latestWeights()).toEqual(threaded.latestWeights());
      expect(await local.getState()).toEqual(await threaded.getState());
    } finally {
      await Promise.all([threaded.stop(), local.stop()]);
    }
  });

  it("ends its thread on stop(); a call after stop() fails clearly", async () => {
    const before = threadHandles();
    const actor = await threadedActor(withLearners(1));
    expect(threadHandles()).toBeGreaterThan(before);
    await actor.stop();
    expect(actor.thread.threadId).toBe(-1); // terminated
    expect(threadHandles()).toBe(before);
    await expect(actor.update(randomBatch(1), 0)).rejects.toThrow(
      "learner update: the learner actor was stopped",
    );
  });

  it("fails the update in flight and every later call once its thread dies", async () => {
    const actor = await threadedActor(withLearners(1));
    try {
      const update = actor.update(randomBatch(1, 8192), 0);
      void actor.thread.terminate();
      await expect(update).rejects.toThrow("learner update failed: the learner thread exited (code 1)");
      await expect(actor.getState()).rejects.toThrow("learner getState failed: the learner thread exited");
    } finally {
      await actor.stop();
    }
  });

  it("fails create() with the thread's own error, and leaves no thread behind", async () => {
    const before = threadHandles();
    const config = runConfigSchema.parse({
      ...FAST_CARTPOLE_PPO,
      learner: { backend: "tensorflow", num_learners: 1 },
    });
    // @tensorflow/tfjs-node is an optional package this project does not install.
    await expect(createPPOLearnerActor(config, cartPoleSpec(config))).rejects.toThrow(
      /learner start failed: learner.backend "tensorflow" could not be loaded.*npm install @tensorflow\/tfjs-node/,
    );
    expect(threadHandles()).toBe(before);
  });
});

describe("learner.num_learners", () => {
  it("is 0 by default and rejects more than one learner with a clear error", () => {
    expect(withLearners(0).learner.num_learners).toBe(0);
    expect(parseRunConfig({ algo: "PPO", env: { id: "CartPole-v1" } }).learner.num_learners).toBe(0);
    const parse = () =>
      parseRunConfig({ algo: "PPO", env: { id: "CartPole-v1" }, learner: { num_learners: 2 } }, "run.yaml");
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(
      "learner.num_learners: only 0 (the main thread) or 1 (one learner thread) is supported on one machine (got 2)",
    );
  });
});
