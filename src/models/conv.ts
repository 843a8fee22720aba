/**
 * The CNN encoder for image observations (HWC): a chain of ReLU conv layers described by RLlib's
 * `model.conv_filters` (`[out_channels, [kh, kw], stride]`, optionally a fourth "valid" | "same"), whose
 * flattened output feeds the MLP towers. Its weights come first in the module's flat layout: per layer
 * the filter `[kh, kw, in, out]` (TensorFlow's HWIO order, as a layers model's Conv2D kernel) then the
 * bias `[out]`.
 *
 * One forward function serves the learner's fast path, the autodiff reference (on the cpu backend,
 * whose Conv2D gradient exists) and the env runners. The backward pass is written by hand because the
 * wasm backend has no Conv2DBackpropFilter and runs its Conv2DBackpropInput in a naive loop (10-40x the
 * forward's time at the Nature CNN's sizes): both gradients are stride-1 convolutions, which wasm runs in
 * XNNPACK. A stride-s layer is first rewritten as a stride-1 one on the space-to-depth of its input
 * (each s x s block of pixels becomes s^2 channels; the filter is rearranged to match, with
 * ceil(k / s) taps per axis), so every layer's backward is the stride-1 case:
 * - dFilter[kh, kw, c, o] = sum over batch and positions of x[b, i + kh, j + kw, c] dy[b, i, j, o]: a
 *   convolution of the input with the batch as its channels (x^T `[c, h, w, batch]`) by dy^T
 *   `[oh, ow, batch, o]` as the filter;
 * - dx: the "full" convolution of dy (padded by k - 1) with the filter flipped in space and transposed.
 */
import * as tf from "@tensorflow/tfjs";
import { createRng } from "../utils/rng.js";
import { orthogonalKernel } from "./mlp.js";

type ConvPadding = "valid" | "same";

/** One entry of `model.conv_filters`, as RLlib writes it. */
export type ConvFilter =
  | [outChannels: number, kernel: number | [number, number], stride: number | [number, number]]
  | [
      outChannels: number,
      kernel: number | [number, number],
      stride: number | [number, number],
      padding: ConvPadding,
    ];

/** One conv layer with every size resolved. */
interface ConvLayerShape {
  inShape: [h: number, w: number, c: number];
  outShape: [h: number, w: number, c: number];
  kernel: [number, number];
  stride: [number, number];
  /** Zeros before the first row / column ("same" padding; 0 for "valid"). */
  padBefore: [number, number];
  /** Zeros after the last row / column. */
  padAfter: [number, number];
}

/** The encoder as plain data (part of a `ModuleSpec`). */
export interface ConvEncoderSpec {
  /** The image the first layer reads, HWC. */
  inputShape: [h: number, w: number, c: number];
  /**
   * The observation is CHW (Gymnasium's FrameStackObservation stacks frames on the first axis): the
   * module moves the channels last first.
   */
  channelsFirst: boolean;
  /** Multiplies the observation first: 1 / 255 for uint8 frames, 1 for float images. */
  inputScale: number;
  layers: ConvLayerShape[];
  /** Numbers in the flattened output: the towers' input size. */
  outDim: number;
}

/** The Nature CNN (Mnih et al. 2015), for 84x84 frames: 3,136 features from 84x84x4. */
const NATURE_CNN_FILTERS: ConvFilter[] = [
  [32, [8, 8], 4],
  [64, [4, 4], 2],
  [64, [3, 3], 1],
];

/** MinAtar's network (Young and Tian 2019) for small grids: one 3x3 layer of 16 channels. */
const SMALL_GRID_FILTERS: ConvFilter[] = [[16, [3, 3], 1]];

/** The largest side an image may have for `SMALL_GRID_FILTERS` to be its default. */
const SMALL_GRID_MAX_SIDE = 16;

/**
 * `conv_filters` for an image of `shape` when the config gives none: the Nature CNN for 84x84, the
 * small-grid network up to 16x16; other sizes must say theirs (RLlib does the same).
 */
export function defaultConvFilters(shape: readonly number[]): ConvFilter[] {
  const [h, w] = shape;
  if (h === 84 && w === 84) return NATURE_CNN_FILTERS;
  if (h <= SMALL_GRID_MAX_SIDE && w <= SMALL_GRID_MAX_SIDE) return SMALL_GRID_FILTERS;
  throw new RangeError(
    `model.conv_filters: no default CNN for ${h}x${w} images (defaults exist for 84x84 and up to ${SMALL_GRID_MAX_SIDE}x${SMALL_GRID_MAX_SIDE}); give conv_filters as [[out_channels, [kh, kw], stride], ...]`,
  );
}

