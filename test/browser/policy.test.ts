/**
 * The policy export format on Node: GreedyPolicy against an independent forward pass (the rollout inference kernel
 * `ModuleInference`), the metadata checks, `exportPolicy` on real checkpoints, and the demo server.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeCheckpoint } from "../../src/algos/checkpoint.js";
import { exportPolicy } from "../../src/cli/export.js";
import { serveDemo } from "../../src/cli/serve_demo.js";
import { makeEnv } from "../../src/envs/registry.js";
import type { Box } from "../../src/envs/spaces.js";
import type { ModuleSpec } from "../../src/models/catalog.js";
import { policyLayersModel } from "../../src/models/export.js";
import { ModuleInference } from "../../src/models/inference.js";
import type { GreedyPolicy, ObservationNormalization } from "../../src/models/policy.js";
import { loadPolicyFromDir } from "../../src/models/policy_node.js";
import { MATCH_DIGITS_ID } from "../fixtures/match_digits_env.js";
import { MATCH_TARGET_ID, type MatchTargetAction } from "../fixtures/match_target_env.js";
import { ensureBrowserBundle } from "./browser_setup.js";
import { writeRandomPolicy } from "./policy_fixture.js";

let scratch: string;
beforeAll(async () => {
  await tf.setBackend("cpu");
  scratch = await mkdtemp(path.join(tmpdir(), "rlts-policy-"));
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

/** Observations from the env itself (seeded random actions), so they are the kind a policy meets. */
function visitedObservations(envId: string, count: number): Float32Array[] {
  const env = makeEnv(envId);
  env.actionSpace.seed(1);
  const observations: Float32Array[] = [];
  let [obs] = env.reset({ seed: 1 });
  while (observations.length < count) {
    observations.push(obs as Float32Array);
    const [next, , terminated, truncated] = env.step(env.actionSpace.sample());
    obs = terminated || truncated ? env.reset()[0] : next;
  }
  return observations;
}

/**
 * The exported policy in `dir` and the rollout inference kernel (greedy) on `count` visited observations of
 * `envId`: each observation's two actions.
 */
async function policyAndKernelActions(
  dir: string,
  spec: ModuleSpec,
  weights: Float32Array,
  envId: string,
  count: number,
): Promise<{ policy: ReturnType<GreedyPolicy["act"]>; kernel: Float32Array }[]> {
  const policy = await loadPolicyFromDir(dir);
  const reference = new ModuleInference(spec, 0);
  reference.setWeights(weights);
  const out = {
    actions: new Float32Array(spec.actionDim),
    logp: new Float32Array(1),
    values: new Float32Array(1),
  };
  const pairs = visitedObservations(envId, count).map((obs) => {
    reference.act(obs, 1, { greedy: true }, out);
    return { policy: policy.act(obs), kernel: out.actions.slice() };
  });
  policy.dispose();
  return pairs;
}

