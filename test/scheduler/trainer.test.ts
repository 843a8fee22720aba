/**
 * The training loop end to end: run folder contents, checkpoints that resume with the same counters,
 * identical curves for the same seed, clear errors for corrupt checkpoints, and user env modules.
 */
import { spawn } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCheckpoint } from "../../src/algos/checkpoint.js";
import { parseRunConfig } from "../../src/algos/index.js";
import { exportPolicy } from "../../src/cli/export.js";
import { loadPolicyFromDir } from "../../src/models/policy_node.js";
import { evaluateCheckpoint } from "../../src/scheduler/evaluate.js";
import { train } from "../../src/scheduler/trainer.js";
import { readWithTensorBoard } from "../logging/readTfevents.js";

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "rlts-trainer-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function cartPole(overrides: Record<string, unknown> = {}) {
  return parseRunConfig({
    name: "trainer-test",
    algo: "PPO",
    seed: 3,
    output: scratch,
    env: { id: "CartPole-v1" },
    env_runners: { num_envs_per_env_runner: 4 },
    learner: { backend: "cpu" },
    model: { hiddens: [16, 16] },
    ppo: { train_batch_size: 128, minibatch_size: 64, num_epochs: 2 },
    stop: { training_iteration: 3 },
    checkpoint: { frequency: 2, keep: 0 },
    ...overrides,
  });
}

