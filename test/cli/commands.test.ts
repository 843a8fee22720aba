import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRunConfig } from "../../src/algos/index.js";
import { train } from "../../src/scheduler/trainer.js";
import { root, runCli, startCli } from "./run_cli.js";

/** The CLI's commands as a user runs them, each in a fresh process. */
const output = mkdtempSync(path.join(tmpdir(), "rlts-cli-"));
let customCheckpoint: string;
let cartPoleCheckpoint: string;
beforeAll(async () => {
  const base = {
    output,
    learner: { backend: "cpu" },
    ppo: { train_batch_size: 64, minibatch_size: 32, num_epochs: 1 },
    stop: { training_iteration: 1 },
  };
  const module = path.join(root, "test/fixtures/corridor_env.ts");
  const custom = await train(
    parseRunConfig({ ...base, algo: "PPO", name: "custom", env: { id: "rlts-test/Corridor-v0", module } }),
    { mode: "quiet" },
  );
  customCheckpoint = custom.checkpoint!;
  const cartPole = await train(
    parseRunConfig({ ...base, algo: "PPO", name: "cartpole", env: { id: "CartPole-v1" } }),
    {
      mode: "quiet",
    },
  );
  cartPoleCheckpoint = cartPole.checkpoint!;
}, 60_000);
afterAll(() => rmSync(output, { recursive: true, force: true }));

describe("rlts commands", () => {
  it("--version prints the package's version", async () => {
    const { code, stdout } = await runCli(["--version"]);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).version);
  });

  it("prints one line for a user error, and the stack with --verbose", async () => {
    const plain = await runCli(["evaluate", path.join(output, "no-such-run")]);
    expect(plain.code).toBe(1);
    expect(plain.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^rlts: checkpoint not found/)]);
    const verbose = await runCli(["evaluate", path.join(output, "no-such-run"), "--verbose"]);
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/checkpoint not found[\s\S]*\n\s+at /);
  });

  it("an env kwarg the env does not take is one line naming the env, the kwarg and the accepted ones", async () => {
    const typo = await runCli([
      "train",
      "configs/ppo-cartpole.yaml",
      "--set",
      "env.kwargs.sutton_barto_rewrd=true",
      "--set",
      `output=${output}`,
    ]);
    expect(typo.code).toBe(1);
    expect(typo.stderr.trim().split("\n")).toEqual([
      'rlts: CartPole-v1: unknown kwarg "sutton_barto_rewrd" (did you mean "sutton_barto_reward"?); accepted kwargs: render_mode, sutton_barto_reward',
    ]);
  });

  it("envs --module lists the envs a user module registers", async () => {
    const { code, stdout } = await runCli(["envs", "--module", "test/fixtures/corridor_env.ts"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/rlts-test\/Corridor-v0/);
  });

  it("evaluate loads the run's env.module, so custom envs evaluate too", { timeout: 60_000 }, async () => {
    const { code, stdout, stderr } = await runCli(["evaluate", customCheckpoint, "--episodes", "2"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/episodes 2: return mean/);
  });

  it("evaluate --render ansi into a reader that goes away exits quietly (EPIPE)", {
    timeout: 60_000,
  }, async () => {
    const child = startCli(["evaluate", cartPoleCheckpoint, "--episodes", "20", "--render", "ansi"]);
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout!.once("data", () => child.stdout!.destroy());
    const code = await new Promise((resolve) => child.once("exit", resolve));
    expect(stderr).not.toMatch(/EPIPE|Error/);
    expect(code).toBe(0);
  });
});