describe("GreedyPolicy", () => {
  it("takes the argmax of the logits, as the rollout inference kernel", async () => {
    const dir = path.join(scratch, "cartpole");
    const { spec, weights } = await writeRandomPolicy(dir, { envId: "CartPole-v1", seed: 3, weightScale: 3 });
    const pairs = await policyAndKernelActions(dir, spec, weights, "CartPole-v1", 300);
    for (const { policy, kernel } of pairs) expect(policy).toBe(kernel[0]);
    // Both actions occur, or the comparison would prove little.
    expect(new Set(pairs.map((p) => p.kernel[0])).size).toBe(2);
  });

  it("takes the argmax of a dueling Q module's Q values (DQN's export), as the rollout inference kernel", async () => {
    const dir = path.join(scratch, "acrobot-dqn");
    const { spec, weights, metadata } = await writeRandomPolicy(dir, {
      envId: "Acrobot-v1",
      seed: 5,
      weightScale: 3,
      module: "dueling_q",
    });
    expect(metadata.actionHead).toEqual({ kind: "q_values", n: 3 });
    const pairs = await policyAndKernelActions(dir, spec, weights, "Acrobot-v1", 300);
    for (const { policy, kernel } of pairs) expect(policy).toBe(kernel[0]);
    expect(new Set(pairs.map((p) => p.kernel[0])).size).toBeGreaterThan(1);
  });

  it("runs a CNN policy (Catch-v0's image observations: the default small-grid CNN) as the rollout inference kernel", async () => {
    const dir = path.join(scratch, "catch-cnn");
    const { spec, weights } = await writeRandomPolicy(dir, { envId: "Catch-v0", seed: 6, weightScale: 3 });
    expect(spec.encoder?.layers.map((layer) => layer.outShape)).toEqual([[8, 3, 16]]);
    const pairs = await policyAndKernelActions(dir, spec, weights, "Catch-v0", 200);
    for (const { policy, kernel } of pairs) expect(policy).toBe(kernel[0]);
    expect(new Set(pairs.map((p) => p.kernel[0])).size).toBeGreaterThan(1);
  });

  it("normalises observations and clips the Gaussian mean to the action bounds", async () => {
    const dir = path.join(scratch, "pendulum");
    const normalization: ObservationNormalization = {
      mean: [0.5, -0.2, 1],
      var: [0.3, 0.6, 4],
      epsilon: 1e-8,
      clip: 1.5,
    };
    const { spec, weights } = await writeRandomPolicy(dir, {
      envId: "Pendulum-v1",
      seed: 4,
      weightScale: 150,
      observationNormalization: normalization,
    });
    const policy = await loadPolicyFromDir(dir);
    const reference = new ModuleInference(spec, 0);
    reference.setWeights(weights);
    const out = { actions: new Float32Array(1), logp: new Float32Array(1), values: new Float32Array(1) };
    const bounds = makeEnv("Pendulum-v1").actionSpace as Box;
    let clipped = 0;
    for (const obs of visitedObservations("Pendulum-v1", 200)) {
      // Gymnasium's NormalizeObservation, then the ±clip of CleanRL's PPO scripts.
      const normalized = Float32Array.from(obs, (x, i) => {
        const z = (x - normalization.mean[i]) / Math.sqrt(normalization.var[i] + normalization.epsilon);
        return Math.min(normalization.clip, Math.max(-normalization.clip, z));
      });
      reference.act(normalized, 1, { greedy: true }, out);
      const mean = out.actions[0];
      const expected = Math.min(bounds.high[0], Math.max(bounds.low[0], mean));
      if (expected !== mean) clipped++;
      const action = policy.act(obs) as Float32Array;
      expect(action).toBeInstanceOf(Float32Array);
      // float32 sums in another order: equal to ~1e-6 (the weights are large, to reach the bounds).
      expect(Math.abs(action[0] - expected)).toBeLessThan(1e-5);
    }
    expect(clipped).toBeGreaterThan(0);
    expect(clipped).toBeLessThan(200);
    policy.dispose();
  });

  it("takes tanh of a squashed Gaussian's mean scaled to the Box (SAC's export), as the rollout inference kernel", async () => {
    const dir = path.join(scratch, "pendulum-sac");
    const { spec, weights, metadata } = await writeRandomPolicy(dir, {
      envId: "Pendulum-v1",
      seed: 6,
      weightScale: 60,
      module: "squashed_gaussian",
    });
    expect(metadata.actionHead).toEqual({ kind: "squashed_gaussian", dim: 1 });
    const pairs = await policyAndKernelActions(dir, spec, weights, "Pendulum-v1", 200);
    const actions = pairs.map(({ policy, kernel }) => {
      const action = (policy as Float32Array)[0];
      expect(Math.abs(action - kernel[0])).toBeLessThan(1e-5);
      expect(Math.abs(action)).toBeLessThanOrEqual(2);
      return action;
    });
    // Both signs, some near the bounds: the squashing and the scaling were both exercised.
    expect(Math.min(...actions)).toBeLessThan(-1);
    expect(Math.max(...actions)).toBeGreaterThan(1);
  });

  it("takes each entry's argmax plus its start for a MultiDiscrete head, as the rollout inference kernel", async () => {
    const dir = path.join(scratch, "match-digits");
    const { spec, weights, metadata } = await writeRandomPolicy(dir, {
      envId: MATCH_DIGITS_ID,
      seed: 8,
      weightScale: 3,
    });
    expect(metadata.actionHead).toEqual({ kind: "multi_categorical", nvec: [3, 4], start: [1, -1] });
    const pairs = await policyAndKernelActions(dir, spec, weights, MATCH_DIGITS_ID, 200);
    for (const { policy, kernel } of pairs) {
      // The kernel gives class indices from 0; the policy the env's values.
      expect(Array.from(policy as Int32Array)).toEqual([kernel[0] + 1, kernel[1] - 1]);
    }
    expect(new Set(pairs.map((p) => `${p.kernel[0]},${p.kernel[1]}`)).size).toBeGreaterThan(2);
  });

  it("returns a Dict action as the space's value (argmax plus start, the mean clipped), as the rollout inference kernel", async () => {
    const dir = path.join(scratch, "match-target");
    const { spec, weights, metadata } = await writeRandomPolicy(dir, {
      envId: MATCH_TARGET_ID,
      seed: 12,
      // Large enough that some means leave [-1, 1].
      weightScale: 60,
    });
    expect(metadata.actionHead).toEqual({
      kind: "composite",
      parts: [
        { kind: "categorical", n: 3 },
        { kind: "gaussian", dim: 1 },
      ],
      keys: ["target", "value"],
    });
    const space = makeEnv(MATCH_TARGET_ID).actionSpace;
    const pairs = await policyAndKernelActions(dir, spec, weights, MATCH_TARGET_ID, 300);
    let clipped = 0;
    for (const { policy, kernel } of pairs) {
      const action = policy as unknown as MatchTargetAction;
      expect(Object.keys(action)).toEqual(["target", "value"]);
      expect(space.contains(action)).toBe(true);
      // The kernel's class index from 0 and raw mean; the policy the env's value and the mean clipped.
      expect(action.target).toBe(kernel[0] + 1);
      expect(action.value).toBeInstanceOf(Float32Array);
      const mean = Math.min(1, Math.max(-1, kernel[1]));
      if (mean !== kernel[1]) clipped++;
      expect(Math.abs(action.value[0] - mean)).toBeLessThan(1e-5);
    }
    expect(new Set(pairs.map((p) => p.kernel[0])).size).toBe(3);
    expect(clipped).toBeGreaterThan(0);
    expect(clipped).toBeLessThan(pairs.length);
  });

  it("rejects observations of the wrong size with a message naming the space", async () => {
    const policy = await loadPolicyFromDir(path.join(scratch, "cartpole"));
    expect(() => policy.act(new Float32Array(3))).toThrow(/Float32Array of 4 values.*Box/);
    expect(() => policy.act([0, 0, 0, 0] as unknown as Float32Array)).toThrow(
      /needs a Float32Array of 4 values/,
    );
    policy.dispose();
  });
});

