/**
 * Does DQN's async loop overlap sampling with learning? `npx tsx bench/dqn_async.ts`
 *
 * configs/dqn-cartpole.yaml with replay ratio 32 (batches of 64: one gradient step per 2 env steps) and the
 * env runners in the main thread (sampling between gradient steps) and in 1 or 2 worker threads
 * (sampling while the learner trains), on CartPole-v1 (a step costs ~0.2 us: sampling is cheap) and on
 * SlowCartPole-v1 (bench/slow_cartpole.ts: the same env plus 200 us of CPU per step, like a simulator).
 * For each, the median over iterations of:
 *  - learner-only rate: gradient steps per second of time spent in gradient steps (`timers/learn_ms`);
 *  - overall rate: gradient steps per second of wall time, sampling and waiting included.
 * Overall / learner-only is the share of wall time the learner is busy: 1 means sampling is hidden.
 */
import { DQN } from "../src/algos/dqn/dqn.js";
import { loadRunConfig } from "../src/algos/index.js";

const CONFIG = new URL("../configs/dqn-cartpole.yaml", import.meta.url).pathname;
const SLOW_ENV_MODULE = new URL("./slow_cartpole.ts", import.meta.url).pathname;
const ENVS = [
  { name: "CartPole-v1", overrides: [] },
  {
    name: "SlowCartPole-v1 (200 us per step)",
    overrides: ["env.id=SlowCartPole-v1", `env.module=${SLOW_ENV_MODULE}`],
  },
];
const WARMUP_ITERATIONS = 3; // past num_steps_sampled_before_learning_starts, and JIT warm-up
const TIMED_ITERATIONS = 8;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function measure(
  runners: number,
  envOverrides: string[],
): Promise<{ learnerOnly: number; overall: number; envSteps: number }> {
  const config = loadRunConfig(CONFIG, [
    `env_runners.num_env_runners=${runners}`,
    "env_runners.rollout_fragment_length=8",
    "dqn.training_intensity=32",
    ...envOverrides,
  ]);
  if (config.algo !== "DQN") throw new Error(`${CONFIG} is not a DQN config`);
  const algo = await DQN.create(config);
  const learnerOnly: number[] = [];
  const overall: number[] = [];
  const envSteps: number[] = [];
  let gradientStepsBefore = 0;
  try {
    for (let i = 0; i < WARMUP_ITERATIONS + TIMED_ITERATIONS; i++) {
      const before = performance.now();
      const metrics = await algo.train();
      const seconds = (performance.now() - before) / 1000;
      const steps = metrics["learners/num_gradient_steps_lifetime"] - gradientStepsBefore;
      gradientStepsBefore = metrics["learners/num_gradient_steps_lifetime"];
      if (i < WARMUP_ITERATIONS) continue;
      learnerOnly.push(steps / (metrics["timers/learn_ms"] / 1000));
      overall.push(steps / seconds);
      envSteps.push(metrics["throughput/env_steps_per_s"]);
    }
  } finally {
    await algo.stop();
  }
  return { learnerOnly: median(learnerOnly), overall: median(overall), envSteps: median(envSteps) };
}

const rows = [
  "| env | env runners | learner-only steps/s | overall steps/s | overall / learner-only | env steps/s |",
];
rows.push("| --- | --- | ---: | ---: | ---: | ---: |");
for (const env of ENVS) {
  for (const runners of [0, 1, 2]) {
    const r = await measure(runners, env.overrides);
    const where = runners === 0 ? "0 (main thread)" : `${runners} thread${runners > 1 ? "s" : ""} (async)`;
    rows.push(
      `| ${env.name} | ${where} | ${r.learnerOnly.toFixed(0)} | ${r.overall.toFixed(0)} | ${(r.overall / r.learnerOnly).toFixed(2)} | ${r.envSteps.toFixed(0)} |`,
    );
    console.error(rows.at(-1));
  }
}
console.log("DQN gradient steps per second (batch 64, 64x64 dueling), medians\n");
console.log(rows.join("\n"));