const pair = (v: number | [number, number]): [number, number] => (typeof v === "number" ? [v, v] : v);

/**
 * Whether an image observation of `shape` is CHW rather than HWC, after Stable-Baselines3's rule: its
 * first axis is strictly the smallest (`[4, 84, 84]` stacked frames, not `[10, 5, 1]`; a tie such as
 * `[4, 4, 84]` is read as HWC, where SB3 would say CHW).
 */
export function isChannelsFirst(shape: readonly number[]): boolean {
  const [a, b, c] = shape;
  return a < b && a < c;
}

/**
 * Resolves `filters` on an `inputShape` image (HWC); a layer that would have no output is an error.
 * `channelsFirst`: the observation is that image in CHW order.
 */
export function convEncoderSpec(
  inputShape: readonly number[],
  filters: readonly ConvFilter[],
  inputScale: number,
  channelsFirst = false,
): ConvEncoderSpec {
  if (inputShape.length !== 3) {
    throw new RangeError(
      `model.conv_filters: a CNN needs image observations [height, width, channels], got shape [${inputShape}]`,
    );
  }
  let shape = [...inputShape] as [number, number, number];
  const layers = filters.map((filter, index): ConvLayerShape => {
    const [outChannels, kernelSize, strideSize, padding = "valid"] = filter;
    const kernel = pair(kernelSize);
    const stride = pair(strideSize);
    const padBefore: [number, number] = [0, 0];
    const padAfter: [number, number] = [0, 0];
    const out = [0, 0];
    for (const a of [0, 1]) {
      if (padding === "same") {
        // TensorFlow's "same": ceil(n / s) outputs, the odd zero after.
        out[a] = Math.ceil(shape[a] / stride[a]);
        const total = Math.max((out[a] - 1) * stride[a] + kernel[a] - shape[a], 0);
        padBefore[a] = Math.floor(total / 2);
        padAfter[a] = total - padBefore[a];
      } else out[a] = Math.floor((shape[a] - kernel[a]) / stride[a]) + 1;
    }
    if (!(out[0] >= 1 && out[1] >= 1)) {
      throw new RangeError(
        `model.conv_filters[${index}]: a ${kernel.join("x")} kernel at stride ${stride.join("x")} has no output on a ${shape[0]}x${shape[1]} input`,
      );
    }
    const layer: ConvLayerShape = {
      inShape: shape,
      outShape: [out[0], out[1], outChannels],
      kernel,
      stride,
      padBefore,
      padAfter,
    };
    shape = layer.outShape;
    return layer;
  });
  return {
    inputShape: [inputShape[0], inputShape[1], inputShape[2]],
    channelsFirst,
    inputScale,
    layers,
    outDim: shape[0] * shape[1] * shape[2],
  };
}

function filterSize(layer: ConvLayerShape): number {
  return layer.kernel[0] * layer.kernel[1] * layer.inShape[2] * layer.outShape[2];
}

/** Float32s of the encoder's weights. */
export function convEncoderSize(spec: ConvEncoderSpec | null): number {
  return spec ? spec.layers.reduce((n, layer) => n + filterSize(layer) + layer.outShape[2], 0) : 0;
}

/** Each layer's filter and bias as views into flat weights (the encoder's part comes first). */
export function convViews(
  spec: ConvEncoderSpec,
  flat: Float32Array,
): { filter: Float32Array; bias: Float32Array }[] {
  let offset = 0;
  return spec.layers.map((layer) => {
    const filter = flat.subarray(offset, offset + filterSize(layer));
    offset += filter.length;
    const bias = flat.subarray(offset, offset + layer.outShape[2]);
    offset += bias.length;
    return { filter, bias };
  });
}

/**
 * The encoder's initial weights at the start of `flat`: orthogonal filters with gain sqrt(2) (CleanRL's
 * `layer_init` on a conv: the filter as a `[kh kw in, out]` matrix), zero biases.
 */
export function initConvEncoder(flat: Float32Array, spec: ConvEncoderSpec, rngName: string): void {
  const rng = createRng(rngName);
  for (const [i, view] of convViews(spec, flat).entries()) {
    const layer = spec.layers[i];
    const fanIn = layer.kernel[0] * layer.kernel[1] * layer.inShape[2];
    view.filter.set(orthogonalKernel(fanIn, layer.outShape[2], Math.SQRT2, rng));
  }
}

/** A layer's weights as tensors. */
export interface ConvWeights {
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
}

