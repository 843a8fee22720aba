/**
 * CartPole-v1 random-action stepping rate, rlts against Python Gymnasium measured in the same run.
 *
 *   npx tsx bench/envs.ts
 *
 * Rows (env steps per second, median of several repeats; each repeat times a whole loop):
 * 1. one env from `makeEnv` (TimeLimit + checker around CartPoleEnv, as `gymnasium.make` wraps it) in a
 *    plain reset/step loop with `actionSpace.sample()`, against the same loop on `gymnasium.make`;
 * 2. the bare `CartPoleEnv` in that loop (what the wrappers cost), against the same Python figure;
 * 3. `SyncVectorEnv.stepSync` over 16 envs (from `makeVectorEnv`, each wrapped as in row 1), against
 *    `gymnasium.vector.SyncVectorEnv` of 16 `gymnasium.make` envs.
 * The Python loops run in bench/python/envs_gym.py, a child process of this one; the machine is shared,
 * so only the ratios within one run mean much.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CartPoleEnv } from "../src/envs/classic/index.js";
import { makeEnv } from "../src/envs/registry.js";
import type { Env } from "../src/envs/types.js";
import { makeVectorEnv } from "../src/envs/vector.js";
import { createRng } from "../src/utils/rng.js";

export interface BenchResult {
  name: string;
  /** rlts env steps per second (median). */
  stepsPerSecond: number;
  /** Python Gymnasium's env steps per second for the same loop (median). */
  pythonStepsPerSecond: number;
  /** stepsPerSecond / pythonStepsPerSecond. */
  ratio: number;
}

const REPEATS = 5;
const NUM_ENVS = 16;
const PYTHON = fileURLToPath(new URL("../python/.venv/bin/python", import.meta.url));
const PYTHON_BENCH = fileURLToPath(new URL("./python/envs_gym.py", import.meta.url));

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Env steps per second of one timed run of `run(calls)`. */
function rate(calls: number, stepsPerCall: number, run: (calls: number) => void): number {
  const start = process.hrtime.bigint();
  run(calls);
  return (calls * stepsPerCall) / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** The loop a user writes: step with a sampled action, reset when the episode ends. */
function singleEnvLoop(env: Env): (calls: number) => void {
  env.actionSpace.seed(0);
  env.reset({ seed: 0 });
  return (calls) => {
    for (let t = 0; t < calls; t++) {
      const [, , terminated, truncated] = env.step(env.actionSpace.sample());
      if (terminated || truncated) env.reset();
    }
  };
}

/**
 * The vector loop. Python samples the batch of 16 actions with one `action_space.sample()` call; the
 * counterpart here is one uniform draw whose 16 bits are the 16 binary actions.
 */
function vectorEnvLoop(): (calls: number) => void {
  const envs = makeVectorEnv("CartPole-v1", NUM_ENVS);
  const actions = new Int32Array(NUM_ENVS);
  const rng = createRng(0);
  envs.resetSync({ seed: 0 });
  return (calls) => {
    for (let t = 0; t < calls; t++) {
      const bits = Math.floor(rng() * 2 ** NUM_ENVS);
      for (let i = 0; i < NUM_ENVS; i++) actions[i] = (bits >> i) & 1;
      envs.stepSync(actions);
    }
  };
}

/** One repeat of the Python loops (a fresh child process, so its repeats interleave with ours). */
function pythonRates(): { single: number; vector: number } {
  const args = [
    "--steps",
    "20000",
    "--vector-steps",
    "1500",
    "--num-envs",
    String(NUM_ENVS),
    "--repeats",
    "1",
  ];
  const child = spawnSync(PYTHON, [PYTHON_BENCH, ...args], { encoding: "utf8" });
  if (child.status !== 0) {
    throw new Error(
      `${PYTHON_BENCH} failed (exit ${child.status ?? child.signal}): ${child.stderr || child.error}`,
    );
  }
  const result = JSON.parse(child.stdout.trim().split("\n").at(-1) ?? "");
  return { single: result.single[0], vector: result.vector[0] };
}

/**
 * Each repeat runs the Python loops, then every rlts loop once, so that a change in the shared machine's
 * load hits both sides of a ratio alike; the figures are medians over the repeats.
 */
export async function runEnvBench(): Promise<BenchResult[]> {
  const loops = [
    {
      name: "CartPole-v1, 1 env, makeEnv (TimeLimit + checker)",
      python: "single",
      calls: 1_000_000,
      perCall: 1,
      run: singleEnvLoop(makeEnv("CartPole-v1")),
    },
    {
      name: "CartPole-v1, 1 env, bare CartPoleEnv",
      python: "single",
      calls: 1_000_000,
      perCall: 1,
      run: singleEnvLoop(new CartPoleEnv()),
    },
    {
      name: `CartPole-v1, SyncVectorEnv x${NUM_ENVS} (stepSync)`,
      python: "vector",
      calls: 50_000,
      perCall: NUM_ENVS,
      run: vectorEnvLoop(),
    },
  ] as const;
  // Warm-up, so that V8 has optimised every loop before it is timed.
  for (const loop of loops) loop.run(loop.calls / 10);
  const rates: number[][] = loops.map(() => []);
  const pythonRuns = { single: [] as number[], vector: [] as number[] };
  for (let r = 0; r < REPEATS; r++) {
    const python = pythonRates();
    pythonRuns.single.push(python.single);
    pythonRuns.vector.push(python.vector);
    loops.forEach((loop, i) => {
      rates[i].push(rate(loop.calls, loop.perCall, loop.run));
    });
  }
  return loops.map((loop, i) => {
    const stepsPerSecond = median(rates[i]);
    const pythonStepsPerSecond = median(pythonRuns[loop.python]);
    return {
      name: loop.name,
      stepsPerSecond,
      pythonStepsPerSecond,
      ratio: stepsPerSecond / pythonStepsPerSecond,
    };
  });
}

function formatRate(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(0)}k`;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await runEnvBench();
  console.log(
    `env steps/s, median of ${REPEATS} repeats; Python = gymnasium in bench/python/envs_gym.py, same run\n`,
  );
  console.log("| loop | rlts | Python gymnasium | rlts / Python |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const r of results) {
    console.log(
      `| ${r.name} | ${formatRate(r.stepsPerSecond)} | ${formatRate(r.pythonStepsPerSecond)} | ${r.ratio.toFixed(1)}x |`,
    );
  }
}
