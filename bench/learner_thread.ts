/**
 * The learner in the main thread or in its own thread (`learner.num_learners` 0 / 1), with the env
 * runners in the main thread or in 2 worker threads (`env_runners.num_env_runners` 0 / 2): PPO on
 * CartPole-v1 (configs/ppo-cartpole.yaml) until the mean return reaches 475, per seed. The four set-ups
 * run one after another for each seed, so load on the machine hits them alike; the table has medians.
 *
 *   npm run build                 # runs the built CLI
 *   npx tsx bench/learner_thread.ts [--seeds 0,1,2]
 *
 * Besides training seconds to 475 it gives the median milliseconds per iteration spent sampling and
 * learning (`timers/sample_ms`, `timers/learn_ms`; learning includes the hand-over to the learner thread
 * and the weights' way back through the object store). First, in this process, the cost of the thread
 * alone: one learner update (the config's 20 epochs over a 256-step batch) in the main thread and in a
 * learner thread, alternately on the same batch.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { formatNumber, median, type SeedResult, trainSeed } from "../scripts/run_seeds.js";
import { loadRunConfig } from "../src/algos/index.js";
import type { PPOConfig } from "../src/algos/ppo/config.js";
import type { PPOUpdate } from "../src/algos/ppo/learner.js";
import { allocateTrainBatch } from "../src/buffers/train_batch.js";
import { Box, Discrete } from "../src/envs/spaces.js";
import type { LearnerSpec } from "../src/learner/learner.js";
import { createLearnerActor } from "../src/learner/learner_actor.js";
import { moduleSpecFor } from "../src/models/catalog.js";
import { createWeightsStore } from "../src/rollout/env_runner_group.js";

const THRESHOLD = 475;
const CONFIG = fileURLToPath(new URL("../configs/ppo-cartpole.yaml", import.meta.url));
const SETUPS = [0, 2].flatMap((runners) =>
  [0, 1].map((learners) => ({
    name: `num_env_runners ${runners}, num_learners ${learners}`,
    overrides: [`env_runners.num_env_runners=${runners}`, `learner.num_learners=${learners}`],
  })),
);

interface Timers {
  "timers/sample_ms": number;
  "timers/learn_ms": number;
}

/** Median per-iteration timers of a run, from its progress.jsonl. */
function medianTimers(runDir: string): Timers {
  const rows = readFileSync(`${runDir}/progress.jsonl`, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Timers);
  return {
    "timers/sample_ms": median(rows.map((r) => r["timers/sample_ms"])) ?? Number.NaN,
    "timers/learn_ms": median(rows.map((r) => r["timers/learn_ms"])) ?? Number.NaN,
  };
}

/** Median update() milliseconds with the learner in the main thread and in its own thread, alternating. */
async function updateLatency(rounds: number): Promise<{ main: number; thread: number }> {
  const config = loadRunConfig(CONFIG, ["learner.backend=wasm"]);
  if (config.algo !== "PPO") throw new Error(`${CONFIG} is not a PPO config`);
  const module = moduleSpecFor(new Box(-5, 5, [4]), new Discrete(2), {
    type: "actor_critic",
    model: config.model,
  });
  const learnerModule = new URL("../src/algos/ppo/learner.ts", import.meta.url).href;
  const batch = allocateTrainBatch(256, 4, 1);
  batch.obs.forEach((_, i) => {
    batch.obs[i] = Math.random() - 0.5;
  });
  batch.advantages.forEach((_, i) => {
    batch.advantages[i] = Math.random() - 0.5;
  });
  const actors = await Promise.all(
    [0, 1].map((n) =>
      createLearnerActor<LearnerSpec<PPOConfig>, PPOUpdate, Record<string, number>>(
        { module: learnerModule, spec: { module, config: config.ppo, seed: config.seed } },
        { ...config.learner, num_learners: n },
        createWeightsStore(module),
      ),
    ),
  );
  const times = actors.map(() => [] as number[]);
  for (let round = 0; round < rounds; round++) {
    for (const [i, actor] of actors.entries()) {
      const start = performance.now();
      await actor.update({ batch, numEnvStepsSampled: 0 });
      actor.latestWeights();
      times[i].push(performance.now() - start);
    }
  }
  await Promise.all(actors.map((actor) => actor.stop()));
  // The first rounds warm up wasm and the JIT.
  const [main, thread] = times.map((t) => median(t.slice(5)) ?? Number.NaN);
  return { main, thread };
}

const latency = await updateLatency(40);
console.log(
  `learner update (20 epochs x 256 samples), median of 35: main thread ${latency.main.toFixed(1)} ms, ` +
    `learner thread ${latency.thread.toFixed(1)} ms (${(latency.thread / latency.main).toFixed(2)}x)\n`,
);

const seedsArg = process.argv.indexOf("--seeds");
const seeds = (seedsArg > 0 ? process.argv[seedsArg + 1] : "0,1,2").split(",").map(Number);
const results = SETUPS.map(() => [] as (SeedResult & Timers)[]);
for (const seed of seeds) {
  for (const [i, setup] of SETUPS.entries()) {
    const overrides = ["output=experiments/bench-learner-thread", ...setup.overrides];
    const result = await trainSeed(CONFIG, seed, THRESHOLD, overrides);
    results[i].push({ ...result, ...medianTimers(result.runDir) });
    console.error(
      `seed ${seed}, ${setup.name}: ${formatNumber(result.stepsToThreshold)} steps, ` +
        `${formatNumber(result.secondsToThreshold, 1)} s`,
    );
  }
}

console.log(`PPO CartPole-v1 to ${THRESHOLD}, seeds ${seeds.join(", ")}: medians\n`);
console.log("| set-up | reached | env steps | training s | process s | sample ms/iter | learn ms/iter |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const [i, setup] of SETUPS.entries()) {
  const runs = results[i];
  const med = (pick: (r: SeedResult & Timers) => number | null, digits: number) =>
    formatNumber(median(runs.map(pick)), digits);
  const reached = runs.filter((r) => r.stepsToThreshold !== null).length;
  console.log(
    `| ${setup.name} | ${reached}/${runs.length} | ${med((r) => r.stepsToThreshold, 0)} | ` +
      `${med((r) => r.secondsToThreshold, 1)} | ${med((r) => r.processSeconds, 1)} | ` +
      `${med((r) => r["timers/sample_ms"], 1)} | ${med((r) => r["timers/learn_ms"], 1)} |`,
  );
}