/** `x` padded for "same" (unchanged for "valid"). */
function padded(x: tf.Tensor4D, layer: ConvLayerShape): tf.Tensor4D {
  const { padBefore: b, padAfter: a } = layer;
  if (b[0] + b[1] + a[0] + a[1] === 0) return x;
  return tf.pad(x, [
    [0, 0],
    [b[0], a[0]],
    [b[1], a[1]],
    [0, 0],
  ]);
}

/** One layer: relu(conv(x, filter) + bias). */
function layerForward(x: tf.Tensor4D, layer: ConvLayerShape, w: ConvWeights): tf.Tensor4D {
  return tf.relu(tf.add(tf.conv2d(padded(x, layer), w.filter, layer.stride, "valid"), w.bias)) as tf.Tensor4D;
}

/** The observations `[batch, h w c]` as the scaled images the first layer reads. */
function images(obs: tf.Tensor2D, spec: ConvEncoderSpec): tf.Tensor4D {
  const [h, w, c] = spec.inputShape;
  const x = spec.channelsFirst
    ? (tf.transpose(tf.reshape(obs, [-1, c, h, w]), [0, 2, 3, 1]) as tf.Tensor4D)
    : (tf.reshape(obs, [-1, h, w, c]) as tf.Tensor4D);
  return spec.inputScale === 1 ? x : tf.mul(x, spec.inputScale);
}

/**
 * Every layer's output from the images `x` (`images(obs)`; the last output flattened to `[batch, outDim]`
 * by the caller), through ops tfjs can differentiate where the backend has the kernels (cpu): the
 * reference and the runners' forward pass.
 */
function convForward(x: tf.Tensor4D, spec: ConvEncoderSpec, weights: ConvWeights[]): tf.Tensor4D[] {
  const outputs: tf.Tensor4D[] = [];
  spec.layers.forEach((layer, i) => {
    outputs.push(layerForward(outputs.at(-1) ?? x, layer, weights[i]));
  });
  return outputs;
}

/** `[batch, h, w, c]` to `[batch, h/s0, w/s1, s0 s1 c]`: each s0 x s1 block of pixels as channels. */
function spaceToDepth(x: tf.Tensor4D, [s0, s1]: [number, number]): tf.Tensor4D {
  if (s0 === 1 && s1 === 1) return x;
  const [b, h, w, c] = x.shape;
  const blocks = tf.reshape(x, [b, h / s0, s0, w / s1, s1, c]);
  return tf.reshape(tf.transpose(blocks, [0, 1, 3, 2, 4, 5]), [
    b,
    h / s0,
    w / s1,
    s0 * s1 * c,
  ]) as tf.Tensor4D;
}

/** The inverse of `spaceToDepth`. */
function depthToSpace(x: tf.Tensor4D, [s0, s1]: [number, number]): tf.Tensor4D {
  if (s0 === 1 && s1 === 1) return x;
  const [b, u, v, sc] = x.shape;
  const c = sc / (s0 * s1);
  const blocks = tf.reshape(x, [b, u, v, s0, s1, c]);
  return tf.reshape(tf.transpose(blocks, [0, 1, 3, 2, 4, 5]), [b, u * s0, v * s1, c]) as tf.Tensor4D;
}

/** A stride-s layer as the stride-1 one on `spaceToDepth` of its (padded) input. */
interface StrideOneForm {
  /** Rows and columns of the padded input the stride-1 form covers: ceil(k / s) + out - 1 blocks each. */
  blocks: [number, number];
  /** Taps per axis of the rearranged filter: ceil(k / s). */
  taps: [number, number];
}

function strideOneForm(layer: ConvLayerShape): StrideOneForm {
  const taps = [0, 1].map((a) => Math.ceil(layer.kernel[a] / layer.stride[a])) as [number, number];
  return { taps, blocks: [taps[0] + layer.outShape[0] - 1, taps[1] + layer.outShape[1] - 1] };
}

/** The padded input cut or zero-extended to whole blocks (rows past the last window are never read). */
function toBlocks(xp: tf.Tensor4D, layer: ConvLayerShape, form: StrideOneForm): tf.Tensor4D {
  const target = [0, 1].map((a) => form.blocks[a] * layer.stride[a]);
  const [, h, w] = xp.shape;
  const cut = tf.slice(xp, [0, 0, 0, 0], [-1, Math.min(h, target[0]), Math.min(w, target[1]), -1]);
  const extra = [Math.max(target[0] - h, 0), Math.max(target[1] - w, 0)];
  if (extra[0] + extra[1] === 0) return cut;
  return tf.pad(cut, [
    [0, 0],
    [0, extra[0]],
    [0, extra[1]],
    [0, 0],
  ]);
}

