/**
 * rlts against Stable-Baselines3, both sides in this one run so machine load hits both alike:
 *   --algo ppo | dqn: CartPole-v1, env steps and training seconds until the mean return of the last 100
 *     episodes reaches 475;
 *   --algo sac: Pendulum-v1, until the greedy policy's mean return over 10 evaluation episodes (every
 *     1000 steps, evaluation time counted on both sides) reaches -200. rlts runs its shipped config
 *     (64x64 networks) and, as `rlts 256x256`, the same networks as SB3's;
 *   --algo sac-hopper: Hopper-v5 (MuJoCo, through the bridge for rlts), 50k env steps, the greedy return
 *     every 5k steps (needs `mujoco` and `imageio` in python/.venv and bench/.venv).
 *
 *   npm run build                     # rlts side runs the built CLI with configs/<algo>-<env>.yaml
 *   bench/.venv/bin/pip install stable-baselines3==2.9.2 gymnasium==1.4.0   # once, if bench/setup.sh did not
 *   npx tsx bench/sb3.ts [--algo ppo|dqn|sac] [--seeds 0,1,2] [--torch-threads 1,0]
 *
 * SB3 uses rl-baselines3-zoo's hyperparameters (bench/python/sb3_<algo>.py) with PyTorch on each of
 * `--torch-threads` (0: its default, one thread per core). Training seconds leave out process start-up on
 * both sides (rlts: progress.jsonl `time_total_s`; SB3: from the start of `learn()`); the process column
 * has it in. Seeds are passed to both, but the two draw different random streams, so per-seed rows are
 * not paired runs: compare medians.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  formatNumber,
  median,
  type ReturnMetric,
  runForLastJsonLine,
  trainSeed,
} from "../scripts/run_seeds.js";

const PYTHON = fileURLToPath(new URL("./.venv/bin/python", import.meta.url));

interface Benchmark {
  config: string;
  env: string;
  /** The peer script bench/python/sb3_<script>.py and its extra arguments. */
  sb3: { script: string; args: string[] };
  threshold: number;
  metric: ReturnMetric;
  /** rlts variants beyond the shipped config: a name and its `--set` overrides. */
  variants: { name: string; overrides: string[] }[];
}

const BENCHMARKS: Record<"ppo" | "dqn" | "sac" | "sac-hopper", Benchmark> = {
  ppo: {
    config: "ppo-cartpole",
    env: "CartPole-v1",
    sb3: { script: "ppo", args: [] },
    threshold: 475,
    metric: "env_runners/episode_return_mean",
    variants: [],
  },
  dqn: {
    config: "dqn-cartpole",
    env: "CartPole-v1",
    sb3: { script: "dqn", args: [] },
    threshold: 475,
    metric: "env_runners/episode_return_mean",
    variants: [],
  },
  sac: {
    config: "sac-pendulum",
    env: "Pendulum-v1",
    sb3: { script: "sac", args: ["--env", "Pendulum-v1"] },
    threshold: -200,
    metric: "evaluation/env_runners/episode_return_mean",
    variants: [
      { name: "rlts 256x256", overrides: ["model.hiddens=[256,256]", "sac.q_model.hiddens=[256,256]"] },
    ],
  },
  // No threshold: the returns after 50k steps, side by side.
  "sac-hopper": {
    config: "sac-hopper-gymnasium",
    env: "Hopper-v5",
    sb3: { script: "sac", args: ["--env", "Hopper-v5"] },
    threshold: Number.POSITIVE_INFINITY,
    metric: "evaluation/env_runners/episode_return_mean",
    variants: [],
  },
};

/** One run of one side: the same fields for rlts and SB3. */
interface Row {
  side: string;
  seed: number;
  stepsToThreshold: number | null;
  secondsToThreshold: number | null;
  processSeconds: number;
  finalReturn: number | null;
  finalSteps: number;
}

async function runSb3(
  { script, args }: Benchmark["sb3"],
  seed: number,
  threshold: number,
  threads: number,
): Promise<Row> {
  const file = fileURLToPath(new URL(`./python/sb3_${script}.py`, import.meta.url));
  const { lastJson, processSeconds } = await runForLastJsonLine(
    PYTHON,
    [
      file,
      ...args,
      "--seed",
      String(seed),
      "--threshold",
      String(threshold),
      "--torch-threads",
      String(threads),
    ],
    `${file} --seed ${seed} --torch-threads ${threads}`,
  );
  const result = lastJson as {
    steps_to_threshold: number | null;
    seconds_to_threshold: number | null;
    final_return: number | null;
    final_steps: number;
    torch_threads?: number;
  };
  return {
    side: `SB3, torch ${threads === 0 ? `default (${result.torch_threads ?? "?"})` : threads} thread${threads === 1 ? "" : "s"}`,
    seed,
    stepsToThreshold: result.steps_to_threshold,
    secondsToThreshold: result.seconds_to_threshold,
    processSeconds,
    finalReturn: result.final_return,
    finalSteps: result.final_steps,
  };
}

