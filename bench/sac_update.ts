/**
 * One SAC gradient step (critics, actor, alpha, the targets' Polyak move) at Pendulum's sizes, batch 256:
 * rlts's SACLearner on the wasm backend, on its fused step (fused_step.ts; also on 2 kernel threads when
 * the machine has 2 cores) and on its tfjs path (`learner.fused: off`), against the same update in
 * PyTorch (bench/python/sac_update_torch.py, venv from bench/setup.sh) on 1 and 2 threads, for 64x64
 * and 256x256 networks. Rounds interleave the sides; each figure is the median over rounds of each
 * side's median rate.
 *
 *   npx tsx bench/sac_update.ts [--rounds 3] [--blas]
 *
 * `--blas`: the native BLAS installed first, as `learner.blas: auto` does in training (products from 64k
 * multiply-adds go to it, on either path).
 */
import { execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { sacConfigSchema } from "../src/algos/sac/config.js";
import { SACLearner } from "../src/algos/sac/learner.js";
import { allocateTransitions, type ReplaySample } from "../src/buffers/replay.js";
import { Box } from "../src/envs/spaces.js";
import { selectBackend } from "../src/learner/backend.js";
import { installNativeBlas } from "../src/learner/blas.js";
import { acquireKernelThreads } from "../src/learner/kernel_threads.js";
import { moduleSpecFor } from "../src/models/catalog.js";
import { createRng, normal } from "../src/utils/rng.js";

const HIDDENS = [64, 256];
const CORES = availableParallelism();
const BATCH = 256;
const PYTHON = fileURLToPath(new URL("./.venv/bin/python", import.meta.url));
const TORCH_SCRIPT = fileURLToPath(new URL("./python/sac_update_torch.py", import.meta.url));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function randomSample(): ReplaySample {
  const rng = createRng(0);
  const transitions = allocateTransitions(BATCH, 3, 1);
  transitions.count = BATCH;
  for (let i = 0; i < BATCH * 3; i++) {
    transitions.obs[i] = normal(rng);
    transitions.nextObs[i] = normal(rng);
  }
  for (let i = 0; i < BATCH; i++) {
    transitions.actions[i] = 4 * rng() - 2;
    transitions.rewards[i] = normal(rng);
    transitions.discounts[i] = 0.99;
  }
  return { ...transitions, indices: new Int32Array(BATCH), weights: new Float32Array(BATCH).fill(1) };
}

/** rlts gradient steps/s: the median of three timed runs after a warm-up (the wasm heap grows at first). */
function rltsRate(hidden: number, fused: "auto" | "off"): number {
  const model = {
    hiddens: [hidden, hidden],
    activation: "relu" as const,
    vf_share_layers: false,
    initial_log_std: 0,
  };
  const module = moduleSpecFor(new Box(-8, 8, [3]), new Box(-2, 2, [1]), {
    type: "squashed_gaussian_actor",
    model,
    noiseCorrelation: 0,
  });
  const config = sacConfigSchema.parse({
    q_model: { hiddens: model.hiddens },
    actor_lr: 1e-3,
    critic_lr: 1e-3,
  });
  const learner = new SACLearner({ module, config, seed: 0, fused });
  const sample = randomSample();
  const steps = hidden <= 64 ? 100 : 30;
  for (let i = 0; i < 50; i++) learner.update({ sample, targetTau: 0.005 });
  const rates = Array.from({ length: 3 }, () => {
    const start = performance.now();
    for (let i = 0; i < steps; i++) learner.update({ sample, targetTau: 0.005 });
    return steps / ((performance.now() - start) / 1000);
  });
  learner.dispose();
  return median(rates);
}

function torchRates(threads: number): Map<number, number> {
  const out = execFileSync(
    PYTHON,
    [TORCH_SCRIPT, "--threads", String(threads), "--hiddens", HIDDENS.join(","), "--batch", String(BATCH)],
    {
      encoding: "utf8",
    },
  );
  const rows = out
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { hidden: number; steps_per_s: number });
  return new Map(rows.map((r) => [r.hidden, r.steps_per_s]));
}

const at = process.argv.indexOf("--rounds");
const rounds = at >= 0 ? Number(process.argv[at + 1]) : 3;
await selectBackend("wasm");
const blas = process.argv.includes("--blas");
if (blas) console.log(`native BLAS: ${(await installNativeBlas()) ?? "none loads here"}`);
const results: Record<string, number[]> = {};
const record = (side: string, hidden: number, rate: number) => {
  const key = `${side} ${hidden}`;
  results[key] = [...(results[key] ?? []), rate];
};
for (let round = 0; round < rounds; round++) {
  const sides = [
    () => {
      for (const h of HIDDENS) record("tfjs", h, rltsRate(h, "off"));
    },
    () => {
      for (const h of HIDDENS) record("fused", h, rltsRate(h, "auto"));
    },
    async () => {
      if (CORES < 2) return;
      const threads = await acquireKernelThreads(CORES, blas);
      for (const h of HIDDENS) record("fused_threads", h, rltsRate(h, "auto"));
      await threads.release();
    },
    () => {
      for (const [h, rate] of torchRates(1)) record("torch1", h, rate);
    },
    () => {
      for (const [h, rate] of torchRates(2)) record("torch2", h, rate);
    },
  ];
  for (const side of round % 2 === 0 ? sides : sides.reverse()) await side();
  console.error(`round ${round + 1}/${rounds} done`);
}
console.log(
  `SAC gradient steps/s, batch ${BATCH}, Pendulum sizes (3 obs, 1 action), medians of ${rounds} interleaved rounds\n`,
);
const rltsSides = CORES > 1 ? ["tfjs", "fused", "fused_threads"] : ["tfjs", "fused"];
const names = ["tfjs path", "fused", `fused ${CORES} threads`].slice(0, rltsSides.length);
console.log(
  `| networks | ${names.join(" | ")} | PyTorch 1 thread | PyTorch 2 threads | best fused / best PyTorch |`,
);
console.log(`| --- |${" ---: |".repeat(rltsSides.length + 3)}`);
for (const h of HIDDENS) {
  const rates = [...rltsSides, "torch1", "torch2"].map((side) => median(results[`${side} ${h}`]));
  const bestFused = Math.max(...rates.slice(1, rltsSides.length));
  const bestTorch = Math.max(...rates.slice(rltsSides.length));
  console.log(
    `| ${h}x${h} | ${rates.map((r) => r.toFixed(0)).join(" | ")} | ${(bestFused / bestTorch).toFixed(2)}x |`,
  );
}
