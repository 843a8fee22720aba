/**
 * Gymnasium CartPole-v1 through the bridge (ZeroMQ over tcp and ipc, and shared memory), against the same
 * loop inside Python.
 *
 *   npx tsx bench/remote.ts
 *
 * Each row: N envs in one `python -m rlts_gym` server, stepped by `RemoteVectorEnv` with random actions
 * drawn in TypeScript, over tcp, ipc and shm. The baseline (bench/python/remote_baseline.py) is the server's
 * per-step work without the socket: N gymnasium envs stepped in a Python loop with random actions,
 * observations flattened into one float32 array, finished envs reset. The machine is shared and its speed
 * swings by 1.5x within a minute, so the baseline and the bridge alternate: each of `ROUNDS` rounds runs
 * the baseline, then the bridge over tcp, ipc and shm (each a fresh process or server, median of
 * `REPEATS` timed repeats); a row gives the medians over rounds, and the median of the rounds' ratios.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { makeRemoteVectorEnv, type Transport } from "../src/envs/remote/index.js";
import { createRng } from "../src/utils/rng.js";

export interface RemoteBenchRow {
  numEnvs: number;
  transport: Transport;
  /** Env steps per second through the bridge (median). */
  stepsPerSecond: number;
  /** Env steps per second of the same loop inside Python (median). */
  pythonStepsPerSecond: number;
  /** The median over rounds of bridge / Python in the same round. */
  ratio: number;
}

const ROUNDS = 5;
const REPEATS = 2;
const NUM_ENVS = [1, 8, 64];
/** Vector steps per timed repeat: about 0.2-0.5 s each on a 2-core machine. */
const VECTOR_STEPS: Record<number, number> = { 1: 2000, 8: 800, 64: 200 };
const PYTHON = fileURLToPath(new URL("../python/.venv/bin/python", import.meta.url));
const PYTHON_BASELINE = fileURLToPath(new URL("./python/remote_baseline.py", import.meta.url));

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function pythonRate(numEnvs: number): number {
  const args = [
    PYTHON_BASELINE,
    "--num-envs",
    String(numEnvs),
    "--vector-steps",
    String(VECTOR_STEPS[numEnvs]),
  ];
  const out = execFileSync(PYTHON, [...args, "--repeats", String(REPEATS)], { encoding: "utf8" });
  return median((JSON.parse(out) as { env_steps_per_s: number[] }).env_steps_per_s);
}

async function bridgeRate(numEnvs: number, transport: Transport): Promise<number> {
  const env = await makeRemoteVectorEnv({ id: "CartPole-v1", numEnvs, transport });
  try {
    const rng = createRng(0);
    const actions = new Int32Array(numEnvs);
    const run = async (vectorSteps: number) => {
      for (let t = 0; t < vectorSteps; t++) {
        for (let i = 0; i < numEnvs; i++) actions[i] = rng() < 0.5 ? 0 : 1;
        await env.step(actions);
      }
    };
    await env.reset({ seed: 0 });
    await run(Math.ceil(VECTOR_STEPS[numEnvs] / 5)); // warm-up: V8 and the server's first-step checks
    const rates: number[] = [];
    for (let r = 0; r < REPEATS; r++) {
      const start = process.hrtime.bigint();
      await run(VECTOR_STEPS[numEnvs]);
      rates.push((numEnvs * VECTOR_STEPS[numEnvs]) / (Number(process.hrtime.bigint() - start) / 1e9));
    }
    return median(rates);
  } finally {
    await env.close();
  }
}

export async function runRemoteBench(): Promise<RemoteBenchRow[]> {
  const rows: RemoteBenchRow[] = [];
  const transports = ["tcp", "ipc", "shm"] as const;
  for (const numEnvs of NUM_ENVS) {
    const python: number[] = [];
    const bridge = { tcp: [] as number[], ipc: [] as number[], shm: [] as number[] };
    const ratios = { tcp: [] as number[], ipc: [] as number[], shm: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const baseline = pythonRate(numEnvs);
      python.push(baseline);
      for (const transport of transports) {
        const rate = await bridgeRate(numEnvs, transport);
        bridge[transport].push(rate);
        ratios[transport].push(rate / baseline);
      }
    }
    for (const transport of transports) {
      rows.push({
        numEnvs,
        transport,
        stepsPerSecond: median(bridge[transport]),
        pythonStepsPerSecond: median(python),
        ratio: median(ratios[transport]),
      });
    }
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await runRemoteBench();
  console.log(
    `CartPole-v1 env steps/s, ${ROUNDS} rounds alternating the Python loop (bench/python/remote_baseline.py) and the bridge; medians\n`,
  );
  console.log(
    "| envs per server | transport | bridge | Python loop | bridge / Python | bridge cost per vector step |",
  );
  console.log("| ---: | --- | ---: | ---: | ---: | ---: |");
  for (const r of rows) {
    const rate = (x: number) => Math.round(x).toLocaleString("en-US");
    // Time a vector step takes beyond the same work in Python: the round trip, (de)serialising, wake-ups.
    const overheadUs = 1e6 * (r.numEnvs / r.stepsPerSecond - r.numEnvs / r.pythonStepsPerSecond);
    console.log(
      `| ${r.numEnvs} | ${r.transport} | ${rate(r.stepsPerSecond)} | ${rate(r.pythonStepsPerSecond)} | ${(100 * r.ratio).toFixed(0)}% | ${overheadUs.toFixed(0)} µs |`,
    );
  }
}
