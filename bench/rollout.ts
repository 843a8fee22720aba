/**
 * Rollout sampling throughput with policy inference, rlts against Python Gymnasium + PyTorch in the same
 * run, and the object store's weight broadcast.
 *
 *   npx tsx bench/rollout.ts
 *
 * 1. Sampling: CartPole-v1, CleanRL's actor-critic (separate 64-64 tanh MLPs), env steps per second of
 *    one iteration (`group.sample()`: every runner samples STEPS_PER_RUNNER env steps, in parallel) for
 *    0 env-runner threads (LocalEnvRunnerGroup, the main thread), 1 and 2 threads, each with 1, 8 and
 *    32 envs per runner. Python: CleanRL's loop over `gymnasium.make_vec(..., "sync" | "async")` with
 *    torch inference (bench/python/rollout_gym.py, run with bench/.venv/bin/python; gymnasium taken from
 *    python/.venv when bench/.venv lacks it). Medians of several repeats.
 * 2. Broadcast: a 1M-float32 model `put` into the ObjectStore, then every reader thread (woken by
 *    `waitForVersion`, as rollout workers are) copies it out with `get`: the `put` time, each `get`'s
 *    time, and the wall time from the start of the `put` until the last reader has its copy.
 *
 * The machine is shared: figures move with its load; compare within one run.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isMainThread, workerData } from "node:worker_threads";
import { ppoRunConfigSchema } from "../src/algos/ppo/config.js";
import { initialWeights } from "../src/models/catalog.js";
import { onPolicyRunnerConfig } from "../src/rollout/env_runner.js";
import { WEIGHTS_ENTRY } from "../src/rollout/env_runner_group.js";
import { createEnvRunnerGroup } from "../src/rollout/placement.js";
import { startWorkerThread } from "../src/rollout/worker_thread.js";
import { ObjectStore, type StoreHandle } from "../src/store/object_store.js";

const REPEATS = 5;
const PYTHON_REPEATS = 3;
/** Env steps each runner samples per timed iteration: enough that one takes ~0.1 s at rlts's rate. */
const STEPS_PER_RUNNER = 32768;
/** Env steps per timed Python fragment (Python samples ~10x slower, so fewer give as long a timing). */
const PYTHON_STEPS = 4096;
const RUNNER_COUNTS = [0, 1, 2];
const ENVS_PER_RUNNER = [1, 8, 32];
const BROADCAST_FLOATS = 1_000_000;
const BROADCAST_READERS = 2;
const BROADCAST_REPEATS = 20;
const PYTHON = fileURLToPath(new URL("./.venv/bin/python", import.meta.url));
const PYTHON_BENCH = fileURLToPath(new URL("./python/rollout_gym.py", import.meta.url));
const GYMNASIUM_VENV_LIB = fileURLToPath(new URL("../python/.venv/lib/", import.meta.url));

export interface SamplingRow {
  name: string;
  /** Env steps per second, median. */
  stepsPerSecond: number;
}

export interface BroadcastResult {
  floats: number;
  readers: number;
  putMs: number;
  /** Median over repeats of the slowest reader's `get`. */
  getMs: number;
  /** Median over repeats: from the start of `put` until the last reader holds the new version. */
  wallMs: number;
}

