import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../src/learner/backend.js";
import { SACLearner } from "../src/algos/sac/learner.js";
import { sacConfigSchema } from "../src/algos/sac/config.js";
import { moduleSpecFor } from "../src/models/catalog.js";
import { Box } from "../src/envs/spaces.js";
await selectBackend(process.argv[2] as any ?? "wasm");
for (const h of [64, 128, 256]) {
  const config = sacConfigSchema.parse({ q_model: { hiddens: [h, h] } });
  const spec = moduleSpecFor(new Box(-1, 1, [3]), new Box(-2, 2, [1]), { type: "squashed_gaussian_actor", model: { hiddens: [h, h], activation: "relu", vf_share_layers: false, initial_log_std: 0 }, noiseCorrelation: 0 });
  const learner = new SACLearner({ module: spec, config, seed: 0 });
  const n = 256;
  const r = () => Float32Array.from({ length: n * 3 }, () => Math.random());
  const sample = { count: n, obs: r(), nextObs: r(), actions: Float32Array.from({ length: n }, () => Math.random() * 2 - 1), rewards: new Float32Array(n), discounts: new Float32Array(n).fill(0.99), terminated: new Uint8Array(n), indices: new Int32Array(n), weights: new Float32Array(n).fill(1) };
  for (let i = 0; i < 100; i++) learner.update({ sample, targetTau: 0.005 });
  const t = performance.now();
  const k = 100;
  for (let i = 0; i < k; i++) learner.update({ sample, targetTau: 0.005 });
  console.log(tf.getBackend(), h, ((performance.now() - t) / k).toFixed(2), "ms/step", tf.memory().numTensors);
}
{
  const h = 256;
  const config = sacConfigSchema.parse({ q_model: { hiddens: [h, h] } });
  const spec = moduleSpecFor(new Box(-1, 1, [3]), new Box(-2, 2, [1]), { type: "squashed_gaussian_actor", model: { hiddens: [h, h], activation: "relu", vf_share_layers: false, initial_log_std: 0 }, noiseCorrelation: 0 });
  const learner = new SACLearner({ module: spec, config, seed: 0 });
  const n = 256;
  const r = () => Float32Array.from({ length: n * 3 }, () => Math.random());
  const sample = { count: n, obs: r(), nextObs: r(), actions: Float32Array.from({ length: n }, () => Math.random() * 2 - 1), rewards: new Float32Array(n), discounts: new Float32Array(n).fill(0.99), terminated: new Uint8Array(n), indices: new Int32Array(n), weights: new Float32Array(n).fill(1) };
  for (let i = 0; i < 50; i++) learner.update({ sample, targetTau: 0.005 });
  const info = await tf.profile(() => { learner.update({ sample, targetTau: 0.005 }); });
  const by: Record<string, [number, number]> = {};
  for (const k of info.kernels) { const e = by[k.name] ?? [0, 0]; e[0] += k.kernelTimeMs as number; e[1]++; by[k.name] = e; }
  console.log(Object.entries(by).sort((a, b) => b[1][0] - a[1][0]).slice(0, 15).map(([k, [ms, c]]) => `${k} ${ms.toFixed(2)}ms x${c}`).join("\n"));
  console.log("kernels", info.kernels.length);
}
