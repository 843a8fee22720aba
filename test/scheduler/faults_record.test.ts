import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseRunConfig } from "../../src/algos/index.js";
import { train } from "../../src/scheduler/trainer.js";

/** A transient env failure costs one restart, which the run folder records; training goes on. */
describe("faults.jsonl", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it("records each runner restart (worker, cause, count) in the run folder", async () => {
    const output = await mkdtemp(path.join(tmpdir(), "rlts-faults-"));
    dirs.push(output);
    const summary = await train(
      parseRunConfig({
        algo: "PPO",
        output,
        env: {
          id: "rlts-test/Corridor-v0",
          module: path.resolve("test/fixtures/corridor_env.ts"),
          // Counted per thread: in the main thread the replacement does not fail again.
          kwargs: { failAtStep: 70 },
        },
        env_runners: { num_envs_per_env_runner: 2 },
        learner: { backend: "cpu" },
        ppo: { train_batch_size: 64, minibatch_size: 32, num_epochs: 1 },
        stop: { training_iteration: 3 },
      }),
      { mode: "quiet" },
    );
    expect(summary.iterations).toBe(3);
    expect(summary.metrics["fault/num_worker_restarts"]).toBe(1);
    const rows = (await readFile(path.join(summary.runDir, "faults.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(rows).toEqual([
      {
        time: expect.any(Number),
        worker: 0,
        cause: expect.stringMatching(/injected failure at step 70/),
        restart: 1,
      },
    ]);
  });
});
