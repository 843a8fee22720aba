/**
 * Learner and inference benchmarks. `npx tsx bench/learner.ts`
 *  1. PPO update samples/s (the full minibatch step: forward, loss, gradients, clip, Adam) for a 4-in,
 *     2-action separate actor/critic tanh MLP, on every tfjs backend that loads: the training loop's
 *     hand-derived backward pass (`ppoMinibatchUpdate`) against autodiff through `ppoLoss` (the reference,
 *     what training ran before) in the same process, and against PyTorch on CPU with the same network, loss
 *     and optimizer (bench/python/learner_torch.py, venv from bench/setup.sh).
 *  2. Rollout inference: the rollout kernel (ModuleInference.act, WebAssembly SIMD) vs tfjs `predict` at batch 1/8/32/64.
 * Every figure is the median of several timed runs in this process; compare ratios, not absolutes.
 */

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { ppoMinibatchUpdate } from "../src/algos/ppo/learner.js";
import { ppoLoss } from "../src/algos/ppo/loss.js";
import { Box, Discrete } from "../src/envs/spaces.js";
import { Adam } from "../src/learner/adam.js";
import { type BackendName, selectBackend } from "../src/learner/backend.js";
import { initialWeights, type ModuleSpec, moduleSpecFor } from "../src/models/catalog.js";
import { ModuleInference } from "../src/models/inference.js";
import { ActorCritic } from "../src/models/rl_module.js";
import { createRng, normal } from "../src/utils/rng.js";

const CASES = [
  { hidden: 64, batch: 64, steps: 100 },
  { hidden: 64, batch: 128, steps: 100 },
  { hidden: 64, batch: 256, steps: 100 },
  { hidden: 64, batch: 512, steps: 50 },
  { hidden: 256, batch: 512, steps: 20 },
];
const REPEATS = 5;

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

type UpdatePath = "hand" | "autodiff";

/**
 * Samples/s of full PPO minibatch updates; the minibatch is rebuilt from typed arrays each step, as in PPO.
 * `path`: the training loop's hand-derived gradients, or autodiff through `ppoLoss`.
 */
function updateRate(hidden: number, batch: number, steps: number, path: UpdatePath): number {
  const rng = createRng(0);
  const random = (n: number) => Float32Array.from({ length: n }, () => normal(rng));
  const obs = random(batch * 4);
  const actions = Int32Array.from({ length: batch }, (_, i) => i % 2);
  const oldLogp = random(batch).map((x) => -0.69 + 0.1 * x);
  const advantages = random(batch);
  const returns = random(batch);
  const model = new ActorCritic(spec(hidden), initialWeights(spec(hidden), 0));
  const learner = new Adam(model, { adamEpsilon: 1e-5, gradClip: 0.5 });
  const coeffs = { clipParam: 0.2, vfClipParam: 0.2, vfLossCoeff: 0.5, entropyCoeff: 0.01 };
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
      const { policyOut, values } = model.forward(t.obs);
      const dist = model.distribution(policyOut);
      const loss = ppoLoss({
        logp: dist.logProb(t.actions),
        oldLogp: t.logp,
        advantages: t.advantages,
        values,
        oldValues: t.values,
        returns: t.returns,
        entropy: dist.entropy(),
        ...coeffs,
      });
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

function torchRates(): { hidden: number; batch: number; samples_per_s: number; threads: number }[] | null {
  const python = fileURLToPath(new URL("./.venv/bin/python", import.meta.url));
  if (!existsSync(python)) return null;
  const script = fileURLToPath(new URL("./python/learner_torch.py", import.meta.url));
  // One torch thread, as the wasm backend has one (and the SB3 comparison runs torch on one).
  const out = execFileSync(python, [script, "--repeats", String(REPEATS), "--threads", "1"], {
    encoding: "utf8",
  });
  return out
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line));
}

export async function runLearnerBench(): Promise<Record<string, number>> {
  const results: Record<string, number> = {};
  const torch = torchRates();
  if (!torch) console.log("PyTorch: bench/.venv missing (run bench/setup.sh); tfjs figures only");
  for (const backend of ["wasm", "cpu"] as BackendName[]) {
    try {
      await selectBackend(backend);
    } catch (err) {
      console.log(`${backend}: does not load here (${(err as Error).message})`);
      continue;
    }
    for (const { hidden, batch, steps } of CASES) {
      const backendSteps = backend === "cpu" ? Math.ceil(steps / 4) : steps;
      const rate = updateRate(hidden, batch, backendSteps, "hand");
      const autodiffRate = updateRate(hidden, batch, backendSteps, "autodiff");
      const reference = torch?.find((t) => t.hidden === hidden && t.batch === batch);
      const key = `update/${backend}/${hidden}x${hidden}/mb${batch}`;
      results[`${key}/samples_per_s`] = rate;
      results[`${key}/autodiff_samples_per_s`] = autodiffRate;
      if (reference) results[`${key}/ratio_vs_torch`] = rate / reference.samples_per_s;
      console.log(
        `PPO update ${backend.padEnd(5)} ${hidden}x${hidden} minibatch ${String(batch).padStart(3)}: ${rate.toFixed(0).padStart(7)} samples/s` +
          `  autodiff ${autodiffRate.toFixed(0).padStart(7)}  speed-up ${(rate / autodiffRate).toFixed(2)}x` +
          (reference
            ? `  torch(${reference.threads} threads) ${reference.samples_per_s.toFixed(0)}  ratio ${(rate / reference.samples_per_s).toFixed(2)}`
            : ""),
      );
    }
  }
  await selectBackend("wasm");
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
