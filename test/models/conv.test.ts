/**
 * The CNN encoder: the hand-written backward pass (stride-1 convolutions on the space-to-depth form)
 * against tfjs autodiff through `tf.conv2d` on the cpu backend, the same fast path on wasm against cpu,
 * the runners' forward pass against the learner's, and the catalog's defaults and refusals.
 */
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { Box, Discrete } from "../../src/envs/spaces.js";
import { selectBackend } from "../../src/learner/backend.js";
import { initialWeights, moduleSpecFor, towerWeights, weightsSize } from "../../src/models/catalog.js";
import {
  ConvEncoder,
  type ConvFilter,
  ConvInference,
  convEncoderSize,
  convEncoderSpec,
  convViews,
  initConvEncoder,
} from "../../src/models/conv.js";
import { policyLayersModel } from "../../src/models/export.js";
import { ActorCritic } from "../../src/models/rl_module.js";
import { createRng, normal } from "../../src/utils/rng.js";

const CASES: [string, number[], ConvFilter[]][] = [
  ["one 3x3 layer, stride 1 (Catch's default)", [10, 5, 1], [[16, [3, 3], 1]]],
  [
    "same padding, a non-square kernel, strides [2, 1]",
    [12, 11, 3],
    [
      [4, [3, 2], 2, "same"],
      [5, 3, 1],
      [3, [2, 2], [2, 1]],
    ],
  ],
  [
    "the Nature CNN's strides 4, 2, 1 on 36x36",
    [36, 36, 2],
    [
      [8, [8, 8], 4],
      [6, [4, 4], 2],
      [4, [3, 3], 1],
    ],
  ],
  [
    "stride 3 with same padding, a kernel not a multiple of the stride",
    [13, 13, 2],
    [
      [3, [5, 4], 3, "same"],
      [2, [2, 2], 2],
    ],
  ],
];

const batch = 3;

/** Random encoder weights (biases not zero) and observations, for `filters` on `shape`. */
function randomCase(shape: number[], filters: ConvFilter[]) {
  const spec = convEncoderSpec(shape, filters, 0.5);
  const flat = new Float32Array(convEncoderSize(spec));
  initConvEncoder(flat, spec, "conv-test");
  const rng = createRng(3);
  for (let i = 0; i < flat.length; i++) flat[i] += 0.05 * normal(rng);
  const obsDim = shape[0] * shape[1] * shape[2];
  const obs = Float32Array.from({ length: batch * obsDim }, () => normal(rng));
  const dFeatures = Float32Array.from({ length: batch * spec.outDim }, () => normal(rng));
  return { spec, flat, obs, obsDim, dFeatures };
}

function encoderWith(spec: ReturnType<typeof convEncoderSpec>, flat: Float32Array): ConvEncoder {
  const encoder = new ConvEncoder(spec, true);
  convViews(spec, flat).forEach((view, i) => {
    encoder.weights[i].filter.assign(tf.tensor(view.filter, encoder.weights[i].filter.shape));
    encoder.weights[i].bias.assign(tf.tensor(view.bias));
  });
  return encoder;
}

function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe("CNN encoder gradients by hand", () => {
  afterAll(async () => {
    await selectBackend("cpu");
  });

  it.each(CASES)("%s: equal autodiff on cpu, and wasm's equal cpu's", async (_, shape, filters) => {
    const { spec, flat, obs, obsDim, dFeatures } = randomCase(shape, filters);
    const fast: Record<string, Float32Array> = {};
    for (const backend of ["cpu", "wasm"] as const) {
      await selectBackend(backend);
      const encoder = encoderWith(spec, flat);
      tf.tidy(() => {
        const x = tf.tensor2d(obs, [batch, obsDim]);
        const dy = tf.tensor2d(dFeatures, [batch, spec.outDim]);
        const { features, backward } = encoder.forwardWithBackward(x);
        expect(features.shape).toEqual([batch, spec.outDim]);
        fast[backend] = backward(dy).dataSync() as Float32Array;
        if (backend !== "cpu") return;
        const { grads } = tf.variableGrads(
          () => tf.sum(tf.mul(encoder.forward(x), dy)) as tf.Scalar,
          encoder.variables,
        );
        const reference = tf
          .concat(encoder.variables.map((v) => tf.reshape(grads[v.name], [-1]) as tf.Tensor1D))
          .dataSync();
        expect(Math.max(...reference.map(Math.abs))).toBeGreaterThan(0.1);
        expect(maxAbsDifference(fast.cpu, reference)).toBeLessThan(1e-5);
      });
      tf.dispose(encoder.variables);
    }
    expect(maxAbsDifference(fast.wasm, fast.cpu)).toBeLessThan(1e-5);
  });

  it("the runners' forward pass (ConvInference) equals the learner's, from the flat weights", async () => {
    await selectBackend("wasm");
    const { spec, flat, obs, obsDim } = randomCase(CASES[1][1], CASES[1][2]);
    const encoder = encoderWith(spec, flat);
    const learner = tf.tidy(() => encoder.forward(tf.tensor2d(obs, [batch, obsDim])).dataSync());
    const inference = new ConvInference(spec);
    inference.setWeights(flat);
    expect(maxAbsDifference(inference.features(obs, batch), learner)).toBeLessThan(1e-6);
    inference.dispose();
    tf.dispose(encoder.variables);
  });
});

