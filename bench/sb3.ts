/**
 * rlts against Stable-Baselines3 on CartPole-v1, PPO or DQN: env steps and training seconds until the mean
 * return of the last 100 episodes reaches 475, per seed, both sides in this one run so machine load hits
 * both alike.
 *
 *   npm run build                     # rlts side runs the built CLI with configs/<algo>-cartpole.yaml
 *   bench/.venv/bin/pip install stable-baselines3==2.9.2 gymnasium==1.4.0   # once, if bench/setup.sh did not
 *   npx tsx bench/sb3.ts [--algo ppo|dqn] [--seeds 0,1,2]
 *
 * SB3 uses rl-baselines3-zoo's CartPole hyperparameters (bench/python/sb3_<algo>.py). Training seconds leave
 * out process start-up on both sides (rlts: progress.jsonl `time_total_s`; SB3: from the start of
 * `learn()`); the process column has it in. Seeds are passed to both, but the two draw different random
 * streams, so per-seed rows are not paired runs: compare medians.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  formatNumber,
  median,
  runForLastJsonLine,
  type SeedResult,
  trainSeed,
} from "../scripts/run_seeds.js";

const THRESHOLD = 475;
const PYTHON = fileURLToPath(new URL("./.venv/bin/python", import.meta.url));

interface Sb3Result {
  seed: number;
  steps_to_threshold: number | null;
  seconds_to_threshold: number | null;
  final_return: number | null;
  final_steps: number;
  processSeconds: number;
}

async function runSb3(seed: number): Promise<Sb3Result> {
  const { lastJson, processSeconds } = await runForLastJsonLine(
    PYTHON,
    [SB3_SCRIPT, "--seed", String(seed), "--threshold", String(THRESHOLD)],
    `${SB3_SCRIPT} --seed ${seed}`,
  );
  return { ...(lastJson as Omit<Sb3Result, "processSeconds">), processSeconds };
}

function checkPython(): void {
  if (!existsSync(PYTHON)) {
    throw new Error(
      `${PYTHON} is missing: run bench/setup.sh, then bench/.venv/bin/pip install stable-baselines3`,
    );
  }
}

function parseAlgo(argv: string[]): "ppo" | "dqn" {
  const at = argv.indexOf("--algo");
  const algo = at >= 0 ? argv[at + 1] : "ppo";
  if (algo !== "ppo" && algo !== "dqn") throw new Error(`--algo: expected ppo or dqn, got "${algo}"`);
  return algo;
}

function parseSeeds(argv: string[]): number[] {
  const at = argv.indexOf("--seeds");
  const text = at >= 0 ? argv[at + 1] : "0,1,2";
  const seeds = (text ?? "").split(",").map(Number);
  if (seeds.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new Error(`--seeds: expected comma-separated non-negative integers, got "${text}"`);
  }
  return seeds;
}

checkPython();
const algo = parseAlgo(process.argv.slice(2));
const CONFIG = fileURLToPath(new URL(`../configs/${algo}-cartpole.yaml`, import.meta.url));
const SB3_SCRIPT = fileURLToPath(new URL(`./python/sb3_${algo}.py`, import.meta.url));
const seeds = parseSeeds(process.argv.slice(2));
const rlts: SeedResult[] = [];
const sb3: Sb3Result[] = [];
for (const [i, seed] of seeds.entries()) {
  // Alternate which side goes first so a load spike from the other engineers does not always hit one side.
  const runRlts = async () => {
    rlts.push(await trainSeed(CONFIG, seed, THRESHOLD, ["output=experiments/bench-sb3"]));
  };
  const runPeer = async () => {
    sb3.push(await runSb3(seed));
  };
  for (const run of i % 2 === 0 ? [runRlts, runPeer] : [runPeer, runRlts]) await run();
  const [r, s] = [rlts.at(-1)!, sb3.at(-1)!];
  console.error(
    `seed ${seed}: rlts ${formatNumber(r.stepsToThreshold)} steps ${formatNumber(r.secondsToThreshold, 1)} s; ` +
      `sb3 ${formatNumber(s.steps_to_threshold)} steps ${formatNumber(s.seconds_to_threshold, 1)} s`,
  );
}

const rows = [
  `| side | seed | env steps to ${THRESHOLD} | training s to ${THRESHOLD} | process s | final return @ steps |`,
  "| --- | ---: | ---: | ---: | ---: | ---: |",
  ...rlts.map(
    (r) =>
      `| rlts | ${r.seed} | ${formatNumber(r.stepsToThreshold)} | ${formatNumber(r.secondsToThreshold, 1)} | ` +
      `${r.processSeconds.toFixed(1)} | ${formatNumber(r.finalReturn, 1)} @ ${r.finalSteps} |`,
  ),
  ...sb3.map(
    (s) =>
      `| SB3 | ${s.seed} | ${formatNumber(s.steps_to_threshold)} | ${formatNumber(s.seconds_to_threshold, 1)} | ` +
      `${s.processSeconds.toFixed(1)} | ${formatNumber(s.final_return, 1)} @ ${s.final_steps} |`,
  ),
];
const medianOf = {
  rltsSteps: median(rlts.map((r) => r.stepsToThreshold)),
  rltsSeconds: median(rlts.map((r) => r.secondsToThreshold)),
  sb3Steps: median(sb3.map((s) => s.steps_to_threshold)),
  sb3Seconds: median(sb3.map((s) => s.seconds_to_threshold)),
};
const reached = (values: (number | null)[]) => `${values.filter((v) => v !== null).length}/${values.length}`;
rows.push(
  `| rlts median (${reached(rlts.map((r) => r.stepsToThreshold))} reached) | | ${formatNumber(medianOf.rltsSteps)} | ${formatNumber(medianOf.rltsSeconds, 1)} | ${median(rlts.map((r) => r.processSeconds))!.toFixed(1)} | |`,
  `| SB3 median (${reached(sb3.map((s) => s.steps_to_threshold))} reached) | | ${formatNumber(medianOf.sb3Steps)} | ${formatNumber(medianOf.sb3Seconds, 1)} | ${median(sb3.map((s) => s.processSeconds))!.toFixed(1)} | |`,
);
console.log(`${algo.toUpperCase()} CartPole-v1 to mean return ${THRESHOLD}, seeds ${seeds.join(", ")}\n`);
console.log(rows.join("\n"));
if (medianOf.rltsSeconds !== null && medianOf.sb3Seconds !== null) {
  console.log(
    `\nSB3 / rlts median training time: ${(medianOf.sb3Seconds / medianOf.rltsSeconds).toFixed(2)}x ` +
      `(above 1: rlts is faster); env steps: ${(medianOf.sb3Steps! / medianOf.rltsSteps!).toFixed(2)}x`,
  );
}
