/**
 * Worker-thread env runners: real threads, real envs (CartPole, and a user env module from
 * test/fixtures), compared against a main-thread EnvRunner with the same seeds and weights.
 */
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { type PPORunConfigInput, ppoRunConfigSchema } from "../../src/algos/ppo/config.js";
import type { Fragment } from "../../src/buffers/fragment.js";
import { makeEnv } from "../../src/envs/registry.js";
import { initialWeights, type ModuleSpec } from "../../src/models/catalog.js";
import { towerViews } from "../../src/models/mlp.js";
import { EnvRunnerActorGroup } from "../../src/rollout/actor_group.js";
import { EnvRunner, type EnvRunnerConfig, onPolicyRunnerConfig } from "../../src/rollout/env_runner.js";
import { WEIGHTS_ENTRY } from "../../src/rollout/env_runner_group.js";

// Not imported from the fixture: importing it would register the env in this thread too.
const CORRIDOR_ID = "rlts-test/Corridor-v0";
const MARKER = 42;
const CORRIDOR_MODULE = fileURLToPath(new URL("../fixtures/corridor_env.ts", import.meta.url));

type Fragments = { kind: "fragments" };

/** The env runners' slice of a PPO run config (fragments of `rollout_fragment_length` steps). */
function config(overrides: Partial<PPORunConfigInput> = {}): EnvRunnerConfig<Fragments> {
  const run = ppoRunConfigSchema.parse({
    algo: "PPO",
    env: { id: "CartPole-v1" },
    ...overrides,
    env_runners: {
      num_env_runners: 2,
      num_envs_per_env_runner: 4,
      rollout_fragment_length: 16,
      ...overrides.env_runners,
    },
  });
  return onPolicyRunnerConfig(run, run.ppo);
}

function corridorConfig(kwargs: Record<string, unknown>, envRunners: PPORunConfigInput["env_runners"] = {}) {
  return config({
    env: { id: CORRIDOR_ID, module: CORRIDOR_MODULE, kwargs },
    env_runners: { num_envs_per_env_runner: 1, rollout_fragment_length: 100, ...envRunners },
  });
}

/** Weights whose policy picks `action` every time: a zero policy-head kernel and a large bias. */
function alwaysAction(spec: ModuleSpec, action: number): Float32Array {
  const flat = initialWeights(spec, 0);
  const head = towerViews(spec.towers, flat)[spec.policyTower].at(-1)!;
  head.kernel.fill(0);
  for (let a = 0; a < head.bias.length; a++) head.bias[a] = a === action ? 50 : 0;
  return flat;
}

/** What the learner does: puts the weights into the group's store, then syncs the runners to them. */
async function publish(target: EnvRunnerActorGroup<Fragments>, weights: Float32Array, version: number) {
  target.store.put(WEIGHTS_ENTRY, weights);
  await target.syncWeights(version);
}

function actionsAll(fragment: Fragment, action: number): boolean {
  return fragment.actions.every((a) => a === action);
}

/** Worker threads and message ports alive in this process. */
function threadHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "Worker" || r === "MessagePort").length;
}

let group: EnvRunnerActorGroup<Fragments> | undefined;
afterEach(async () => {
  await group?.stop();
  group = undefined;
});

