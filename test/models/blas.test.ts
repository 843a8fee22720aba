/**
 * Native BLAS for the wasm backend (`learner.blas: auto`): with OpenBLAS installed (`npm run
 * setup:blas`), the wrapped matrix-product kernels give the float64 reference's products (transposes,
 * bias, ReLU, batches) and a PPO update the weights wasm's own kernels give; a library that does not load
 * changes nothing.
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { ppoConfigSchema } from "../../src/algos/ppo/config.js";
import { PPOLearner } from "../../src/algos/ppo/learner.js";
import { allocateTrainBatch } from "../../src/buffers/train_batch.js";
import { Box, Discrete } from "../../src/envs/spaces.js";
import { selectBackend } from "../../src/learner/backend.js";
import { installNativeBlas, openblasCoreFor } from "../../src/learner/blas.js";
import { moduleSpecFor } from "../../src/models/catalog.js";

type Case = {
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
  bias: boolean;
  relu: boolean;
};
const CASES: Case[] = [
  { a: [1, 64, 48], b: [1, 48, 40], transposeA: false, transposeB: false, bias: false, relu: false },
  { a: [1, 48, 64], b: [1, 48, 40], transposeA: true, transposeB: false, bias: true, relu: true },
  { a: [1, 64, 48], b: [1, 40, 48], transposeA: false, transposeB: true, bias: true, relu: false },
  { a: [2, 30, 20], b: [2, 20, 50], transposeA: false, transposeB: false, bias: true, relu: true },
  // 2-D operands, as tf.matMul hands them to the kernel (the hand-written backward passes' products).
  { a: [40, 64], b: [40, 32], transposeA: true, transposeB: false, bias: false, relu: false },
  { a: [64, 40], b: [32, 40], transposeA: false, transposeB: true, bias: false, relu: false },
];

/** The product in float64 from the same float32 operands. */
/** A case's shapes with the batch made explicit (2-D: a batch of one). */
const batched = (shape: number[]) => (shape.length === 2 ? [1, ...shape] : shape);

function reference(c: Case, a: Float32Array, b: Float32Array, bias: Float32Array): Float64Array {
  const [sa, sb] = [batched(c.a), batched(c.b)];
  const [batch] = sa;
  const m = c.transposeA ? sa[2] : sa[1];
  const k = c.transposeA ? sa[1] : sa[2];
  const n = c.transposeB ? sb[1] : sb[2];
  const out = new Float64Array(batch * m * n);
  for (let i = 0; i < batch; i++) {
    for (let r = 0; r < m; r++) {
      for (let col = 0; col < n; col++) {
        let sum = c.bias ? bias[col] : 0;
        for (let q = 0; q < k; q++) {
          const x = c.transposeA ? a[i * k * m + q * m + r] : a[i * m * k + r * k + q];
          const y = c.transposeB ? b[i * n * k + col * k + q] : b[i * k * n + q * n + col];
          sum += x * y;
        }
        out[i * m * n + r * n + col] = c.relu ? Math.max(sum, 0) : sum;
      }
    }
  }
  return out;
}

function product(c: Case, a: Float32Array, b: Float32Array, bias: Float32Array): Float32Array {
  return tf
    .tidy(() => {
      const inputs = {
        a: tf.tensor(a, c.a),
        b: tf.tensor(b, c.b),
        ...(c.bias ? { bias: tf.tensor1d(bias) } : {}),
      };
      const attrs = {
        transposeA: c.transposeA,
        transposeB: c.transposeB,
        activation: c.relu ? "relu" : "linear",
      };
      const fused = c.bias || c.relu;
      return tf.engine().runKernel(fused ? "_FusedMatMul" : "BatchMatMul", inputs, attrs) as tf.Tensor;
    })
    .dataSync() as Float32Array;
}

function ppoWeightsAfterUpdates(): Float32Array {
  const module = moduleSpecFor(new Box(-5, 5, [4]), new Discrete(2), {
    type: "actor_critic",
    model: { hiddens: [32, 32], activation: "relu", vf_share_layers: true, initial_log_std: 0 },
  });
  const config = ppoConfigSchema.parse({ train_batch_size: 256, minibatch_size: 128, num_epochs: 2 });
  const learner = new PPOLearner({ module, config, seed: 0 });
  const batch = allocateTrainBatch(256, 4, 1);
  for (let i = 0; i < batch.obs.length; i++) batch.obs[i] = Math.sin(i);
  for (let i = 0; i < 256; i++) {
    batch.actions[i] = i % 2;
    batch.logp[i] = -0.7 + 0.1 * Math.cos(i);
    batch.advantages[i] = Math.cos(i * 1.3);
    batch.returns[i] = Math.sin(i * 0.7);
  }
  for (let i = 0; i < 3; i++) learner.update({ batch, numEnvStepsSampled: 0 });
  const weights = learner.getWeights().slice();
  learner.dispose();
  return weights;
}

describe("native BLAS", () => {
  beforeAll(async () => {
    await selectBackend("wasm");
  });

  it("a library that does not load changes nothing", async () => {
    process.env.RLTS_BLAS = "/nonexistent/libnoblas.so";
    try {
      expect(await installNativeBlas()).toBeNull();
    } finally {
      delete process.env.RLTS_BLAS;
    }
  });

  it("OpenBLAS gets the kernels of the CPU's instruction sets, not its oldest ones for a CPU it does not know", () => {
    const avx512 = ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"];
    expect(openblasCoreFor(new Set(avx512))).toBe("SkylakeX");
    expect(openblasCoreFor(new Set(["avx2", "fma", "avx512f"]))).toBe("Haswell");
    expect(openblasCoreFor(new Set(["sse4_2", "avx"]))).toBeNull();
  });

  it("computes the products of the float64 reference, and a PPO update the weights wasm's kernels give", async () => {
    const wasmWeights = ppoWeightsAfterUpdates();
    // Every product to BLAS, however small.
    const library = await installNativeBlas(1);
    expect(library, "no CBLAS loads: run `npm run setup:blas`").toMatch(/blas/);
    // OpenBLAS names the kernels it runs, and they are not the SSE3 fallback of a CPU it did not know.
    if (library?.includes("openblas")) expect(library).toMatch(/\((?!Prescott\))\w+\)$/);
    for (const c of CASES) {
      const a = Float32Array.from({ length: c.a.reduce((x, y) => x * y) }, (_, i) => Math.sin(i * 0.37));
      const b = Float32Array.from({ length: c.b.reduce((x, y) => x * y) }, (_, i) => Math.cos(i * 0.71));
      const sb = batched(c.b);
      const bias = Float32Array.from({ length: c.transposeB ? sb[1] : sb[2] }, (_, i) => 0.1 * i - 1);
      const expected = reference(c, a, b, bias);
      const got = product(c, a, b, bias);
      expect(got.length).toBe(expected.length);
      for (let i = 0; i < got.length; i++)
        expect(Math.abs(got[i] - expected[i]), `${JSON.stringify(c)} [${i}]`).toBeLessThan(1e-4);
    }
    const blasWeights = ppoWeightsAfterUpdates();
    for (let i = 0; i < wasmWeights.length; i++) expect(blasWeights[i]).toBeCloseTo(wasmWeights[i], 4);
  });
});