/** The `[kh, kw, c, o]` filter rearranged for the stride-1 form: `[taps0, taps1, s0 s1 c, o]`. */
function rearrangedFilter(filter: tf.Tensor4D, layer: ConvLayerShape, form: StrideOneForm): tf.Tensor4D {
  const [s0, s1] = layer.stride;
  if (s0 === 1 && s1 === 1) return filter;
  const [kh, kw, c, o] = filter.shape;
  const [t0, t1] = form.taps;
  const full = tf.pad(filter, [
    [0, t0 * s0 - kh],
    [0, t1 * s1 - kw],
    [0, 0],
    [0, 0],
  ]);
  const split = tf.reshape(full, [t0, s0, t1, s1, c, o]);
  return tf.reshape(tf.transpose(split, [0, 2, 1, 3, 4, 5]), [t0, t1, s0 * s1 * c, o]) as tf.Tensor4D;
}

/** The inverse of `rearrangedFilter`, for the gradient. */
function filterFromRearranged(rearranged: tf.Tensor4D, layer: ConvLayerShape): tf.Tensor4D {
  const [s0, s1] = layer.stride;
  if (s0 === 1 && s1 === 1) return rearranged;
  const [t0, t1, , o] = rearranged.shape;
  const c = layer.inShape[2];
  const split = tf.reshape(rearranged, [t0, t1, s0, s1, c, o]);
  const full = tf.reshape(tf.transpose(split, [0, 2, 1, 3, 4, 5]), [t0 * s0, t1 * s1, c, o]);
  return tf.slice(full, [0, 0, 0, 0], [layer.kernel[0], layer.kernel[1], c, o]) as tf.Tensor4D;
}

/**
 * The encoder's gradients (filter then bias per layer, first to last) from dLoss/d(the last layer's
 * output), given the forward pass's images and outputs. The first layer's input gradient is never
 * computed.
 */
function convBackward(
  x: tf.Tensor4D,
  spec: ConvEncoderSpec,
  weights: ConvWeights[],
  outputs: tf.Tensor4D[],
  dOut: tf.Tensor4D,
): tf.Tensor[] {
  const grads: tf.Tensor[] = [];
  let dy = dOut;
  for (let i = spec.layers.length - 1; i >= 0; i--) {
    const layer = spec.layers[i];
    const form = strideOneForm(layer);
    const dPre = tf.mul(dy, tf.step(outputs[i])) as tf.Tensor4D;
    const input = i === 0 ? x : outputs[i - 1];
    const xp = padded(input, layer);
    const blocks = spaceToDepth(toBlocks(xp, layer, form), layer.stride);
    // dFilter: the batch becomes the channels of a stride-1 convolution of the input by dy.
    const byBatch = tf.conv2d(
      tf.transpose(blocks, [3, 1, 2, 0]) as tf.Tensor4D,
      tf.transpose(dPre, [1, 2, 0, 3]) as tf.Tensor4D,
      1,
      "valid",
    );
    const dRearranged = tf.transpose(byBatch, [1, 2, 0, 3]) as tf.Tensor4D;
    const [b0, b1, b2] = dPre.shape;
    grads.unshift(
      filterFromRearranged(dRearranged, layer),
      // The bias's gradient: dPre summed over batch and positions, as ones @ dPre (wasm's axis-0 sum is slow).
      tf.reshape(tf.matMul(tf.ones([1, b0 * b1 * b2]), tf.reshape(dPre, [-1, layer.outShape[2]])), [-1]),
    );
    if (i === 0) break;
    // dx: the full convolution of dy with the flipped, transposed filter, back to pixels, un-padded.
    const [t0, t1] = form.taps;
    const w = rearrangedFilter(weights[i].filter, layer, form);
    const flipped = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    const full = tf.pad(dPre, [
      [0, 0],
      [t0 - 1, t0 - 1],
      [t1 - 1, t1 - 1],
      [0, 0],
    ]);
    const dBlocks = depthToSpace(tf.conv2d(full, flipped, 1, "valid"), layer.stride);
    dy = fromBlocks(dBlocks, xp.shape, layer);
  }
  return grads;
}

/** dLoss/d(the layer's input) from dLoss/d(its padded input cut to whole blocks). */
function fromBlocks(dBlocks: tf.Tensor4D, paddedShape: number[], layer: ConvLayerShape): tf.Tensor4D {
  const [, h, w] = paddedShape;
  const [, bh, bw] = dBlocks.shape;
  const cut = tf.slice(dBlocks, [0, 0, 0, 0], [-1, Math.min(h, bh), Math.min(w, bw), -1]);
  // Rows past the blocks were never read: their gradient is zero.
  const grown = tf.pad(cut, [
    [0, 0],
    [0, Math.max(h - bh, 0)],
    [0, Math.max(w - bw, 0)],
    [0, 0],
  ]);
  const [inH, inW] = layer.inShape;
  return tf.slice(grown, [0, layer.padBefore[0], layer.padBefore[1], 0], [-1, inH, inW, -1]);
}