describe("policy.json checks", () => {
  async function withMetadata(
    change: (m: Record<string, unknown>) => void,
    policy = "cartpole",
  ): Promise<string> {
    const dir = path.join(scratch, policy);
    const original = await readFile(path.join(dir, "policy.json"), "utf8");
    const metadata = JSON.parse(original);
    change(metadata);
    await writeFile(path.join(dir, "policy.json"), JSON.stringify(metadata));
    try {
      await loadPolicyFromDir(dir);
      return "loaded";
    } catch (error) {
      return (error as Error).message;
    } finally {
      await writeFile(path.join(dir, "policy.json"), original);
    }
  }

  it("names the field and what was expected", async () => {
    expect(await withMetadata((m) => (m.format = "other"))).toMatch(
      /policy\.json: "format" must be "rlts-policy"/,
    );
    expect(await withMetadata((m) => (m.actionHead = { kind: "categorical", n: 3 }))).toMatch(
      /"actionSpace" must be Discrete\(3\) to match the categorical head/,
    );
    expect(await withMetadata((m) => (m.actionHead = { kind: "beta" }))).toMatch(/"actionHead" must be/);
    expect(
      await withMetadata(
        (m) => (m.observationNormalization = { mean: [0], var: [1], epsilon: 1e-8, clip: 10 }),
      ),
    ).toMatch(/"observationNormalization.mean" must be 4 finite numbers/);
    expect(await withMetadata((m) => delete m.observationNormalization)).toMatch(
      /"observationNormalization" must be null/,
    );
  });

  it("checks a composite head against the Tuple's or Dict's parts, naming the part", async () => {
    // The Dict policy the GreedyPolicy test wrote.
    const dict = (change: (m: Record<string, unknown>) => void) => withMetadata(change, "match-target");
    const head = (m: Record<string, unknown>) => m.actionHead as { parts: unknown[]; keys: unknown };
    expect(await dict(() => {})).toBe("loaded");
    expect(await dict((m) => (head(m).keys = ["value", "target"]))).toMatch(
      /"actionSpace" must be a Dict with the keys \["value","target"\], in this order, to match the composite head/,
    );
    expect(await dict((m) => (head(m).keys = null))).toMatch(/"actionSpace" must be a Tuple of 2 spaces/);
    expect(await dict((m) => (head(m).keys = ["target"]))).toMatch(
      /"actionHead\.keys" must be null \(a Tuple\) or the Dict's keys, one per part, got \["target"\]/,
    );
    expect(await dict((m) => (head(m).parts[1] = { kind: "gaussian", dim: 2 }))).toMatch(
      /"actionSpace\.value" must be a float Box of 2 values to match the gaussian head, got \{"type":"Box"/,
    );
    expect(await dict((m) => (head(m).parts[0] = { kind: "bernoulli", n: 3 }))).toMatch(
      /"actionSpace\.target" must be MultiBinary\(3\) to match the bernoulli head/,
    );
    expect(await dict((m) => (head(m).parts[0] = { kind: "q_values", n: 3 }))).toMatch(
      /"actionHead\.parts\[0\]" must be \{kind: "categorical"\|"bernoulli", n\}/,
    );
    expect(await dict((m) => (head(m).parts = []))).toMatch(/"actionHead\.parts" must be a non-empty array/);
    // A network whose output does not fit the parts.
    expect(await dict((m) => (head(m).parts[0] = { kind: "categorical", n: 4 }))).toMatch(
      /"actionSpace\.target" must be Discrete\(4\)/,
    );
  });

  it("refuses a network that does not fit the spaces", async () => {
    const wrongObs = await withMetadata((m) => {
      m.observationSpace = { type: "Box", shape: [3], dtype: "float32", low: [0, 0, 0], high: [1, 1, 1] };
    });
    expect(wrongObs).toMatch(/model's input is \[null,4\].*flattens to 3 values/);
  });

  it("names the missing file", async () => {
    await expect(loadPolicyFromDir(path.join(scratch, "nowhere"))).rejects.toThrow(
      /nowhere\/model\.json: cannot load the network/,
    );
  });
});

describe("exportPolicy", () => {
  it("copies the newest checkpoint's policy and checks that it loads", async () => {
    const run = path.join(scratch, "run");
    const config = {} as Parameters<typeof writeCheckpoint>[1]["config"];
    const metadata = JSON.parse(await readFile(path.join(scratch, "cartpole", "policy.json"), "utf8"));
    for (const [iteration, seed] of [
      [1, 10],
      [2, 20],
    ]) {
      const { spec, weights } = await writeRandomPolicy(path.join(scratch, `ac${seed}`), {
        envId: "CartPole-v1",
        seed,
      });
      const network = policyLayersModel(spec, weights);
      await writeCheckpoint(run, {
        algo: "PPO",
        iteration,
        config,
        state: {},
        policy: { model: network, metadata },
      });
      network.dispose();
    }
    const out = path.join(scratch, "exported");
    const result = await exportPolicy(run, out);
    expect(result.checkpointDir).toBe(path.join(run, "checkpoint_000002"));
    expect(result.metadata.envId).toBe("CartPole-v1");
    expect(await readFile(path.join(out, "weights.bin"))).toEqual(
      await readFile(path.join(run, "checkpoint_000002", "model", "weights.bin")),
    );

    await rm(path.join(run, "checkpoint_000002", "model", "policy.json"));
    // Every file of a checkpoint is checksummed: a missing one is named.
    await expect(exportPolicy(run, out)).rejects.toThrow(/checkpoint_000002\/model\/policy\.json is missing/);
    await expect(exportPolicy(path.join(scratch, "no-run"), out)).rejects.toThrow(/checkpoint not found/);
  });
});

describe("serveDemo", () => {
  it("serves the page, the bundle and the policy, and nothing outside them", async () => {
    ensureBrowserBundle();
    const server = await serveDemo(path.join(scratch, "cartpole"), { port: 0 });
    try {
      const get = (p: string) => fetch(new URL(p, server.url));
      const page = await get("/");
      expect(page.headers.get("content-type")).toMatch(/text\/html/);
      expect(await page.text()).toContain("demo.js");
      expect((await get("/rlts.js")).headers.get("content-type")).toMatch(/javascript/);
      expect(JSON.parse(await (await get("/policy/policy.json")).text()).envId).toBe("CartPole-v1");
      expect((await get("/policy/weights.bin")).status).toBe(200);
      expect((await get("/policy/../../../package.json")).status).toBe(404);
      expect((await get("/%2e%2e/%2e%2e/package.json")).status).toBe(404);
      expect((await get("/missing.js")).status).toBe(404);
      expect((await get("/%E0%A4%A")).status).toBe(400);
    } finally {
      await server.close();
    }
    await expect(serveDemo(path.join(scratch, "no-policy"), { port: 0 })).rejects.toThrow(
      /not an exported policy \(no model\.json\)/,
    );
  });
});
