/**
 * Env runners on a Ray cluster (`env_runners.placement: ray`), on the test suite's multi-host cluster
 * (a head here, two worker nodes in network namespaces of their own; needs root and Ray in
 * python/.venv). Three measurements, rounds interleaved, medians:
 *
 * 1. Scaling: env steps/s against the number of Ray env runners (1, 2, 4, 8) on SlowCartPole-v1 whose
 *    every step sleeps 2 ms (wall time, no CPU, so this machine's 2 cores do not bound it). Target:
 *    near-linear, at least 0.8 x N at N = 8.
 * 2. Per-fragment overhead on CartPole against runner threads: one runner, 8 envs, 32-step fragments.
 * 3. Weight broadcast: 1M parameters to 8 runners, the extra time of a tiny fragment that carries new
 *    weights over one that does not.
 */
import { fileURLToPath } from "node:url";
import { ppoRunConfigSchema } from "../src/algos/ppo/config.js";
import type { Fragment } from "../src/buffers/fragment.js";
import { initialWeights, weightsSize } from "../src/models/catalog.js";
import { onPolicyRunnerConfig } from "../src/rollout/env_runner.js";
import { type EnvRunnerGroup, WEIGHTS_ENTRY } from "../src/rollout/env_runner_group.js";
import { createEnvRunnerGroup } from "../src/rollout/placement.js";
import { clusterUnavailable, startNetnsCluster } from "../test/cluster/netns_cluster.js";

const ROUNDS = 3;
const RUNNER_COUNTS = [1, 2, 4, 8];
const SLEEP_US = 2000;
const SLOW_ENVS = 4;
const SLOW_STEPS = 25;
const SAMPLES_PER_MEASURE = 4;
const SLOW_CARTPOLE = fileURLToPath(new URL("./slow_cartpole.ts", import.meta.url));
/**
 * The nodes run `rlts env-runner` from the sources here (through tsx), as this bench does: SlowCartPole
 * registers itself in the sources' env registry, which dist/'s runner would not see.
 */
const ENV_RUNNER_FROM_SOURCES = [
  process.execPath,
  "--import",
  import.meta.resolve("tsx"),
  "-e",
  `import(${JSON.stringify(new URL("../src/cli/main.ts", import.meta.url).href)}).then((m) => m.runCli([process.argv[0], "rlts", ...process.argv.slice(1)]))`,
  "--",
  "env-runner",
];

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function groupFor(
  placement: "threads" | "ray",
  address: string,
  runners: number,
  env: Record<string, unknown>,
  envsPerRunner: number,
  steps: number,
  hiddens = [64, 64],
): Promise<EnvRunnerGroup<Fragment>> {
  const config = ppoRunConfigSchema.parse({
    env,
    model: { hiddens },
    env_runners: {
      placement,
      num_env_runners: runners,
      num_envs_per_env_runner: envsPerRunner,
      rollout_fragment_length: steps,
      ray: { address, env_runner_command: ENV_RUNNER_FROM_SOURCES },
    },
  });
  return createEnvRunnerGroup(onPolicyRunnerConfig(config, config.ppo));
}

/** Median seconds per `sample()` over `count` calls, after one warm-up; new weights first if `fresh`. */
async function timeSamples(
  group: EnvRunnerGroup<Fragment>,
  count: number,
  fresh: boolean,
  from = 1,
): Promise<number[]> {
  const weights = initialWeights(group.moduleSpec, 0);
  const times: number[] = [];
  let version = from;
  group.store.put(WEIGHTS_ENTRY, weights);
  await group.syncWeights(version);
  await group.sample();
  for (let i = 0; i < count; i++) {
    if (fresh) {
      group.store.put(WEIGHTS_ENTRY, weights);
      await group.syncWeights(++version);
    }
    const start = performance.now();
    await group.sample();
    times.push((performance.now() - start) / 1000);
  }
  return times;
}

