/**
 * The fused step's loops split over kernel threads (`learner.num_threads`): products by rows, activations
 * and Adam by ranges, the same weights to the bit as one thread (every element is computed the same way in
 * any part), and within float32 rounding with products through the native BLAS in every part; a worker's
 * failure is one line, never a wait; training with threads starts and stops them with the learner.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { A2C } from "../../src/algos/a2c/a2c.js";
import { PPO } from "../../src/algos/ppo/ppo.js";
import { Box, Discrete } from "../../src/envs/spaces.js";
import { loadNativeGemm, type NativeGemm } from "../../src/learner/blas.js";
import { FusedMlpTrainer, type FusedPPOMinibatch } from "../../src/learner/fused_mlp.js";
import { KernelThreads, kernelThreads } from "../../src/learner/kernel_threads.js";
import { initialWeights, type ModuleSpec, moduleSpecFor, qFunctionSpec } from "../../src/models/catalog.js";
import { createRng, normal } from "../../src/utils/rng.js";
import { expectClose } from "../fixtures/fused_kernel.js";

const observationSpace = new Box(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, [6]);
/** Widths and a batch that are not multiples of the kernel's 8 columns and 4 rows, so blocks end unevenly. */
const categorical = moduleSpecFor(observationSpace, new Discrete(3), {
  type: "actor_critic",
  model: { hiddens: [70, 37], activation: "tanh", vf_share_layers: false, initial_log_std: 0 },
});
const gaussianShared = moduleSpecFor(observationSpace, new Box(-1, 1, [2]), {
  type: "actor_critic",
  model: { hiddens: [45], activation: "relu", vf_share_layers: true, initial_log_std: -0.5 },
});
const dueling = moduleSpecFor(observationSpace, new Discrete(4), {
  type: "q",
  model: { hiddens: [52, 40], activation: "relu", vf_share_layers: false, initial_log_std: 0 },
  headHiddens: [24],
  dueling: true,
});
const rows = 61;
const coeffs = { clipParam: 0.2, vfClipParam: 0.3, vfLossCoeff: 0.5, entropyCoeff: 0.01 };
const adam = { adamEpsilon: 1e-5, gradClip: 0.5 };

function minibatch(spec: ModuleSpec, seed: number): FusedPPOMinibatch {
  const rng = createRng(seed);
  const random = (n: number) => Float32Array.from({ length: n }, () => normal(rng));
  const actions =
    spec.head.kind === "categorical"
      ? Float32Array.from({ length: rows }, (_, i) => i % 3)
      : random(rows * spec.actionDim);
  return {
    obs: random(rows * spec.obsDim),
    actions,
    logp: random(rows).map((x) => -1 + 0.2 * x),
    values: random(rows),
    advantages: random(rows),
    returns: random(rows),
  };
}

/**
 * The weights after 4 PPO steps (or TD steps for a Q module) with its loops on `threads` and, with
 * `native`, every product through the native BLAS.
 */
function train(spec: ModuleSpec, threads: KernelThreads | null, native: NativeGemm | null = null) {
  // Room for fewer rows than a step has: the memory grows under the threads.
  const trainer = new FusedMlpTrainer(spec, adam, 8, native && { gemm: native, minMultiplyAdds: 1 }, threads);
  trainer.setWeights(initialWeights(spec, 1));
  if (spec.head.kind === "q_values") trainer.setTargetWeights(initialWeights(spec, 2));
  for (let step = 0; step < 4; step++) {
    const mb = minibatch(spec, step);
    if (spec.head.kind === "q_values") {
      const sample = {
        obs: mb.obs,
        actions: mb.actions.map((a) => a % 4),
        weights: new Float32Array(rows).fill(1),
      };
      trainer.tdStep(sample, mb.returns, rows, "huber", 1e-3);
    } else {
      trainer.ppoStep(mb, rows, coeffs, 1e-3);
    }
  }
  return trainer.getWeights();
}

/**
 * Every loop and pass split, however short, so that every kind of product, activation, Adam range and
 * tower pass runs in parts.
 */
const startSplittingAll = (size: number, blas: boolean) =>
  KernelThreads.start(size, blas, { kernel: 1, native: 1, towers: 1 }, 16);

/** `size` threads splitting everything, started before the enclosing block's tests and ended after them. */
function threadsForBlock(size: number): () => KernelThreads {
  let threads: KernelThreads;
  beforeAll(async () => {
    threads = await startSplittingAll(size, false);
  }, 60_000);
  afterAll(async () => {
    await threads.close();
  });
  return () => threads;
}