export interface RolloutBenchResult {
  rlts: SamplingRow[];
  /** Empty when bench/.venv (torch) is missing; `pythonMissing` says why. */
  python: SamplingRow[];
  pythonMissing?: string;
  broadcast: BroadcastResult;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function samplingRate(numRunners: number, numEnvs: number): Promise<number> {
  const config = ppoRunConfigSchema.parse({
    env: { id: "CartPole-v1" },
    env_runners: {
      num_env_runners: numRunners,
      num_envs_per_env_runner: numEnvs,
      rollout_fragment_length: STEPS_PER_RUNNER / numEnvs,
    },
  });
  const group = await createEnvRunnerGroup(onPolicyRunnerConfig(config, config.ppo));
  try {
    const weights = initialWeights(group.moduleSpec, 0);
    const rates: number[] = [];
    for (let version = 1; version <= REPEATS + 1; version++) {
      group.store.put(WEIGHTS_ENTRY, weights);
      await group.syncWeights(version);
      const start = performance.now();
      const fragments = await group.sample();
      const seconds = (performance.now() - start) / 1000;
      const steps = fragments.reduce((n, f) => n + f.spec.numSteps * f.spec.numEnvs, 0);
      if (version > 1) rates.push(steps / seconds); // the first iteration warms up V8 and the envs
    }
    return median(rates);
  } finally {
    await group.stop();
  }
}

/** Python's rows, or why there are none. */
function pythonRows(): { rows: SamplingRow[]; missing?: string } {
  if (!existsSync(PYTHON)) return { rows: [], missing: "bench/.venv is missing (run bench/setup.sh)" };
  const extraPaths = existsSync(GYMNASIUM_VENV_LIB)
    ? readdirSync(GYMNASIUM_VENV_LIB).flatMap((dir) => [
        "--extra-path",
        `${GYMNASIUM_VENV_LIB}${dir}/site-packages`,
      ])
    : [];
  const rows: SamplingRow[] = [];
  for (const [mode, envCounts, label] of [
    ["sync", ENVS_PER_RUNNER, "SyncVectorEnv"],
    ["async", ENVS_PER_RUNNER.filter((n) => n > 1), "AsyncVectorEnv (one process per env)"],
  ] as const) {
    const args = [
      PYTHON_BENCH,
      "--mode",
      mode,
      "--num-envs",
      ...envCounts.map(String),
      "--steps",
      String(PYTHON_STEPS),
      "--repeats",
      String(PYTHON_REPEATS),
      ...extraPaths,
    ];
    const child = spawnSync(PYTHON, args, { encoding: "utf8" });
    if (child.status !== 0) {
      return {
        rows,
        missing: `${PYTHON_BENCH} --mode ${mode} failed: ${(child.stderr || String(child.error)).trim()}`,
      };
    }
    for (const line of child.stdout.trim().split("\n")) {
      const { num_envs, rates } = JSON.parse(line) as { num_envs: number; rates: number[] };
      rows.push({ name: `gymnasium ${label} x${num_envs} + torch`, stepsPerSecond: median(rates) });
    }
  }
  return { rows };
}

interface BroadcastReaderData {
  role: "broadcast-reader";
  handle: StoreHandle;
  /** Int32 [readers done with the newest version]; Float64 [reader] = its last get, ms. */
  done: SharedArrayBuffer;
  getMs: SharedArrayBuffer;
  reader: number;
}

/** A broadcast reader thread: waits for each new version as a rollout worker does, then copies it out. */
async function broadcastReader(data: BroadcastReaderData): Promise<void> {
  const store = ObjectStore.fromHandle(data.handle);
  const into = new Float32Array(store.length("weights"));
  const done = new Int32Array(data.done);
  const getMs = new Float64Array(data.getMs);
  for (let version = 1; version <= BROADCAST_REPEATS + 1; version++) {
    await store.waitForVersion("weights", version, 60_000);
    const start = performance.now();
    store.get("weights", { into, minVersion: version });
    getMs[data.reader] = performance.now() - start;
    Atomics.add(done, 0, 1);
    Atomics.notify(done, 0);
  }
}

async function broadcast(): Promise<BroadcastResult> {
  const store = new ObjectStore();
  store.create("weights", BROADCAST_FLOATS);
  const done = new Int32Array(new SharedArrayBuffer(4));
  const getMs = new Float64Array(new SharedArrayBuffer(8 * BROADCAST_READERS));
  const readers = Array.from({ length: BROADCAST_READERS }, (_, reader) => {
    const data: BroadcastReaderData = {
      role: "broadcast-reader",
      handle: store.handle(),
      done: done.buffer as SharedArrayBuffer,
      getMs: getMs.buffer as SharedArrayBuffer,
      reader,
    };
    return startWorkerThread(new URL(import.meta.url), { workerData: data });
  });
  const exited = readers.map((thread) => new Promise((resolve) => thread.once("exit", resolve)));
  const weights = Float32Array.from({ length: BROADCAST_FLOATS }, (_, i) => Math.sin(i));
  const put: number[] = [];
  const get: number[] = [];
  const wall: number[] = [];
  try {
    for (let version = 1; version <= BROADCAST_REPEATS + 1; version++) {
      const target = version * BROADCAST_READERS;
      const start = performance.now();
      store.put("weights", weights);
      const putDone = performance.now();
      for (let seen = Atomics.load(done, 0); seen < target; seen = Atomics.load(done, 0)) {
        Atomics.wait(done, 0, seen, 60_000); // the readers notify as each finishes
      }
      if (version === 1) continue; // the first round starts the readers' wait loops
      wall.push(performance.now() - start);
      put.push(putDone - start);
      get.push(Math.max(...getMs));
    }
  } finally {
    await Promise.all(readers.map((thread) => thread.terminate()));
    await Promise.all(exited);
  }
  return {
    floats: BROADCAST_FLOATS,
    readers: BROADCAST_READERS,
    putMs: median(put),
    getMs: median(get),
    wallMs: median(wall),
  };
}

export async function runRolloutBench(): Promise<RolloutBenchResult> {
  const rlts: SamplingRow[] = [];
  for (const numRunners of RUNNER_COUNTS) {
    for (const numEnvs of ENVS_PER_RUNNER) {
      const where =
        numRunners === 0
          ? "main thread (0 workers)"
          : `${numRunners} worker thread${numRunners > 1 ? "s" : ""}`;
      rlts.push({
        name: `rlts ${where} x${numEnvs} envs`,
        stepsPerSecond: await samplingRate(numRunners, numEnvs),
      });
    }
  }
  const python = pythonRows();
  return { rlts, python: python.rows, pythonMissing: python.missing, broadcast: await broadcast() };
}

function formatRate(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : `${(x / 1e3).toFixed(1)}k`;
}

if (!isMainThread && (workerData as BroadcastReaderData | undefined)?.role === "broadcast-reader") {
  await broadcastReader(workerData as BroadcastReaderData);
} else if (isMainThread && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runRolloutBench();
  const baseline = result.python.find((row) => row.name.includes("SyncVectorEnv x8"));
  console.log(
    `CartPole-v1 sampling with a 64x64 actor-critic, env steps/s, median of ${REPEATS} iterations ` +
      `(${STEPS_PER_RUNNER} steps per runner each; Python: ${PYTHON_REPEATS} fragments of ${PYTHON_STEPS} steps), same run\n`,
  );
  console.log(`| sampler | env steps/s | vs gymnasium SyncVectorEnv x8 + torch |`);
  console.log("| --- | ---: | ---: |");
  for (const row of [...result.rlts, ...result.python]) {
    const ratio = baseline ? `${(row.stepsPerSecond / baseline.stepsPerSecond).toFixed(2)}x` : "n/a";
    console.log(`| ${row.name} | ${formatRate(row.stepsPerSecond)} | ${ratio} |`);
  }
  if (result.pythonMissing) console.log(`\nPython side missing: ${result.pythonMissing}`);
  else {
    // Issue 4's target: the best rlts row at least 5x the best Python row.
    const fastest = (rows: SamplingRow[]) =>
      rows.reduce((a, b) => (b.stepsPerSecond > a.stepsPerSecond ? b : a));
    const [rlts, python] = [fastest(result.rlts), fastest(result.python)];
    console.log(
      `\nBest rlts (${rlts.name}) / best Python (${python.name}): ` +
        `${(rlts.stepsPerSecond / python.stepsPerSecond).toFixed(2)}x`,
    );
  }
  const b = result.broadcast;
  console.log(
    `\nWeight broadcast, ${b.floats / 1e6}M float32 to ${b.readers} reader threads, median of ${BROADCAST_REPEATS}:\n`,
  );
  console.log("| put | slowest reader's get | put until every reader has it |");
  console.log("| ---: | ---: | ---: |");
  console.log(`| ${b.putMs.toFixed(3)} ms | ${b.getMs.toFixed(3)} ms | ${b.wallMs.toFixed(3)} ms |`);
}
