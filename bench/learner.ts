/**
 * Learner and inference benchmarks. `npx tsx bench/learner.ts [--rounds N] [--blas] [--fused-only]`
 *  1. PPO update samples/s (the full minibatch step: forward, loss, gradients, clip, Adam) for a 4-in,
 *     2-action separate actor/critic tanh MLP: the fused WebAssembly step (`FusedMlpTrainer`, what
 *     `learner.fused: auto` trains with on wasm and cpu) on 1 thread and on every core
 *     (`learner.num_threads`), with `--blas` also through the native BLAS on both; the tfjs path's hand-derived backward pass
 *     (`ppoMinibatchUpdate`) on every tfjs backend that loads, autodiff through `ppoLoss` (the reference,
 *     what training ran before), and PyTorch on CPU with the same network, loss and optimizer on 1 and 2
 *     threads (bench/python/learner_torch.py, venv from bench/setup.sh). The paths alternate in rounds
 *     (each round: PyTorch, then every case of every path); figures are medians over the rounds. With
 *     `--blas`, the native BLAS (`learner.blas: auto`) is installed first: the tfjs path's large products
 *     go to it, and the fused step runs with and without it. `--fused-only` leaves out the tfjs paths.
 *  2. A DQN gradient step (Double DQN targets, dueling head, Huber; what `DQNLearner.update` does) in ms,
 *     the fused step (`learner.fused: auto`) against the tfjs path, alternating.
 *  3. Rollout inference: the rollout kernel (ModuleInference.act, WebAssembly SIMD) vs tfjs `predict` at batch 1/8/32/64.
 * Every figure is the median of several timed runs in this process; compare ratios, not absolutes.
 */

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { dqnConfigSchema } from "../src/algos/dqn/config.js";
import { DQNLearner } from "../src/algos/dqn/learner.js";
import { ppoMinibatchUpdate } from "../src/algos/ppo/learner.js";
import { ppoLossOf } from "../src/algos/ppo/loss.js";
import { allocateTransitions } from "../src/buffers/replay.js";
import { Box, Discrete } from "../src/envs/spaces.js";
import { Adam } from "../src/learner/adam.js";
import { type BackendName, selectBackend } from "../src/learner/backend.js";
import { installNativeBlas, nativeGemm } from "../src/learner/blas.js";
import { FusedMlpTrainer } from "../src/learner/fused_mlp.js";
import { KernelThreads } from "../src/learner/kernel_threads.js";
import { initialWeights, type ModuleSpec, moduleSpecFor } from "../src/models/catalog.js";
import { ModuleInference } from "../src/models/inference.js";
import { ActorCritic } from "../src/models/rl_module.js";
import { createRng, normal } from "../src/utils/rng.js";

const CASES = [
  { hidden: 64, batch: 64, steps: 100 },
  { hidden: 64, batch: 256, steps: 100 },
  { hidden: 64, batch: 512, steps: 50 },
  { hidden: 256, batch: 256, steps: 20 },
  { hidden: 256, batch: 512, steps: 20 },
  { hidden: 512, batch: 512, steps: 10 },
];
const REPEATS = 5;
const roundsFlag = process.argv.indexOf("--rounds");
const ROUNDS = roundsFlag > 0 ? Number(process.argv[roundsFlag + 1]) : 3;
const BLAS = process.argv.includes("--blas");
const FUSED_ONLY = process.argv.includes("--fused-only");
const CORES = availableParallelism();

const spec = (hidden: number): ModuleSpec =>
  moduleSpecFor(new Box(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, [4]), new Discrete(2), {
    type: "actor_critic",
    model: { hiddens: [hidden, hidden], activation: "tanh", vf_share_layers: false, initial_log_std: 0 },
  });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function timeRuns(repeats: number, run: () => void): number[] {
  return Array.from({ length: repeats }, () => {
    const start = performance.now();
    run();
    return performance.now() - start;
  });
}

type UpdatePath = "fused" | "hand" | "autodiff";

/** Where the fused step's products go: the native BLAS or none, kernel threads or none. */
type FusedProducts = { native: ReturnType<typeof nativeGemm>; threads: KernelThreads | null };

/**
 * Samples/s of full PPO minibatch updates; the minibatch is rebuilt from typed arrays each step, as in PPO.
 * `path`: the fused step (with `products`), the training loop's hand-derived gradients, or autodiff
 * through `ppoLoss`.
 */
