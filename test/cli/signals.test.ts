import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startCli } from "./run_cli.js";

/**
 * Ctrl-C and SIGTERM stop `rlts train` after the current iteration, also with everything in the main
 * thread and no periodic checkpoint (the case that used to run on until killed), and a checkpoint is
 * written. The CLI runs from the sources through tsx, as a user's `rlts` would from dist/.
 */
const output = mkdtempSync(path.join(tmpdir(), "rlts-signals-"));
afterAll(() => rmSync(output, { recursive: true, force: true }));

function train(extra: string[]): ChildProcess {
  return startCli([
    "train",
    "configs/ppo-pendulum.yaml",
    "--set",
    "checkpoint.frequency=0",
    "--set",
    `output=${output}`,
    "--json",
    ...extra,
  ]);
}

/** Resolves once `count` iteration rows were printed. */
function iterations(child: ChildProcess, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let rows = 0;
    child.stdout!.on("data", (chunk: Buffer) => {
      rows += chunk
        .toString()
        .split("\n")
        .filter((line) => line.includes('"training_iteration"')).length;
      if (rows >= count) resolve();
    });
    child.once("exit", (code) => reject(new Error(`rlts exited (${code}) before ${count} iterations`)));
  });
}

function exit(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stderr })));
}

describe("rlts train and signals", () => {
  it.each(["SIGINT", "SIGTERM"] as const)(
    "%s in the main-thread loop stops after the iteration and writes a checkpoint",
    { timeout: 60_000 },
    async (signal) => {
      const child = train(["--set", `name=${signal}`]);
      const exited = exit(child);
      await iterations(child, 2);
      const sent = performance.now();
      child.kill(signal);
      const { code, stderr } = await exited;
      expect(performance.now() - sent).toBeLessThan(10_000);
      expect(code).toBe(0);
      expect(stderr).toMatch(new RegExp(`${signal} received`));
      const [run] = readdirSync(path.join(output, signal));
      expect(readdirSync(path.join(output, signal, run)).some((f) => f.startsWith("checkpoint_"))).toBe(true);
    },
  );
});