async function main(): Promise<void> {
  const unavailable = clusterUnavailable();
  if (unavailable) {
    console.log(`skipped: ${unavailable}`);
    return;
  }
  const cluster = await startNetnsCluster({ workers: 2, cpusPerWorker: 4 });
  try {
    // 1. Scaling.
    const rates = new Map<number, number[]>(RUNNER_COUNTS.map((n) => [n, []]));
    const slowEnv = {
      id: "SlowCartPole-v1",
      module: SLOW_CARTPOLE,
      kwargs: { step_cost_us: 0, step_sleep_us: SLEEP_US },
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const n of RUNNER_COUNTS) {
        const group = await groupFor("ray", cluster.address, n, slowEnv, SLOW_ENVS, SLOW_STEPS);
        try {
          const times = await timeSamples(group, SAMPLES_PER_MEASURE, false);
          rates.get(n)!.push((n * SLOW_ENVS * SLOW_STEPS) / median(times));
        } finally {
          await group.stop();
        }
      }
    }
    const ideal = 1e6 / SLEEP_US;
    const base = median(rates.get(1)!);
    console.log(
      `### Scaling: SlowCartPole-v1, ${SLEEP_US / 1000} ms sleep per env step, ${SLOW_ENVS} envs per runner, ${SLOW_STEPS}-step fragments\n`,
    );
    console.log("| Ray env runners | env steps/s (median of rounds) | x one runner | ideal (no overhead) |");
    console.log("| ---: | ---: | ---: | ---: |");
    for (const n of RUNNER_COUNTS) {
      const rate = median(rates.get(n)!);
      console.log(`| ${n} | ${rate.toFixed(0)} | ${(rate / base).toFixed(2)} | ${(n * ideal).toFixed(0)} |`);
    }

    // 2. Per-fragment overhead against threads, CartPole.
    const overhead = { threads: [] as number[], ray: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const placement of ["threads", "ray"] as const) {
        const group = await groupFor(placement, cluster.address, 1, { id: "CartPole-v1" }, 8, 32);
        try {
          overhead[placement].push(median(await timeSamples(group, 20, true)));
        } finally {
          await group.stop();
        }
      }
    }
    const threadMs = median(overhead.threads) * 1000;
    const rayMs = median(overhead.ray) * 1000;
    console.log("\n### Per fragment: CartPole-v1, 1 runner, 8 envs x 32 steps, new weights every fragment\n");
    console.log("| placement | ms per fragment | overhead over threads |");
    console.log("| --- | ---: | ---: |");
    console.log(`| threads | ${threadMs.toFixed(2)} | |`);
    console.log(
      `| ray (another host, ZeroMQ TCP + CURVE) | ${rayMs.toFixed(2)} | ${(rayMs - threadMs).toFixed(2)} ms |`,
    );

    // 3. Broadcast of 1M parameters to 8 runners.
    const group = await groupFor("ray", cluster.address, 8, { id: "CartPole-v1" }, 1, 1, [705, 705]);
    try {
      const size = weightsSize(group.moduleSpec);
      const stale: number[] = [];
      const fresh: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        stale.push(...(await timeSamples(group, 5, false, 1 + round * 100)));
        fresh.push(...(await timeSamples(group, 5, true, 50 + round * 100)));
      }
      const extraMs = (median(fresh) - median(stale)) * 1000;
      console.log(
        `\n### Weight broadcast: ${(size / 1e6).toFixed(2)}M float32 parameters to 8 Ray env runners\n`,
      );
      console.log("| fragment (1 env x 1 step) | ms, median |");
      console.log("| --- | ---: |");
      console.log(`| same weights | ${(median(stale) * 1000).toFixed(1)} |`);
      console.log(`| new weights to all 8 | ${(median(fresh) * 1000).toFixed(1)} |`);
      console.log(
        `| broadcast | ${extraMs.toFixed(1)} (${((8 * size * 4) / 1e6 / (extraMs / 1000)).toFixed(0)} MB/s over the bridge) |`,
      );
    } finally {
      await group.stop();
    }
  } finally {
    await cluster.stop();
  }
}

await main();