function updateRate(
  hidden: number,
  batch: number,
  steps: number,
  path: UpdatePath,
  products: FusedProducts = { native: null, threads: null },
): number {
  const rng = createRng(0);
  const random = (n: number) => Float32Array.from({ length: n }, () => normal(rng));
  const obs = random(batch * 4);
  const actions = Int32Array.from({ length: batch }, (_, i) => i % 2);
  const oldLogp = random(batch).map((x) => -0.69 + 0.1 * x);
  const advantages = random(batch);
  const returns = random(batch);
  const coeffs = { clipParam: 0.2, vfClipParam: 0.2, vfLossCoeff: 0.5, entropyCoeff: 0.01 };
  if (path === "fused") {
    // The arrays a Minibatch holds, copied into the kernel's memory each step as in PPO's update.
    const trainer = new FusedMlpTrainer(
      spec(hidden),
      { adamEpsilon: 1e-5, gradClip: 0.5 },
      batch,
      products.native,
      products.threads,
    );
    trainer.setWeights(initialWeights(spec(hidden), 0));
    const mb = {
      obs,
      actions: Float32Array.from(actions),
      logp: oldLogp,
      values: returns,
      advantages,
      returns,
    };
    const step = () => trainer.ppoStep(mb, batch, coeffs, 3e-4);
    for (let i = 0; i < 10; i++) step();
    const ms = timeRuns(REPEATS, () => {
      for (let i = 0; i < steps; i++) step();
    });
    return (steps * batch) / (median(ms) / 1000);
  }
  const model = new ActorCritic(spec(hidden), initialWeights(spec(hidden), 0));
  const learner = new Adam(model, { adamEpsilon: 1e-5, gradClip: 0.5 });
  const minibatch = () => ({
    obs: tf.tensor2d(obs, [batch, 4]),
    actions: tf.tensor1d(actions, "int32"),
    logp: tf.tensor1d(oldLogp),
    values: tf.tensor1d(returns),
    advantages: tf.tensor1d(advantages),
    returns: tf.tensor1d(returns),
  });
  const autodiffUpdate = () => {
    const t = minibatch();
    const { value, grads } = tf.variableGrads(() => {
      const loss = ppoLossOf(model, { ...t, oldLogp: t.logp, oldValues: t.values }, coeffs);
      return loss.total;
    }, model.variables);
    learner.step(tf.concat(model.variables.map((v) => tf.reshape(grads[v.name], [-1]) as tf.Tensor1D)), 3e-4);
    tf.dispose([value, ...Object.values(grads)]);
  };
  const update = () =>
    tf.tidy(() => {
      if (path === "hand") ppoMinibatchUpdate(model, learner, minibatch(), coeffs, 3e-4);
      else autodiffUpdate();
    });
  for (let i = 0; i < 10; i++) update();
  learner.getFlatWeights(); // waits for queued work
  const ms = timeRuns(REPEATS, () => {
    for (let i = 0; i < steps; i++) update();
    learner.getFlatWeights();
  });
  learner.dispose();
  return (steps * batch) / (median(ms) / 1000);
}

/** Milliseconds per DQN gradient step (with the weights published, as the learner actor does) for each path. */
function dqnStepMs(hidden: number, batch: number): { fused: number; tfjs: number } {
  const spec = moduleSpecFor(new Box(-10, 10, [4]), new Discrete(2), {
    type: "q",
    model: { hiddens: [hidden, hidden], activation: "relu", vf_share_layers: false, initial_log_std: 0 },
    headHiddens: [hidden],
    dueling: true,
  });
  const sample = {
    ...allocateTransitions(batch, 4, 1),
    indices: new Int32Array(batch),
    weights: new Float32Array(batch).fill(1),
  };
  sample.count = batch;
  for (let i = 0; i < batch * 4; i++) {
    sample.obs[i] = Math.sin(i);
    sample.nextObs[i] = Math.cos(i);
  }
  for (let i = 0; i < batch; i++) {
    sample.actions[i] = i % 2;
    sample.rewards[i] = 1;
    sample.discounts[i] = 0.97;
  }
  const times = { fused: [] as number[], tfjs: [] as number[] };
  const steps = Math.max(20, Math.floor(4e6 / (batch * hidden * hidden)));
  for (let round = 0; round < REPEATS; round++) {
    for (const path of ["fused", "tfjs"] as const) {
      const config = dqnConfigSchema.parse({ train_batch_size: batch });
      const learner = new DQNLearner({
        module: spec,
        config,
        seed: 0,
        fused: path === "fused" ? "auto" : "off",
      });
      const step = () => {
        learner.update({ sample, lr: 1e-4, targetTau: null });
        learner.getWeights();
      };
      for (let i = 0; i < 10; i++) step();
      times[path].push(
        timeRuns(1, () => {
          for (let i = 0; i < steps; i++) step();
        })[0] / steps,
      );
      learner.dispose();
    }
  }
  return { fused: median(times.fused), tfjs: median(times.tfjs) };
}

