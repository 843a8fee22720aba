/**
 * The learner actor (`learner.num_learners`): PPO and DQN train identically with the learner in the main
 * thread and in its own thread; state and checkpoints cross the thread boundary intact; the thread ends
 * with stop(); a dead or failing learner thread is a clear error, never a hang.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AlgorithmState } from "../src/algos/algorithm.js";
import { readCheckpoint } from "../src/algos/checkpoint.js";
import { dqnRunConfigSchema } from "../src/algos/dqn/config.js";
import { DQN } from "../src/algos/dqn/dqn.js";
import { parseRunConfig } from "../src/algos/index.js";
import { type PPOConfig, type PPORunConfig, ppoRunConfigSchema } from "../src/algos/ppo/config.js";
import type { PPOUpdate } from "../src/algos/ppo/learner.js";
import { PPO } from "../src/algos/ppo/ppo.js";
import { allocateTrainBatch, type TrainBatch } from "../src/buffers/train_batch.js";
import { ConfigError } from "../src/config/load.js";
import { Box, Discrete } from "../src/envs/spaces.js";
import type { LearnerSpec } from "../src/learner/learner.js";
import {
  createLearnerActor,
  type LearnerActor,
  LocalLearnerActor,
  ThreadedLearnerActor,
} from "../src/learner/learner_actor.js";
import { type ModuleSpec, moduleSpecFor } from "../src/models/catalog.js";
import { loadLayersModel } from "../src/models/policy_node.js";
import { EnvRunnerActorGroup } from "../src/rollout/actor_group.js";
import { onPolicyRunnerConfig } from "../src/rollout/env_runner.js";
import { createWeightsStore, WEIGHTS_ENTRY } from "../src/rollout/env_runner_group.js";
import { ObjectStore } from "../src/store/object_store.js";
import { createRng, normal } from "../src/utils/rng.js";
import { algorithmicMetrics, FAST_CARTPOLE_PPO } from "./fixtures/fast_cartpole.js";

/** PPO's learner module, as PPO itself hands it to the learner actor. */
const PPO_LEARNER = new URL("../src/algos/ppo/learner.ts", import.meta.url).href;

type PPOActor = LearnerActor<PPOUpdate, Record<string, number>>;

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "rlts-learner-actor-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** The fast CartPole config, seed 7, with the learner in the main thread (0) or its own thread (1). */
function withLearners(numLearners: number): PPORunConfig {
  return ppoRunConfigSchema.parse({
    ...FAST_CARTPOLE_PPO,
    seed: 7,
    learner: { backend: "wasm", num_learners: numLearners },
  });
}

/** CartPole's network under the fast config. */
function cartPoleSpec(config: PPORunConfig): ModuleSpec {
  return moduleSpecFor(new Box(-5, 5, [4]), new Discrete(2), { type: "actor_critic", model: config.model });
}

/** A PPO learner actor for `config` on CartPole's network, putting into `store` (a fresh one by default). */
function ppoActor(config: PPORunConfig, store?: ObjectStore): Promise<PPOActor> {
  const module = cartPoleSpec(config);
  const spec: LearnerSpec<PPOConfig> = { module, config: config.ppo, seed: config.seed };
  return createLearnerActor(
    { module: PPO_LEARNER, spec },
    config.learner,
    store ?? createWeightsStore(module),
  );
}

