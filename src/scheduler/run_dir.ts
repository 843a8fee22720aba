import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { ConfigError } from "../config/load.js";
import type { CommonRunConfig } from "../config/schema.js";
import { processAlive } from "../utils/process.js";

function timestamp(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}_` +
    `${pad(date.getHours())}-${pad(date.getMinutes())}-${pad(date.getSeconds())}`
  );
}

/** Creates `<output>/<name>/<algo>_<env>_<time>_seed<seed>[_k]/` (RLlib-like run names) and returns it. */
export async function createRunDir(config: CommonRunConfig, cwd = process.cwd()): Promise<string> {
  const env = config.env.id.replace(/[^A-Za-z0-9._-]+/g, "_");
  const base = path.resolve(
    cwd,
    config.output,
    config.name,
    `${config.algo}_${env}_${timestamp(new Date())}_seed${config.seed}`,
  );
  let dir = base;
  for (let k = 1; existsSync(dir); k++) dir = `${base}_${k}`;
  await mkdir(dir, { recursive: true });
  return dir;
}

/**
 * Takes `runDir/.lock` for this process, so that no second process writes the same run (a resume while
 * the run is still going, say). A lock whose process has gone (a crash, SIGKILL) is taken over. Returns
 * the release function.
 */
export function lockRunDir(runDir: string): () => void {
  const lock = path.join(runDir, ".lock");
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: "wx" });
      return () => rmSync(lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = Number(readFileSync(lock, "utf8"));
    if (Number.isInteger(holder) && holder > 0 && processAlive(holder)) {
      throw new ConfigError(
        `run folder ${runDir} is in use by rlts (pid ${holder}); two processes must not write one run`,
      );
    }
    rmSync(lock, { force: true });
  }
}