/** Microseconds per call: the rollout kernel's act() vs tfjs actor+critic predict (with the data read back). */
function inferenceMicros(batch: number): { kernel: number; tfjs: number } {
  const s = spec(64);
  const weights = initialWeights(s, 0);
  const model = new ActorCritic(s, weights);
  const inference = new ModuleInference(s, 0);
  inference.setWeights(weights);
  const obs = Float32Array.from({ length: batch * 4 }, (_, i) => Math.sin(i));
  const out = {
    actions: new Float32Array(batch),
    logp: new Float32Array(batch),
    values: new Float32Array(batch),
  };
  const calls = Math.max(200, Math.floor(20000 / batch));
  const plain = timeRuns(REPEATS, () => {
    for (let i = 0; i < calls; i++) inference.act(obs, batch, { greedy: false }, out);
  });
  const viaTfjs = timeRuns(REPEATS, () => {
    for (let i = 0; i < calls; i++) {
      tf.tidy(() => {
        const x = tf.tensor2d(obs, [batch, 4]);
        const { policyOut, values } = model.forward(x);
        policyOut.dataSync();
        values.dataSync();
      });
    }
  });
  model.dispose();
  return { kernel: (median(plain) * 1000) / calls, tfjs: (median(viaTfjs) * 1000) / calls };
}

type TorchRate = { hidden: number; batch: number; samples_per_s: number; threads: number };