async function threadedActor(
  config: PPORunConfig,
): Promise<ThreadedLearnerActor<PPOUpdate, Record<string, number>>> {
  const actor = await ppoActor(config);
  if (!(actor instanceof ThreadedLearnerActor)) throw new Error("num_learners 1 gave no learner thread");
  return actor;
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

/** The weights of `algorithm.policyModel()` (a fresh model, disposed here). */
function policyWeights(algorithm: { policyModel(): tf.LayersModel }): Float32Array[] {
  const model = algorithm.policyModel();
  try {
    return layerWeights(model);
  } finally {
    model.dispose();
  }
}

function layerWeights(model: tf.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

/** The state without the wall-clock time it holds. */
function withoutTime(state: AlgorithmState): AlgorithmState {
  const { timeTotalS, ...rest } = state;
  expect(typeof timeTotalS).toBe("number");
  return rest;
}

describe("PPO with the learner in the main thread or in its own thread", () => {
  it("gives identical metrics, state and exported policy for the same seed", async () => {
    const run = async (numLearners: number) => {
      const ppo = await PPO.create(withLearners(numLearners));
      try {
        const first = await ppo.train();
        // Asked for after every iteration, so a policy that stops following the learner shows.
        const policies = [policyWeights(ppo)];
        const iterations = [first, await ppo.train(), await ppo.train()];
        policies.push(policyWeights(ppo));
        return {
          backend: ppo.backend,
          metrics: iterations.map(algorithmicMetrics),
          state: withoutTime(await ppo.getState()),
          policies,
        };
      } finally {
        await ppo.stop();
      }
    };
    const main = await run(0);
    const threaded = await run(1);
    // The learner thread sets up its backend, and the native BLAS where there is one, as the main thread
    // does; it leaves the main thread, which samples beside it, a core (learner.num_threads: auto).
    const withoutThreads = (backend: string) => backend.replace(/, \d+ learner threads$/, "");
    expect(main.backend).toMatch(/^wasm( \+ native BLAS \(.+\))?(, \d+ learner threads)?$/);
    expect(withoutThreads(threaded.backend)).toBe(withoutThreads(main.backend));
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
      const dir = await original.save(path.join(scratch, "ppo_checkpoint"));
      const saved = await readCheckpoint(dir);
      expect(saved.iteration).toBe(2);
      await resumed.setState(saved.state as AlgorithmState);
      expect(await resumed.getState()).toEqual(state);
      const exported = await loadLayersModel(path.join(dir, "model"));
      expect(layerWeights(exported)).toEqual(policyWeights(original));
      expect(policyWeights(resumed)).toEqual(policyWeights(original));
      exported.dispose();
    } finally {
      await Promise.all([original.stop(), resumed.stop()]);
    }
  });
});

describe("DQN with the learner in the main thread or in its own thread", () => {
  /** A small DQN on CartPole sampled in the main thread, seed fixed. */
  const dqnConfig = (numLearners: number) =>
    dqnRunConfigSchema.parse({
      algo: "DQN",
      seed: 3,
      env: { id: "CartPole-v1" },
      learner: { backend: "wasm", num_learners: numLearners },
      env_runners: { num_env_runners: 0, num_envs_per_env_runner: 2 },
      model: { hiddens: [16], activation: "relu" },
      dqn: {
        hiddens: [16],
        train_batch_size: 16,
        num_steps_sampled_before_learning_starts: 40,
        min_sample_timesteps_per_iteration: 80,
        target_network_update_freq: 50,
        lr: 1e-3,
        epsilon: [
          [0, 1],
          [200, 0.1],
        ],
        replay_buffer_config: { capacity: 1000 },
      },
    });

  it("gives identical metrics, state and exported policy, and leaves no thread after stop()", async () => {
    const before = threadHandles();
    const run = async (numLearners: number) => {
      const dqn = await DQN.create(dqnConfig(numLearners));
      const learner = (dqn as unknown as { learner: unknown }).learner;
      expect(learner).toBeInstanceOf(numLearners === 0 ? LocalLearnerActor : ThreadedLearnerActor);
      if (numLearners === 1) expect(threadHandles()).toBeGreaterThan(before);
      try {
        const metrics: Record<string, number>[] = [];
        for (let i = 0; i < 3; i++) metrics.push(algorithmicMetrics(await dqn.train()));
        return { metrics, state: withoutTime(await dqn.getState()), policy: policyWeights(dqn) };
      } finally {
        await dqn.stop();
      }
    };
    const main = await run(0);
    const threaded = await run(1);
    expect(threadHandles()).toBe(before);
    // It trained: gradient steps were taken and their metrics reported.
    expect(main.metrics[2]["learners/num_gradient_steps_lifetime"]).toBeGreaterThan(0);
    expect(Number.isFinite(main.metrics[2]["learners/grad_norm"])).toBe(true);
    expect(main.metrics[2].num_env_steps_sampled_lifetime).toBe(240);
    expect(threaded.metrics).toEqual(main.metrics);
    expect(threaded.state).toEqual(main.state);
    expect(threaded.policy).toEqual(main.policy);
  });
});

describe("runner threads and a learner thread share one object store", () => {
  it("a learner thread given the runners' store puts there, and the runners sample with that put", {
    timeout: 60_000,
  }, async () => {
    const config = ppoRunConfigSchema.parse({
      ...withLearners(1),
      env_runners: { num_env_runners: 2, num_envs_per_env_runner: 2, rollout_fragment_length: 32 },
    });
    const group = await EnvRunnerActorGroup.create(onPolicyRunnerConfig(config, config.ppo));
    const actor = await ppoActor(config, group.store);
    try {
      expect(actor).toBeInstanceOf(ThreadedLearnerActor);
      expect(group.store.latestVersion(WEIGHTS_ENTRY)).toBe(1); // the learner thread's initial weights
      const initial = actor.latestWeights();
      await actor.update({ batch: randomBatch(1), numEnvStepsSampled: 256 });
      expect(group.store.latestVersion(WEIGHTS_ENTRY)).toBe(2);
      expect(actor.latestWeights()).not.toEqual(initial);
      await group.syncWeights(1);
      const fragments = await group.sample();
      expect(fragments.map((f) => f.weightsVersion)).toEqual([1, 1]);
    } finally {
      await actor.stop();
      await group.stop();
    }
    // And through PPO: each iteration's weights reach the runners as that iteration's version.
    const ppo = await PPO.create(config);
    const ppoGroup = (ppo as unknown as { runners: EnvRunnerActorGroup<{ kind: "fragments" }> }).runners;
    try {
      expect(ppoGroup).toBeInstanceOf(EnvRunnerActorGroup);
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
    const local = await ppoActor(withLearners(0));
    try {
      expect(local).toBeInstanceOf(LocalLearnerActor);
      await threaded.update({ batch: randomBatch(1), numEnvStepsSampled: 256 });
      await local.setState(await threaded.getState());
      expect(local.latestWeights()).toEqual(threaded.latestWeights());
      const [fromThread, fromMain] = await Promise.all([
        threaded.update({ batch: randomBatch(2), numEnvStepsSampled: 512 }),
        local.update({ batch: randomBatch(2), numEnvStepsSampled: 512 }),
      ]);
      expect(fromMain).toEqual(fromThread);
      expect(local.latestWeights()).toEqual(threaded.latestWeights());
      expect(await local.getState()).toEqual(await threaded.getState());
    } finally {
      await Promise.all([threaded.stop(), local.stop()]);
    }
  });

  it("refuses a store without the weights entry, or one sized for another module", async () => {
    const config = withLearners(0);
    const spec: LearnerSpec<PPOConfig> = { module: cartPoleSpec(config), config: config.ppo, seed: 0 };
    const other = moduleSpecFor(new Box(-5, 5, [3]), new Discrete(2), {
      type: "actor_critic",
      model: config.model,
    });
    await expect(
      createLearnerActor({ module: PPO_LEARNER, spec }, config.learner, new ObjectStore()),
    ).rejects.toThrow(`the store has no "${WEIGHTS_ENTRY}" entry`);
    await expect(
      createLearnerActor({ module: PPO_LEARNER, spec }, config.learner, createWeightsStore(other)),
    ).rejects.toThrow(/entry holds \d+ floats, the learner's module \d+/);
  });

  it("ends its thread on stop(); a call after stop() fails clearly", async () => {
    const before = threadHandles();
    const actor = await threadedActor(withLearners(1));
    expect(threadHandles()).toBeGreaterThan(before);
    await actor.stop();
    expect(actor.thread.threadId).toBe(-1); // terminated
    expect(threadHandles()).toBe(before);
    await expect(actor.update({ batch: randomBatch(1), numEnvStepsSampled: 0 })).rejects.toThrow(
      "learner update: the learner actor was stopped",
    );
  });

  it("fails the update in flight and every later call once its thread dies", async () => {
    const actor = await threadedActor(withLearners(1));
    try {
      const update = actor.update({ batch: randomBatch(1, 8192), numEnvStepsSampled: 0 });
      void actor.thread.terminate();
      await expect(update).rejects.toThrow("learner update failed: the learner thread exited (code 1)");
      await expect(actor.getState()).rejects.toThrow("learner getState failed: the learner thread exited");
    } finally {
      await actor.stop();
    }
  });

  it("fails create() with the thread's own error, and leaves no thread behind", async () => {
    const before = threadHandles();
    const config = ppoRunConfigSchema.parse({
      ...FAST_CARTPOLE_PPO,
      learner: { backend: "tensorflow", num_learners: 1 },
    });
    // @tensorflow/tfjs-node is an optional package this project does not install.
    await expect(ppoActor(config)).rejects.toThrow(
      /learner start failed: learner.backend "tensorflow" could not be loaded.*npm install @tensorflow\/tfjs-node/,
    );
    expect(threadHandles()).toBe(before);
  });
});

describe("learner.num_learners", () => {
  it("is 0 by default and rejects more than one learner with a clear error", () => {
    expect(withLearners(0).learner.num_learners).toBe(0);
    expect(parseRunConfig({ algo: "PPO", env: { id: "CartPole-v1" } }).learner.num_learners).toBe(0);
    expect(parseRunConfig({ algo: "DQN", env: { id: "CartPole-v1" } }).learner.num_learners).toBe(0);
    const parse = () =>
      parseRunConfig({ algo: "PPO", env: { id: "CartPole-v1" }, learner: { num_learners: 2 } }, "run.yaml");
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(
      "learner.num_learners: only 0 (the main thread) or 1 (one learner thread) is supported on one machine (got 2)",
    );
  });
});