describe("kernel threads for the fused step", () => {
  const three = threadsForBlock(3);

  it.each([
    ["categorical, separate towers", categorical],
    ["Gaussian, shared trunk", gaussianShared],
    ["dueling Q", dueling],
  ] as const)("%s: the kernel's loops on 3 threads give the weights of 1, to the bit", (_, spec) => {
    const alone = train(spec, null);
    const split = train(spec, three());
    expect(Array.from(split)).toEqual(Array.from(alone));
  });

  it("products through the native BLAS in parts on 3 threads give the weights of one BLAS call, within float32 rounding", async (ctx) => {
    const native = await loadNativeGemm();
    if (!native) ctx.skip();
    const blasPool = await startSplittingAll(3, true);
    try {
      for (const spec of [categorical, dueling]) {
        expectClose(train(spec, blasPool, native), train(spec, null, native), 1e-5, "weights");
      }
    } finally {
      await blasPool.close();
    }
  }, 60_000);

  describe("passes by towers (as many independent towers as threads)", () => {
    const two = threadsForBlock(2);

    it("separate actor and critic on 2 threads give the weights of 1, to the bit", () => {
      const towers = vi.spyOn(two(), "towers");
      const split = train(categorical, two());
      // A forward and a backward pass per step, each by towers.
      expect(towers).toHaveBeenCalledTimes(8);
      towers.mockRestore();
      expect(Array.from(split)).toEqual(Array.from(train(categorical, null)));
    });

    it("a shared trunk is not split by towers, and trains as on 1 thread", () => {
      const towers = vi.spyOn(two(), "towers");
      const split = train(gaussianShared, two());
      expect(towers).not.toHaveBeenCalled();
      towers.mockRestore();
      expect(Array.from(split)).toEqual(Array.from(train(gaussianShared, null)));
    });

    // Three critics: two towers on one thread, one on the other.
    it.each([2, 3])(
      "%i critics: steps and input gradients on 2 threads equal 1 thread's, to the bit",
      (n) => {
        const critics = qFunctionSpec(categorical, { hiddens: [33, 20], activation: "relu" }, n);
        const run = (threads: KernelThreads | null) => {
          const trainer = new FusedMlpTrainer(critics, adam, rows, null, threads);
          trainer.setWeights(initialWeights(critics, 3));
          const rng = createRng(7);
          const random = (n: number) => Float32Array.from({ length: n }, () => normal(rng));
          const inputGradients: number[] = [];
          for (let step = 0; step < 3; step++) {
            trainer.inputRows(rows).set(random(rows * critics.obsDim));
            trainer.forwardRows(rows, "online");
            trainer.backwardStep(
              rows,
              Array.from({ length: n }, () => random(rows)),
              1e-3,
            );
            trainer.forwardRows(rows, "online");
            const out = new Float32Array(rows * critics.obsDim);
            const gradients = Array.from({ length: n }, (_, k) => (k === 1 ? null : random(rows)));
            inputGradients.push(...trainer.inputGradient(rows, gradients, out));
          }
          return [...trainer.getWeights(), ...inputGradients];
        };
        const towers = vi.spyOn(two(), "towers");
        const split = run(two());
        // Every pass by towers: the forward passes, the weight-gradient and the input-gradient passes (each
        // tower into rows of its own, summed after).
        expect(towers).toHaveBeenCalledTimes(12);
        towers.mockRestore();
        expect(split).toEqual(run(null));
      },
    );

    it("through the native BLAS, within float32 rounding of one BLAS call", async (ctx) => {
      const native = await loadNativeGemm();
      if (!native) ctx.skip();
      const blasPair = await startSplittingAll(2, true);
      try {
        const towers = vi.spyOn(blasPair, "towers");
        expectClose(train(categorical, blasPair, native), train(categorical, null, native), 1e-5, "weights");
        expect(towers).toHaveBeenCalledTimes(8);
      } finally {
        await blasPair.close();
      }
    }, 60_000);
  });

  it("a block that fails in a worker is one line in the caller, and the threads go on serving", () => {
    const trainer = new FusedMlpTrainer(categorical, adam, rows, null, three());
    trainer.setWeights(initialWeights(categorical, 1));
    // A memory id never registered: the workers cannot find it.
    const nothing = () => {};
    const loops = {
      gemm_rows: nothing,
      activate: nothing,
      activate_backward: nothing,
      adam_range: nothing,
      forward_layers: nothing,
      backward_layers: nothing,
    };
    expect(() => three().product(9999, loops, [0, 4, 4, 1, 0, 32, 0, 64, 0, 0], null)).toThrow(
      /^kernel thread \d: kernel memory 9999 was never registered$/,
    );
    expect(() => trainer.ppoStep(minibatch(categorical, 0), rows, coeffs, 1e-3)).not.toThrow();
  });
});

describe("learner.num_threads", () => {
  it("a PPO learner with 2 threads trains, reports them, and ends them when it stops", async () => {
    const algo = await PPO.create({
      env: { id: "CartPole-v1" },
      seed: 0,
      env_runners: { num_envs_per_env_runner: 4, rollout_fragment_length: 64 },
      ppo: { train_batch_size: 256, minibatch_size: 128, num_epochs: 2 },
      model: { hiddens: [64, 64] },
      learner: { num_threads: 2 },
    });
    try {
      expect(algo.backend).toMatch(/, 2 learner threads$/);
      expect(kernelThreads()?.size).toBe(2);
      await algo.train();
    } finally {
      await algo.stop();
    }
    expect(kernelThreads()).toBeNull();
  }, 120_000);

  it("a learner off the fused step (A2C) starts none and reports none", async () => {
    const algo = await A2C.create({
      env: { id: "CartPole-v1" },
      seed: 0,
      env_runners: { num_envs_per_env_runner: 4, rollout_fragment_length: 8 },
      learner: { num_threads: 2 },
    });
    try {
      expect(algo.backend).not.toMatch(/learner threads/);
      expect(kernelThreads()).toBeNull();
    } finally {
      await algo.stop();
    }
  }, 120_000);
});