function torchRates(threads: number): TorchRate[] | null {
  const python = fileURLToPath(new URL("./.venv/bin/python", import.meta.url));
  if (!existsSync(python)) return null;
  const script = fileURLToPath(new URL("./python/learner_torch.py", import.meta.url));
  const cases = CASES.map((c) => `${c.hidden}:${c.batch}:${c.steps}`).join(",");
  const args = [script, "--repeats", String(REPEATS), "--threads", String(threads), "--cases", cases];
  return execFileSync(python, args, { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
}

export async function runLearnerBench(): Promise<Record<string, number>> {
  const results: Record<string, number> = {};
  /** Samples/s per key, one entry per round. */
  const rounds = new Map<string, number[]>();
  const record = (key: string, value: number) => rounds.set(key, [...(rounds.get(key) ?? []), value]);
  const backends: BackendName[] = [];
  for (const backend of ["wasm", "cpu"] as BackendName[]) {
    try {
      await selectBackend(backend);
      backends.push(backend);
    } catch (err) {
      console.log(`${backend}: does not load here (${(err as Error).message})`);
    }
  }
  if (BLAS) {
    await selectBackend("wasm");
    console.log(`native BLAS: ${(await installNativeBlas()) ?? "none loads here"}`);
  }
  const native = nativeGemm();
  const threads = CORES > 1 ? await KernelThreads.start(CORES, native !== null) : null;
  /** The fused step's variants: its own GEMM or the native BLAS, on 1 thread or on every core. */
  const fusedVariants: [string, FusedProducts][] = [
    ["fused", { native: null, threads: null }],
    ...(threads ? [["fused_threads", { native: null, threads }] as [string, FusedProducts]] : []),
    ...(native
      ? [
          ["fused_blas", { native, threads: null }] as [string, FusedProducts],
          ...(threads ? [["fused_blas_threads", { native, threads }] as [string, FusedProducts]] : []),
        ]
      : []),
  ];
  let torchMissing = false;
  for (let round = 0; round < ROUNDS; round++) {
    for (const threads of [1, 2]) {
      const torch = torchRates(threads);
      if (!torch) torchMissing = true;
      for (const t of torch ?? []) record(`torch${threads}/${t.hidden}/${t.batch}`, t.samples_per_s);
    }
    for (const { hidden, batch, steps } of CASES) {
      // The fused step is the same kernel whichever tfjs backend is selected: measured once.
      for (const [name, products] of fusedVariants) {
        record(`${name}/${hidden}/${batch}`, updateRate(hidden, batch, steps, "fused", products));
      }
      for (const backend of FUSED_ONLY ? [] : backends) {
        // The cpu backend is plain JavaScript: only the small network, with fewer steps.
        if (backend === "cpu" && hidden > 64) continue;
        await selectBackend(backend);
        const backendSteps = backend === "cpu" ? Math.ceil(steps / 4) : steps;
        record(`hand/${backend}/${hidden}/${batch}`, updateRate(hidden, batch, backendSteps, "hand"));
        // Autodiff is the slow reference: one round is enough to show it.
        if (round === 0) {
          record(
            `autodiff/${backend}/${hidden}/${batch}`,
            updateRate(hidden, batch, backendSteps, "autodiff"),
          );
        }
      }
    }
  }
  if (torchMissing) console.log("PyTorch: bench/.venv missing (run bench/setup.sh); tfjs figures only");
  const med = (key: string) => (rounds.has(key) ? median(rounds.get(key)!) : null);
  const fmt = (x: number | null) => (x === null ? "—" : `${(x / 1000).toFixed(1)}k`);
  const ratio = (a: number | null, b: number | null) =>
    a === null || b === null ? "—" : `${(a / b).toFixed(2)}x`;
  console.log(
    `PPO update samples/s, medians of ${ROUNDS} interleaved rounds (each the median of ${REPEATS} runs)`,
  );
  const fusedNames: Record<string, string> = {
    fused: "fused",
    fused_threads: `fused ${CORES} threads`,
    fused_blas: "fused + BLAS",
    fused_blas_threads: `fused + BLAS ${CORES} threads`,
  };
  const columns = [
    ...fusedVariants.map(([name]) => fusedNames[name]),
    ...(FUSED_ONLY ? [] : ["tfjs wasm (hand)", "tfjs cpu (hand)", "autodiff wasm"]),
    "PyTorch 1 thread",
    "PyTorch 2 threads",
    "best fused / best PyTorch",
  ];
  console.log(`| net | minibatch | ${columns.join(" | ")} |`);
  console.log(`| --- | ---: |${" ---: |".repeat(columns.length)}`);
  for (const { hidden, batch } of CASES) {
    const fused = fusedVariants.map(([name]) => med(`${name}/${hidden}/${batch}`));
    const tfjsPaths = FUSED_ONLY
      ? []
      : [`hand/wasm`, `hand/cpu`, `autodiff/wasm`].map((path) => med(`${path}/${hidden}/${batch}`));
    const torch1 = med(`torch1/${hidden}/${batch}`);
    const torch2 = med(`torch2/${hidden}/${batch}`);
    const key = `update/${hidden}x${hidden}/mb${batch}`;
    fusedVariants.forEach(([name], i) => {
      if (fused[i] !== null) results[`${key}/${name}/samples_per_s`] = fused[i];
    });
    if (torch1 !== null) results[`${key}/torch_1_thread/samples_per_s`] = torch1;
    if (torch2 !== null) results[`${key}/torch_2_threads/samples_per_s`] = torch2;
    const bestFused = Math.max(...fused.map((x) => x ?? 0));
    const bestTorch = torch1 === null || torch2 === null ? null : Math.max(torch1, torch2);
    if (bestTorch !== null) results[`${key}/best_fused_ratio_vs_best_torch`] = bestFused / bestTorch;
    const cells = [...fused, ...tfjsPaths, torch1, torch2].map(fmt);
    console.log(`| ${hidden}x${hidden} | ${batch} | ${cells.join(" | ")} | ${ratio(bestFused, bestTorch)} |`);
  }
  await threads?.close();
  await selectBackend("wasm");
  for (const [hidden, batch] of [
    [64, 64],
    [256, 128],
  ]) {
    const { fused, tfjs } = dqnStepMs(hidden, batch);
    results[`dqn_step/${hidden}x${hidden}/batch${batch}/fused_ms`] = fused;
    results[`dqn_step/${hidden}x${hidden}/batch${batch}/tfjs_ms`] = tfjs;
    console.log(
      `DQN step ${hidden}x${hidden} dueling, batch ${batch}: fused ${fused.toFixed(2)} ms, tfjs path ${tfjs.toFixed(2)} ms, speed-up ${(tfjs / fused).toFixed(2)}x`,
    );
  }
  for (const batch of [1, 8, 32, 64]) {
    const { kernel, tfjs } = inferenceMicros(batch);
    results[`inference/batch${batch}/rollout_kernel_us`] = kernel;
    results[`inference/batch${batch}/tfjs_wasm_us`] = tfjs;
    console.log(
      `inference batch ${String(batch).padStart(2)}: rollout kernel (ModuleInference) ${kernel.toFixed(1)} us, tfjs(wasm) predict ${tfjs.toFixed(1)} us, speed-up ${(tfjs / kernel).toFixed(1)}x`,
    );
  }
  return results;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await runLearnerBench();