function progressRows(runDir: string): Record<string, number>[] {
  return readFileSync(path.join(runDir, "progress.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
}

describe("train", () => {
  it("writes progress, events, config and checkpoints with an exported policy", async () => {
    const summary = await train(cartPole(), { mode: "quiet" });
    expect(summary.iterations).toBe(3);
    expect(summary.stoppedBy).toBe("training_iteration >= 3");
    const files = readdirSync(summary.runDir);
    expect(files).toEqual(
      expect.arrayContaining(["config.yaml", "progress.jsonl", "checkpoint_000002", "checkpoint_000003"]),
    );
    expect(files.some((f) => f.includes("tfevents"))).toBe(true);
    const rows = progressRows(summary.runDir);
    expect(rows.map((r) => r.training_iteration)).toEqual([1, 2, 3]);
    expect(rows[2].num_env_steps_sampled_lifetime).toBe(384);
    expect(rows[2]).toHaveProperty("learners/policy_loss");
    expect(rows[2]).toHaveProperty("fault/num_worker_restarts", 0);
    expect(rows[2].time_this_iter_s).toBeGreaterThan(0);
    expect(rows[2].time_total_s).toBeGreaterThanOrEqual(
      rows[1].time_total_s + rows[2].time_this_iter_s - 1e-9,
    );

    const policy = await loadPolicyFromDir(path.join(summary.checkpoint!, "model"));
    expect(policy.metadata).toMatchObject({
      algo: "PPO",
      envId: "CartPole-v1",
      actionHead: { kind: "categorical", n: 2 },
    });
    expect([0, 1]).toContain(policy.act(new Float32Array(4)));
    policy.dispose();
    const evaluation = await evaluateCheckpoint(summary.runDir, { episodes: 2, seed: 0 });
    expect(evaluation.returns).toHaveLength(2);
  });

  it("resumes with the same counters, and gives the same curve as an uninterrupted run", async () => {
    const straight = await train(cartPole({ stop: { training_iteration: 4 } }), { mode: "quiet" });
    const first = await train(cartPole({ stop: { training_iteration: 2 } }), { mode: "quiet" });
    const resumed = await train(undefined, {
      resume: first.runDir,
      overrides: ["stop.training_iteration=4"],
      mode: "quiet",
    });
    expect(resumed.runDir).toBe(first.runDir);
    const rows = progressRows(first.runDir);
    expect(rows.map((r) => r.training_iteration)).toEqual([1, 2, 3, 4]);
    expect(rows.map((r) => r.num_env_steps_sampled_lifetime)).toEqual([128, 256, 384, 512]);
    // The checkpoint carries the clock too: time_total_s goes on from where the first run stopped.
    for (let i = 1; i < rows.length; i++)
      expect(rows[i].time_total_s).toBeGreaterThan(rows[i - 1].time_total_s);
    // Same seed and config: identical training curves (losses too) for the first iterations.
    const straightRows = progressRows(straight.runDir);
    for (const key of ["env_runners/episode_return_mean", "learners/policy_loss", "learners/vf_loss"]) {
      expect(rows.slice(0, 2).map((r) => r[key])).toEqual(straightRows.slice(0, 2).map((r) => r[key]));
    }
  });

  it("refuses corrupt and missing checkpoints with a clear error", async () => {
    const summary = await train(cartPole({ stop: { training_iteration: 1 } }), { mode: "quiet" });
    const arrays = path.join(summary.checkpoint!, "arrays.bin");
    const bytes = readFileSync(arrays);
    bytes[10] ^= 0xff;
    writeFileSync(arrays, bytes);
    await expect(readCheckpoint(summary.checkpoint!)).rejects.toThrow(
      /does not match its checksum: the checkpoint is corrupt/,
    );
    await expect(train(undefined, { resume: path.join(scratch, "nope") })).rejects.toThrow(
      /checkpoint not found/,
    );
    await expect(readCheckpoint(scratch)).rejects.toThrow(/no checkpoint_\* folder/);
  });

  it("writes histograms of weights, actions and advantages every logging.histogram_interval iterations", async () => {
    const summary = await train(
      cartPole({ logging: { histogram_interval: 2 }, stop: { training_iteration: 3 } }),
      { mode: "quiet" },
    );
    const { histograms } = readWithTensorBoard(summary.runDir);
    for (const tag of ["learners/weights", "learners/advantages", "env_runners/actions"]) {
      expect(
        histograms[tag]?.map((h) => h.step),
        tag,
      ).toEqual([256]); // iteration 2 of 128 steps each
      expect(histograms[tag][0].num).toBeGreaterThan(0);
    }
  });

  it("resumes cleanly: progress rows after the checkpoint and a cut line go, stale temp folders too", async () => {
    const first = await train(cartPole(), { mode: "quiet" });
    const progress = path.join(first.runDir, "progress.jsonl");
    // What a crash after iteration 3 can leave: its row, half a row, and a half-written checkpoint.
    appendFileSync(progress, '{"training_iteration": 4, "env_runners/episode_ret');
    const stale = path.join(first.runDir, ".checkpoint_000004.tmp-999999");
    mkdirSync(stale);
    const resumed = await train(undefined, {
      resume: path.join(first.runDir, "checkpoint_000002"),
      overrides: ["stop.training_iteration=4"],
      mode: "quiet",
    });
    expect(progressRows(resumed.runDir).map((r) => r.training_iteration)).toEqual([1, 2, 3, 4]);
    expect(existsSync(stale)).toBe(false);
    // TensorBoard drops the first run's iteration 3 (logged after checkpoint 2) at the restart marker.
    const iterations = readWithTensorBoard(resumed.runDir).scalars.training_iteration;
    expect(iterations.map((point) => point.value)).toEqual([1, 2, 3, 4]);
  });

  it("refuses to write a run folder another live process holds, and takes over a dead one's lock", async () => {
    const first = await train(cartPole({ stop: { training_iteration: 1 } }), { mode: "quiet" });
    expect(existsSync(path.join(first.runDir, ".lock"))).toBe(false);
    const holder = spawn("sleep", ["30"]);
    try {
      writeFileSync(path.join(first.runDir, ".lock"), String(holder.pid));
      const resume = {
        resume: first.runDir,
        overrides: ["stop.training_iteration=2"],
        mode: "quiet" as const,
      };
      await expect(train(undefined, resume)).rejects.toThrow(
        new RegExp(`is in use by rlts \\(pid ${holder.pid}\\)`),
      );
      holder.kill("SIGKILL");
      await new Promise((resolve) => holder.once("exit", resolve));
      expect((await train(undefined, resume)).iterations).toBe(2);
    } finally {
      holder.kill("SIGKILL");
    }
  });

  it("refuses a config together with --resume, and leaves no folder for a run that cannot start", async () => {
    const first = await train(cartPole({ stop: { training_iteration: 1 } }), { mode: "quiet" });
    await expect(train(cartPole(), { resume: first.runDir })).rejects.toThrow(/not both/);
    const output = path.join(scratch, "never-started");
    await expect(train(cartPole({ output, env: { id: "NoSuchEnv-v0" } }), { mode: "quiet" })).rejects.toThrow(
      /NoSuchEnv-v0/,
    );
    expect(readdirSync(path.join(output, "trainer-test"))).toEqual([]);
  });

  it("checksums the exported policy and the config too: evaluate and export refuse a changed file", async () => {
    const summary = await train(cartPole({ stop: { training_iteration: 1 } }), { mode: "quiet" });
    const dir = summary.checkpoint!;
    // A same-size overwrite of the policy's weights used to evaluate silently wrong.
    const weights = path.join(dir, "model", "weights.bin");
    writeFileSync(weights, Buffer.alloc(readFileSync(weights).length));
    await expect(evaluateCheckpoint(dir, { episodes: 1, seed: 0 })).rejects.toThrow(
      /model\/weights\.bin does not match its checksum/,
    );
    await expect(exportPolicy(dir, path.join(scratch, "exported"))).rejects.toThrow(
      /model\/weights\.bin does not match its checksum/,
    );
    const other = await train(cartPole({ stop: { training_iteration: 1 } }), { mode: "quiet" });
    writeFileSync(path.join(other.checkpoint!, "config.yaml"), "");
    await expect(readCheckpoint(other.checkpoint!)).rejects.toThrow(
      expect.objectContaining({
        name: "CheckpointError",
        message: expect.stringMatching(/config\.yaml does not match its checksum/),
      }),
    );
  });

  it("loads a user env module (env.module) and trains on its env", async () => {
    const module = path.resolve("test/fixtures/corridor_env.ts");
    const summary = await train(
      cartPole({
        env: { id: "rlts-test/Corridor-v0", module, max_episode_steps: 50 },
        stop: { training_iteration: 1 },
      }),
      { mode: "quiet" },
    );
    expect(summary.metrics.num_env_steps_sampled_lifetime).toBe(128);
    expect(existsSync(path.join(summary.checkpoint!, "model", "policy.json"))).toBe(true);
  });
});