describe("EnvRunnerActorGroup, sync mode", () => {
  it("samples the same fragments as main-thread runners, in shared memory, with the published version", async () => {
    const cfg = config();
    group = await EnvRunnerActorGroup.create(cfg);
    const weights = initialWeights(group.moduleSpec, 7);
    await publish(group, weights, 1);
    const fragments = await group.sample();
    expect(fragments).toHaveLength(2);
    for (const [index, fragment] of fragments.entries()) {
      expect(fragment.spec).toEqual({
        numSteps: 16,
        numEnvs: 4,
        obsDim: 4,
        actionDim: 1,
        obsDtype: "float32",
      });
      expect(fragment.weightsVersion).toBe(1);
      expect(fragment.obs.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(fragment.obs).toHaveLength(16 * 4 * 4);
      const local = await EnvRunner.create(cfg, index);
      local.setWeights(weights, 1);
      const expected = await local.sample();
      await local.stop();
      expect(fragment.obs).toEqual(expected.obs);
      expect(fragment.actions).toEqual(expected.actions);
      expect(fragment.logp).toEqual(expected.logp);
      expect(fragment.lastValues).toEqual(expected.lastValues);
    }
    expect(fragments[0].obs).not.toEqual(fragments[1].obs); // runners are seeded apart
  });

  it("samples every fragment of an iteration with the weights of that iteration", async () => {
    group = await EnvRunnerActorGroup.create(config());
    // PPO starts at version 0; a restored checkpoint jumps (here to 7, then on from 3).
    for (const version of [0, 1, 2, 7, 3, 4]) {
      const action = version % 2;
      await publish(group, alwaysAction(group.moduleSpec, action), version);
      const fragments = await group.sample();
      expect(fragments.map((f) => f.weightsVersion)).toEqual([version, version]);
      expect(fragments.every((f) => actionsAll(f, action))).toBe(true);
    }
    const metrics = await group.getMetrics();
    expect(metrics.returns.length).toBeGreaterThan(0);
    const evaluation = await group.evaluate(3);
    expect(evaluation.returns).toHaveLength(3);
  });
});

describe("EnvRunnerActorGroup, async mode", () => {
  it("keeps sampling while weights change and records the version of every fragment", async () => {
    group = await EnvRunnerActorGroup.create(config());
    await publish(group, alwaysAction(group.moduleSpec, 1), 1);
    group.startAsync();
    const seen: Fragment[] = [];
    while (!seen.some((f) => f.weightsVersion === 1)) seen.push(...(await group.drain(1)));
    await publish(group, alwaysAction(group.moduleSpec, 0), 2);
    while (!seen.some((f) => f.weightsVersion === 2)) seen.push(...(await group.drain(1)));
    await group.stopAsync();
    seen.push(...(await group.drain()));
    for (const fragment of seen.filter((f) => f.weightsVersion > 0)) {
      expect(actionsAll(fragment, fragment.weightsVersion === 1 ? 1 : 0)).toBe(true);
    }
    const staleness = seen.map((f) => group!.latestWeightsVersion - f.weightsVersion);
    expect(Math.max(...staleness)).toBeGreaterThanOrEqual(1);
    expect(() => group!.startAsync()).not.toThrow();
    await expect(group.sample()).rejects.toThrow(/stopAsync\(\) first/);
    await group.stopAsync();
    const fragments = await group.sample(); // back to sync mode
    expect(fragments.map((f) => f.weightsVersion)).toEqual([2, 2]);
  });
});

describe("EnvRunnerActorGroup with a user env module", () => {
  it("imports env.module in each worker, so a custom env runs there", async () => {
    expect(() => makeEnv(CORRIDOR_ID)).toThrow(/No env registered/); // not in this thread
    group = await EnvRunnerActorGroup.create(corridorConfig({}, { rollout_fragment_length: 20 }));
    await publish(group, alwaysAction(group.moduleSpec, 1), 1);
    const fragments = await group.sample();
    expect(fragments).toHaveLength(2);
    for (const fragment of fragments) {
      expect(fragment.spec.obsDim).toBe(2);
      for (let row = 0; row < 20; row++) expect(fragment.obs[row * 2 + 1]).toBe(MARKER);
      expect(fragment.terminated.reduce((n, t) => n + t, 0)).toBe(4); // length-5 corridor, always forward
    }
  });

  it("fails with the module's path when env.module does not load", async () => {
    const cfg = corridorConfig({});
    cfg.env.module = "/nonexistent/env_module.js";
    await expect(EnvRunnerActorGroup.create(cfg)).rejects.toThrow(
      /env\.module "\/nonexistent\/env_module\.js" could not be loaded/,
    );
  });
});

describe("EnvRunnerActorGroup fault tolerance", () => {
  it("replaces a worker terminated mid-sample; the iteration goes on with the others", async () => {
    group = await EnvRunnerActorGroup.create(corridorConfig({ stepDelayMs: 3 }));
    await publish(group, alwaysAction(group.moduleSpec, 1), 1);
    const victim = group.actor(1);
    const sampling = group.sample();
    setTimeout(() => void victim.terminate(), 100);
    const fragments = await sampling;
    expect(fragments).toHaveLength(1);
    expect(group.numWorkerRestarts).toBe(1);
    expect(group.actor(1)).not.toBe(victim);
    const next = await group.sample();
    expect(next.map((f) => f.weightsVersion)).toEqual([1, 1]); // the replacement read the current weights
    expect(next.every((f) => actionsAll(f, 1))).toBe(true);
  });

  it("replaces workers whose env throws, and resamples when every fragment of an iteration failed", async () => {
    group = await EnvRunnerActorGroup.create(corridorConfig({ failAtStep: 150 }));
    expect(await group.sample()).toHaveLength(2); // steps 1-100
    expect(await group.sample()).toHaveLength(2); // both throw at step 150; their replacements sample
    expect(group.numWorkerRestarts).toBe(2);
  });

  it("gives up with the worker's error when restarts are off or used up, ending every thread", async () => {
    const before = threadHandles();
    group = await EnvRunnerActorGroup.create(
      corridorConfig({ failAtStep: 50 }, { restart_failed_env_runners: false }),
    );
    await expect(group.sample()).rejects.toThrow(
      /restart_failed_env_runners is off.*injected failure at step 50/,
    );
    await group.stop();
    group = await EnvRunnerActorGroup.create(
      corridorConfig(
        { stepDelayMs: 20 },
        { sample_timeout_s: 0.5, max_num_env_runner_restarts: 2, num_env_runners: 1 },
      ),
    );
    await expect(group.sample()).rejects.toThrow(
      /after env_runners.max_num_env_runner_restarts \(2\) restarts: .*took longer than 0.5 s/,
    );
    expect(group.numWorkerRestarts).toBe(2);
    expect(threadHandles()).toBe(before);
  });

  it("stops after the same error three times in a row (an env bug), not after 1000 restarts", async () => {
    const before = threadHandles();
    // The count of steps restarts with each thread: every replacement fails at its step 50 again.
    group = await EnvRunnerActorGroup.create(corridorConfig({ failAtStep: 50 }));
    await expect(group.sample()).rejects.toThrow(
      /failed 3 times in a row with the same error and no fragment in between .*injected failure at step 50/,
    );
    expect(group.numWorkerRestarts).toBeGreaterThanOrEqual(2);
    expect(group.numWorkerRestarts).toBeLessThanOrEqual(4);
    await group.stop();
    expect(threadHandles()).toBe(before);
  });

  it("reports a failure it cannot recover from in async mode through drain()", async () => {
    group = await EnvRunnerActorGroup.create(
      corridorConfig({ failAtStep: 250 }, { restart_failed_env_runners: false }),
    );
    group.startAsync();
    await expect(
      (async () => {
        for (;;) await group!.drain(1);
      })(),
    ).rejects.toThrow(/restart_failed_env_runners is off\).*injected failure at step 250/);
  });

  it("leaves no thread or port behind after stop, even while sampling asynchronously", async () => {
    const before = threadHandles();
    group = await EnvRunnerActorGroup.create(config());
    expect(threadHandles()).toBeGreaterThan(before);
    group.startAsync();
    await group.drain(1);
    await group.stop();
    group = undefined;
    expect(threadHandles()).toBe(before);
  });
});
