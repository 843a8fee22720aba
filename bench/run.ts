/**
 * `npm run bench [-- name ...]`: runs the benchmarks one after another, each in its own process so one
 * does not warm up or slow down the next. Each prints a markdown table with medians and ratios against
 * its Python baseline measured in the same run.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const BENCHES = [
  "envs",
  "learner",
  "learner_thread",
  "sac_update",
  "cnn",
  "rollout",
  "dqn_async",
  "remote",
  "ray",
  "logging",
  "sb3",
];
const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !BENCHES.includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s) ${unknown.join(", ")}; choose from ${BENCHES.join(", ")}`);
  process.exit(2);
}
let failed = 0;
for (const name of requested.length > 0 ? requested : BENCHES) {
  const file = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  if (!existsSync(file)) continue;
  console.log(`\n## ${name}\n`);
  const result = spawnSync(process.execPath, ["--import", "tsx", file], { stdio: "inherit" });
  if (result.status !== 0) {
    console.error(`bench ${name} failed (exit ${result.status ?? result.signal})`);
    failed += 1;
  }
}
process.exit(failed > 0 ? 1 : 0);