function checkPython(): void {
  if (!existsSync(PYTHON)) {
    throw new Error(
      `${PYTHON} is missing: run bench/setup.sh, then bench/.venv/bin/pip install stable-baselines3`,
    );
  }
}

function option(argv: string[], name: string, fallback: string): string {
  const at = argv.indexOf(name);
  return at >= 0 ? (argv[at + 1] ?? "") : fallback;
}

function parseAlgo(argv: string[]): keyof typeof BENCHMARKS {
  const algo = option(argv, "--algo", "ppo");
  if (!(algo in BENCHMARKS)) {
    throw new Error(`--algo: expected one of ${Object.keys(BENCHMARKS).join(", ")}, got "${algo}"`);
  }
  return algo as keyof typeof BENCHMARKS;
}

function parseIntegers(argv: string[], name: string, fallback: string): number[] {
  const text = option(argv, name, fallback);
  const values = text.split(",").map(Number);
  if (values.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new Error(`${name}: expected comma-separated non-negative integers, got "${text}"`);
  }
  return values;
}

checkPython();
const argv = process.argv.slice(2);
const algo = parseAlgo(argv);
const benchmark = BENCHMARKS[algo];
const CONFIG = fileURLToPath(new URL(`../configs/${benchmark.config}.yaml`, import.meta.url));
const seeds = parseIntegers(argv, "--seeds", "0,1,2");
const torchThreads = parseIntegers(argv, "--torch-threads", "1");
const rows: Row[] = [];
for (const [i, seed] of seeds.entries()) {
  const rltsSides = [{ name: "rlts", overrides: [] as string[] }, ...benchmark.variants].map(
    ({ name, overrides }) =>
      async () => {
        const result = await trainSeed(
          CONFIG,
          seed,
          benchmark.threshold,
          ["output=experiments/bench-sb3", ...overrides],
          benchmark.metric,
        );
        rows.push({ side: name, ...result });
      },
  );
  const sb3Sides = torchThreads.map((threads) => async () => {
    rows.push(await runSb3(benchmark.sb3, seed, benchmark.threshold, threads));
  });
  // Alternate which side goes first so a load spike from the other engineers does not always hit one side.
  const sides = [...rltsSides, ...sb3Sides];
  for (const run of i % 2 === 0 ? sides : sides.reverse()) await run();
  console.error(
    rows
      .filter((r) => r.seed === seed)
      .map(
        (r) =>
          `seed ${seed} ${r.side}: ${formatNumber(r.stepsToThreshold)} steps ${formatNumber(r.secondsToThreshold, 1)} s`,
      )
      .join("\n"),
  );
}

const sideNames = [...new Set(rows.map((r) => r.side))];
const reached = (values: (number | null)[]) => `${values.filter((v) => v !== null).length}/${values.length}`;
const table = [
  `| side | seed | env steps to ${benchmark.threshold} | training s to ${benchmark.threshold} | process s | final return @ steps |`,
  "| --- | ---: | ---: | ---: | ---: | ---: |",
  ...rows.map(
    (r) =>
      `| ${r.side} | ${r.seed} | ${formatNumber(r.stepsToThreshold)} | ${formatNumber(r.secondsToThreshold, 1)} | ` +
      `${r.processSeconds.toFixed(1)} | ${formatNumber(r.finalReturn, 1)} @ ${r.finalSteps} |`,
  ),
  ...sideNames.map((side) => {
    const own = rows.filter((r) => r.side === side);
    return (
      `| ${side} median (${reached(own.map((r) => r.stepsToThreshold))} reached) | | ` +
      `${formatNumber(median(own.map((r) => r.stepsToThreshold)))} | ${formatNumber(median(own.map((r) => r.secondsToThreshold)), 1)} | ` +
      `${median(own.map((r) => r.processSeconds))!.toFixed(1)} | |`
    );
  }),
];
console.log(
  `${algo.toUpperCase()} ${benchmark.env} to ${benchmark.metric} >= ${benchmark.threshold}, seeds ${seeds.join(", ")}\n`,
);
console.log(table.join("\n"));
const rltsSeconds = median(rows.filter((r) => r.side === "rlts").map((r) => r.secondsToThreshold));
for (const side of sideNames.filter((s) => s !== "rlts")) {
  const seconds = median(rows.filter((r) => r.side === side).map((r) => r.secondsToThreshold));
  if (rltsSeconds !== null && seconds !== null) {
    console.log(
      `${side} / rlts median training time: ${(seconds / rltsSeconds).toFixed(2)}x (above 1: rlts is faster)`,
    );
  }
}
