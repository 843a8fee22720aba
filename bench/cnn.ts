/**
 * CNN policies on CPU: rlts's actor-critic with the catalog's CNN (the Nature CNN at 84x84x4, MinAtar's
 * network at 10x10x4; a shared 512 / 128-unit trunk, 6 actions) against the same network, loss and Adam
 * in PyTorch (bench/python/cnn_torch.py, venv from bench/setup.sh) on 1 and 2 threads, at minibatch 256:
 * - forward: the env runners' pass (`ModuleInference.act`, greedy: the CNN on tfjs-wasm, the towers in
 *   rlts's dense kernel) against torch's inference-mode forward, samples/s;
 * - update: one PPO minibatch step (CleanRL's ppo_atari loss: clip 0.1, clipped value loss, entropy 0.01,
 *   grad-norm clip 0.5, Adam lr 2.5e-4) through `PPOLearner.update`, samples/s.
 * Rounds interleave the sides; each figure is the median over rounds of each side's median rate.
 *
 *   npx tsx bench/cnn.ts [--rounds 3]
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ppoConfigSchema } from "../src/algos/ppo/config.js";
import { PPOLearner } from "../src/algos/ppo/learner.js";
import { allocateTrainBatch } from "../src/buffers/train_batch.js";
import { Box, Discrete } from "../src/envs/spaces.js";
import { selectBackend } from "../src/learner/backend.js";
import { initialWeights, moduleSpecFor } from "../src/models/catalog.js";
import type { ConvFilter } from "../src/models/conv.js";
import { ModuleInference } from "../src/models/inference.js";
import { createRng, normal } from "../src/utils/rng.js";

const BATCH = 256;
const ACTIONS = 6;
const PYTHON = fileURLToPath(new URL("./.venv/bin/python", import.meta.url));
const TORCH_SCRIPT = fileURLToPath(new URL("./python/cnn_torch.py", import.meta.url));

interface Network {
  name: string;
  shape: [number, number, number];
  filters: ConvFilter[];
  hidden: number;
}

const NETWORKS: Network[] = [
  {
    name: "Nature CNN, 84x84x4",
    shape: [84, 84, 4],
    filters: [
      [32, 8, 4],
      [64, 4, 2],
      [64, 3, 1],
    ],
    hidden: 512,
  },
  { name: "MinAtar CNN, 10x10x4", shape: [10, 10, 4], filters: [[16, 3, 1]], hidden: 128 },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Calls/s of `call`: three timed runs of about a second each, after two untimed calls. */
function rate(call: () => void): number {
  call();
  call();
  const start = performance.now();
  call();
  const calls = Math.max(1, Math.round(1000 / (performance.now() - start)));
  const rates = Array.from({ length: 3 }, () => {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) call();
    return calls / ((performance.now() - t0) / 1000);
  });
  return median(rates);
}

/** rlts forward and update samples/s for `network`. */
function rltsRates(network: Network): { forward: number; update: number } {
  const model = {
    conv_filters: network.filters,
    hiddens: [network.hidden],
    activation: "relu" as const,
    vf_share_layers: true,
    initial_log_std: 0,
  };
  const module = moduleSpecFor(new Box(0, 1, network.shape), new Discrete(ACTIONS), {
    type: "actor_critic",
    model,
  });
  const rng = createRng(0);
  const obsDim = module.obsDim;
  const batch = allocateTrainBatch(BATCH, obsDim, 1);
  for (let i = 0; i < BATCH * obsDim; i++) batch.obs[i] = rng();
  for (let i = 0; i < BATCH; i++) {
    batch.actions[i] = i % ACTIONS;
    batch.logp[i] = -Math.log(ACTIONS) + 0.1 * normal(rng);
    batch.advantages[i] = normal(rng);
    batch.returns[i] = normal(rng);
    batch.values[i] = batch.returns[i] + 0.1 * normal(rng);
  }

  const inference = new ModuleInference(module, 0);
  inference.setWeights(initialWeights(module, 0));
  const out = {
    actions: new Float32Array(BATCH),
    logp: new Float32Array(BATCH),
    values: new Float32Array(BATCH),
  };
  const forward = BATCH * rate(() => inference.act(batch.obs as Float32Array, BATCH, { greedy: true }, out));
  inference.dispose();

  const config = ppoConfigSchema.parse({
    lr: 2.5e-4,
    clip_param: 0.1,
    vf_clip_param: 0.1,
    entropy_coeff: 0.01,
    vf_loss_coeff: 0.5,
    grad_clip: 0.5,
    train_batch_size: BATCH,
    minibatch_size: BATCH,
    num_epochs: 1,
    normalize_advantages: false,
  });
  const learner = new PPOLearner({ module, config, seed: 0 });
  const update = BATCH * rate(() => learner.update({ batch, numEnvStepsSampled: 0 }));
  learner.dispose();
  return { forward, update };
}

function torchRates(network: Network, threads: number): { forward: number; update: number } {
  const args = [
    TORCH_SCRIPT,
    "--threads",
    String(threads),
    "--batch",
    String(BATCH),
    "--input",
    network.shape.join("x"),
    "--convs",
    network.filters.map(([out, kernel, stride]) => `${out}:${kernel}:${stride}`).join(","),
    "--hidden",
    String(network.hidden),
    "--actions",
    String(ACTIONS),
    "--repeats",
    "3",
  ];
  const result = JSON.parse(execFileSync(PYTHON, args, { encoding: "utf8" })) as {
    forward_samples_per_s: number;
    update_samples_per_s: number;
  };
  return { forward: result.forward_samples_per_s, update: result.update_samples_per_s };
}

const at = process.argv.indexOf("--rounds");
const rounds = at >= 0 ? Number(process.argv[at + 1]) : 3;
await selectBackend("wasm");
const results = new Map<string, number[]>();
const record = (key: string, value: number) => results.set(key, [...(results.get(key) ?? []), value]);
for (let round = 0; round < rounds; round++) {
  for (const network of NETWORKS) {
    const sides = [
      () => {
        const r = rltsRates(network);
        record(`${network.name} rlts forward`, r.forward);
        record(`${network.name} rlts update`, r.update);
      },
      ...[1, 2].map((threads) => () => {
        const r = torchRates(network, threads);
        record(`${network.name} torch${threads} forward`, r.forward);
        record(`${network.name} torch${threads} update`, r.update);
      }),
    ];
    for (const side of round % 2 === 0 ? sides : sides.reverse()) side();
  }
  console.error(`round ${round + 1}/${rounds} done`);
}
console.log(`CNN samples/s at minibatch ${BATCH}, medians of ${rounds} interleaved rounds\n`);
console.log(
  "| network | measure | rlts (wasm) | PyTorch 1 thread | PyTorch 2 threads | rlts / best PyTorch |",
);
console.log("| --- | --- | ---: | ---: | ---: | ---: |");
for (const network of NETWORKS) {
  for (const measure of ["forward", "update"]) {
    const [r, t1, t2] = ["rlts", "torch1", "torch2"].map((side) =>
      median(results.get(`${network.name} ${side} ${measure}`)!),
    );
    console.log(
      `| ${network.name} | ${measure} | ${r.toFixed(0)} | ${t1.toFixed(0)} | ${t2.toFixed(0)} | ${(r / Math.max(t1, t2)).toFixed(2)}x |`,
    );
  }
}