describe("the catalog's CNN", () => {
  const model = { hiddens: [32], activation: "relu" as const, vf_share_layers: true, initial_log_std: 0 };

  it("puts the Nature CNN before the towers of 84x84 uint8 frames, scaled to [0, 1] inside the module", () => {
    const spec = moduleSpecFor(new Box(0, 255, [84, 84, 4], "uint8"), new Discrete(6), {
      type: "actor_critic",
      model,
    });
    expect(spec.encoder?.layers.map((layer) => layer.outShape)).toEqual([
      [20, 20, 32],
      [9, 9, 64],
      [7, 7, 64],
    ]);
    expect(spec.encoder?.outDim).toBe(3136);
    expect(spec.encoder?.inputScale).toBe(1 / 255);
    expect(spec.obsDim).toBe(84 * 84 * 4);
    expect(spec.towers[0].layers[0].inDim).toBe(3136);
    // The CNN's weights come first, then the towers'.
    const weights = initialWeights(spec, 0);
    expect(weights.length).toBe(weightsSize(spec));
    expect(towerWeights(spec, weights).byteOffset).toBe(4 * convEncoderSize(spec.encoder));
  });

  it("uses one 3x3 layer of 16 for small grids, and flattens the image for conv_filters: []", () => {
    const grid = new Box(0, 1, [10, 10, 4]);
    const spec = moduleSpecFor(grid, new Discrete(3), { type: "q", model, headHiddens: [], dueling: false });
    expect(spec.encoder?.layers.map((layer) => layer.outShape)).toEqual([[8, 8, 16]]);
    expect(spec.encoder?.inputScale).toBe(1);
    const flat = moduleSpecFor(grid, new Discrete(3), {
      type: "actor_critic",
      model: { ...model, conv_filters: [] },
    });
    expect(flat.encoder).toBeNull();
    expect(flat.towers[0].layers[0].inDim).toBe(400);
  });

  it("reads CHW stacked frames ([4, h, w], as FrameStackObservation makes them) as the HWC image", () => {
    const request = {
      type: "actor_critic" as const,
      model: { ...model, conv_filters: [[4, 3, 2]] as ConvFilter[] },
    };
    const chw = moduleSpecFor(new Box(0, 255, [4, 9, 7], "uint8"), new Discrete(3), request);
    const hwc = moduleSpecFor(new Box(0, 255, [9, 7, 4], "uint8"), new Discrete(3), request);
    expect(chw.encoder?.channelsFirst).toBe(true);
    expect(hwc.encoder?.channelsFirst).toBe(false);
    expect(chw.encoder?.inputShape).toEqual([9, 7, 4]);
    const weights = initialWeights(hwc, 2).map((w, i) => w + 0.01 * Math.sin(i));
    const rng = createRng(5);
    const chwObs = Float32Array.from({ length: 2 * 4 * 9 * 7 }, () => Math.floor(256 * rng()));
    // The same frames, channels last.
    const hwcObs = new Float32Array(chwObs.length);
    for (let b = 0; b < 2; b++)
      for (let c = 0; c < 4; c++)
        for (let y = 0; y < 9; y++)
          for (let x = 0; x < 7; x++)
            hwcObs[b * 252 + (y * 7 + x) * 4 + c] = chwObs[b * 252 + c * 63 + y * 7 + x];
    const outputs = (spec: typeof chw, obs: Float32Array) => {
      const module = new ActorCritic(spec, weights);
      const exported = policyLayersModel(spec, weights);
      const result = tf.tidy(() => {
        const x = tf.tensor2d(obs, [2, 252]);
        return [module.forward(x).policyOut.dataSync(), (exported.predict(x) as tf.Tensor).dataSync()];
      });
      module.dispose();
      exported.dispose();
      return result;
    };
    const [fromChw, exportedChw] = outputs(chw, chwObs);
    const [fromHwc] = outputs(hwc, hwcObs);
    expect(maxAbsDifference(fromChw, fromHwc)).toBeLessThan(1e-6);
    expect(maxAbsDifference(exportedChw, fromHwc)).toBeLessThan(1e-5);
  });

  it("refuses conv_filters without image observations, sizes with no default, and layers with no output", () => {
    const request = (conv_filters: ConvFilter[] | null) => ({
      type: "actor_critic" as const,
      model: { ...model, conv_filters },
    });
    expect(() => moduleSpecFor(new Box(-1, 1, [4]), new Discrete(2), request([[8, 3, 1]]))).toThrow(
      /model.conv_filters: a CNN needs image observations .*Box\(-1, 1, \(4,\)/,
    );
    expect(() => moduleSpecFor(new Box(0, 1, [30, 40, 3]), new Discrete(2), request(null))).toThrow(
      "model.conv_filters: no default CNN for 30x40 images",
    );
    expect(() => moduleSpecFor(new Box(0, 1, [6, 6, 1]), new Discrete(2), request([[4, 7, 1]]))).toThrow(
      "model.conv_filters[0]: a 7x7 kernel at stride 1x1 has no output on a 6x6 input",
    );
  });
});