/** The encoder's weights on tfjs variables, for the learner. */
export class ConvEncoder {
  readonly weights: (ConvWeights & { filter: tf.Variable<tf.Rank.R4>; bias: tf.Variable<tf.Rank.R1> })[];
  /** Filter then bias per layer: the flat layout. */
  readonly variables: tf.Variable[];

  constructor(
    readonly spec: ConvEncoderSpec,
    trainable: boolean,
  ) {
    // In a tidy, so the zeros the variables start from are freed.
    this.weights = tf.tidy(() =>
      spec.layers.map((layer) => ({
        filter: tf.variable(
          tf.zeros([...layer.kernel, layer.inShape[2], layer.outShape[2]]),
          trainable,
        ) as tf.Variable<tf.Rank.R4>,
        bias: tf.variable(tf.zeros([layer.outShape[2]]), trainable) as tf.Variable<tf.Rank.R1>,
      })),
    );
    this.variables = this.weights.flatMap((w) => [w.filter, w.bias]);
  }

  /** The flattened features `[batch, outDim]` through differentiable ops (the reference). */
  forward(obs: tf.Tensor2D): tf.Tensor2D {
    const outputs = convForward(images(obs, this.spec), this.spec, this.weights);
    return tf.reshape(outputs.at(-1)!, [-1, this.spec.outDim]);
  }

  /** The features without autodiff, and `backward`: dLoss/d(features) to the encoder's gradients, flat. */
  forwardWithBackward(obs: tf.Tensor2D): {
    features: tf.Tensor2D;
    backward: (dFeatures: tf.Tensor2D) => tf.Tensor1D;
  } {
    const x = images(obs, this.spec);
    const outputs = convForward(x, this.spec, this.weights);
    const last = outputs.at(-1)!;
    return {
      features: tf.reshape(last, [-1, this.spec.outDim]),
      backward: (dFeatures) => {
        const grads = convBackward(x, this.spec, this.weights, outputs, tf.reshape(dFeatures, last.shape));
        return tf.concat(grads.map((g) => tf.reshape(g, [-1]) as tf.Tensor1D));
      },
    };
  }
}

/**
 * The encoder on the env runners: the same forward pass on the thread's tfjs backend (wasm's XNNPACK
 * convolutions unless the learner picked another in this thread), from flat weights, to a Float32Array
 * of features for the towers' dense kernel.
 */
export class ConvInference {
  private weights: ConvWeights[] = [];
  private readonly inDim: number;

  constructor(readonly spec: ConvEncoderSpec) {
    this.inDim = spec.inputShape[0] * spec.inputShape[1] * spec.inputShape[2];
  }

  /** Loads the encoder's part of flat module weights (the start of `flat`). */
  setWeights(flat: Float32Array): void {
    tf.dispose(this.weights.flatMap((w) => [w.filter, w.bias]));
    this.weights = convViews(this.spec, flat).map((view, i) => {
      const layer = this.spec.layers[i];
      return {
        // Copies: the cpu backend would keep the caller's array, which the next weights overwrite.
        filter: tf.tensor4d(view.filter.slice(), [...layer.kernel, layer.inShape[2], layer.outShape[2]]),
        bias: tf.tensor1d(view.bias.slice()),
      };
    });
  }

  /** Features `[batch * outDim]` of the first `batch` observations in `obs`. */
  features(obs: Float32Array, batch: number): Float32Array {
    if (this.weights.length === 0) throw new Error("CNN encoder: setWeights() must be called before acting");
    // The tensor leaves the tidy, not its data: tidy walks a returned typed array element by element.
    const features = tf.tidy(() => {
      const x = tf.tensor2d(obs.subarray(0, batch * this.inDim), [batch, this.inDim]);
      return convForward(images(x, this.spec), this.spec, this.weights).at(-1)!;
    });
    const data = features.dataSync() as Float32Array;
    features.dispose();
    return data;
  }

  dispose(): void {
    tf.dispose(this.weights.flatMap((w) => [w.filter, w.bias]));
    this.weights = [];
  }
}

/**
 * Makes a tfjs backend ready in this thread for `ConvInference` (a runner thread has none until asked):
 * wasm, unless one is already set up.
 */
export async function readyInferenceBackend(): Promise<void> {
  await import("@tensorflow/tfjs-backend-wasm");
  await tf.ready();
}
