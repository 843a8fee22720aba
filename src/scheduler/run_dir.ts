import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { CommonRunConfig } from "../config/schema.js";

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
