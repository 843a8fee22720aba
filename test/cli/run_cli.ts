import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

export const root = path.resolve(import.meta.dirname, "../..");

/** `rlts <args>` from the sources (through tsx), as a user's `rlts` runs from dist/. */
export function startCli(args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "-e",
      `import("./src/cli/main.ts").then((m) => m.runCli([process.argv[0], "rlts", ...process.argv.slice(1)]))`,
      "--",
      ...args,
    ],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
  );
}

/** Runs `rlts <args>` to the end: its exit code, stdout and stderr. */
export function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = startCli(args);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr })));
}
