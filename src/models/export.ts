/**
 * A module's greedy policy as a tfjs layers model (flat observation in; logits, the Gaussian mean, a
 * Tuple's or Dict's parts' logits and means side by side, the squashed Gaussian's pre-tanh mean or Q
 * values out), the network an exported policy folder holds: `tf.loadLayersModel` reads it in Node and in a
 * browser. Built from the flat weights whenever a checkpoint is written.
 *
 * Layers models have no "subtract the mean" layer, so a dueling Q head is folded into one final Dense
 * layer: Q = V 1^T + A C with C = I - 11^T / n is linear in the two streams' last hidden features, so its
 * kernel stacks [W_A C; W_V 1^T] over their concatenation (or sums them when both streams read the encoder
 * output directly).
 */
import * as tf from "@tensorflow/tfjs";
import { type ModuleHead, type ModuleSpec, towerWeights } from "./catalog.js";
import { convViews } from "./conv.js";
import { type DenseView, towerViews } from "./mlp.js";
import {
  type ObservationNormalization,
  type PolicyActionHead,
  type PolicyMetadata,
  policyMetadataFor,
} from "./policy.js";

/** A layer of the export and the weights it gets once the model is built. */
interface WeightedLayer {
  layer: tf.layers.Layer;
  kernel: Float32Array;
  kernelShape: number[];
  bias: Float32Array;
}

export function policyLayersModel(spec: ModuleSpec, flat: Float32Array): tf.LayersModel {
  const views = towerViews(spec.towers, towerWeights(spec, flat));
  const obs = tf.input({ shape: [spec.obsDim], name: "obs" });
  const weighted: WeightedLayer[] = [];
  const dense = (name: string, kernel: Float32Array, bias: Float32Array, units: number, linear: boolean) => {
    const layer = tf.layers.dense({ units, activation: linear ? "linear" : spec.activation, name });
    weighted.push({ layer, kernel, kernelShape: [kernel.length / bias.length, bias.length], bias });
    return layer;
  };
  /** What towers reading the observation get: the CNN's flattened features, or the observation. */
  const towersInput = spec.encoder ? cnnLayers(spec, flat, obs, weighted) : obs;
  /** Tower `t`'s layers on `x` (all but the last when `withoutLast`). */
  const tower = (t: number, x: tf.SymbolicTensor, withoutLast: boolean) => {
    const { name, activateLast } = spec.towers[t];
    const layers = withoutLast ? views[t].slice(0, -1) : views[t];
    return layers.reduce((h, v, i) => {
      const last = !withoutLast && i === views[t].length - 1;
      const layerName = last ? `${name}_out` : `${name}_fc${i}`;
      const layer = dense(layerName, v.kernel, v.bias, v.shape.outDim, last && !activateLast);
      return layer.apply(h) as tf.SymbolicTensor;
    }, x);
  };
  const inputOf = (t: number): tf.SymbolicTensor => {
    const parent = spec.towers[t].input;
    return parent < 0 ? towersInput : tower(parent, inputOf(parent), false);
  };
  const features = inputOf(spec.policyTower);
  let output: tf.SymbolicTensor;
  if (spec.head.kind === "q_values" && spec.valueTower >= 0) {
    const qHidden = tower(spec.policyTower, features, true);
    const valueHidden = tower(spec.valueTower, features, true);
    const stacked = views[spec.policyTower].length > 1;
    const headInput = stacked
      ? (tf.layers.concatenate({ name: "streams" }).apply([qHidden, valueHidden]) as tf.SymbolicTensor)
      : features;
    const { kernel, bias } = foldDueling(
      views[spec.policyTower].at(-1)!,
      views[spec.valueTower].at(-1)!,
      stacked,
    );
    output = dense("q_out", kernel, bias, spec.head.n, true).apply(headInput) as tf.SymbolicTensor;
  } else if (spec.head.kind === "squashed_gaussian") {
    // The network outputs the pre-tanh mean only: the last layer's first `dim` columns.
    const hidden = tower(spec.policyTower, features, true);
    const { kernel, bias } = firstColumns(views[spec.policyTower].at(-1)!, spec.head.dim);
    output = dense(`${spec.towers[spec.policyTower].name}_out`, kernel, bias, spec.head.dim, true).apply(
      hidden,
    ) as tf.SymbolicTensor;
  } else {
    output = tower(spec.policyTower, features, false);
  }
  const model = tf.model({ inputs: obs, outputs: output, name: "policy" });
  tf.tidy(() => {
    for (const { layer, kernel, kernelShape, bias } of weighted) {
      layer.setWeights([tf.tensor(kernel, kernelShape), tf.tensor1d(bias)]);
    }
  });
  return model;
}

/**
 * The CNN encoder as layers on the flat observation: reshape to the image, scale (uint8 frames), per
 * conv layer zero padding ("same") and a ReLU Conv2D, then flatten (HWC order, as the module's).
 */
function cnnLayers(
  spec: ModuleSpec,
  flat: Float32Array,
  obs: tf.SymbolicTensor,
  weighted: WeightedLayer[],
): tf.SymbolicTensor {
  const encoder = spec.encoder!;
  const [h, w, c] = encoder.inputShape;
  let x = tf.layers
    .reshape({ targetShape: encoder.channelsFirst ? [c, h, w] : [h, w, c], name: "image" })
    .apply(obs) as tf.SymbolicTensor;
  if (encoder.channelsFirst) {
    x = tf.layers.permute({ dims: [2, 3, 1], name: "channels_last" }).apply(x) as tf.SymbolicTensor;
  }
  if (encoder.inputScale !== 1) {
    x = tf.layers.rescaling({ scale: encoder.inputScale, name: "scale" }).apply(x) as tf.SymbolicTensor;
  }
  const views = convViews(encoder, flat);
  encoder.layers.forEach((layer, i) => {
    const { padBefore: b, padAfter: a } = layer;
    if (b[0] + b[1] + a[0] + a[1] > 0) {
      const pad = tf.layers.zeroPadding2d({
        padding: [
          [b[0], a[0]],
          [b[1], a[1]],
        ],
        name: `conv${i}_pad`,
      });
      x = pad.apply(x) as tf.SymbolicTensor;
    }
    const conv = tf.layers.conv2d({
      filters: layer.outShape[2],
      kernelSize: layer.kernel,
      strides: layer.stride,
      padding: "valid",
      activation: "relu",
      name: `conv${i}`,
    });
    weighted.push({
      layer: conv,
      kernel: views[i].filter,
      kernelShape: [...layer.kernel, layer.inShape[2], layer.outShape[2]],
      bias: views[i].bias,
    });
    x = conv.apply(x) as tf.SymbolicTensor;
  });
  return tf.layers.flatten({ name: "features" }).apply(x) as tf.SymbolicTensor;
}

/** A dense layer's first `columns` outputs as a layer of their own. */
function firstColumns(layer: DenseView, columns: number): { kernel: Float32Array; bias: Float32Array } {
  const { inDim, outDim } = layer.shape;
  const kernel = new Float32Array(inDim * columns);
  for (let r = 0; r < inDim; r++)
    kernel.set(layer.kernel.subarray(r * outDim, r * outDim + columns), r * columns);
  return { kernel, bias: layer.bias.slice(0, columns) };
}

/** The one Dense layer equal to V + A - mean(A) of the two streams' output layers. */
function foldDueling(
  qOut: DenseView,
  valueOut: DenseView,
  stacked: boolean,
): { kernel: Float32Array; bias: Float32Array } {
  const n = qOut.shape.outDim;
  const qIn = qOut.shape.inDim;
  const valueIn = valueOut.shape.inDim;
  const rows = stacked ? qIn + valueIn : qIn;
  const kernel = new Float32Array(rows * n);
  const bias = new Float32Array(n);
  // A C: each row of the advantage kernel (and its bias) minus that row's mean over actions.
  for (let r = 0; r < qIn; r++) {
    let mean = 0;
    for (let a = 0; a < n; a++) mean += qOut.kernel[r * n + a] / n;
    for (let a = 0; a < n; a++) kernel[r * n + a] = qOut.kernel[r * n + a] - mean;
  }
  const biasMean = qOut.bias.reduce((s, x) => s + x, 0) / n;
  // V 1^T: the value weight repeated in every action column, on its own rows or added to the shared ones.
  const valueRow0 = stacked ? qIn : 0;
  for (let r = 0; r < valueIn; r++) {
    for (let a = 0; a < n; a++) kernel[(valueRow0 + r) * n + a] += valueOut.kernel[r];
  }
  for (let a = 0; a < n; a++) bias[a] = qOut.bias[a] - biasMean + valueOut.bias[0];
  return { kernel, bias };
}

/**
 * What the exported network of a module with head `head` outputs.
 * @public (test fixtures write policy folders of a given shape with it)
 */
export function policyActionHead(head: ModuleHead): PolicyActionHead {
  switch (head.kind) {
    case "categorical":
    case "multi_categorical":
    case "bernoulli":
    case "gaussian":
      return head;
    case "composite":
      return { kind: "composite", parts: head.parts.map((part) => ({ ...part })), keys: head.keys };
    case "q_values":
      return { kind: "q_values", n: head.n };
    case "squashed_gaussian":
      return { kind: "squashed_gaussian", dim: head.dim };
    case "state_action_values":
      throw new TypeError("a critic module (Q(s, a)) is not a policy and has no export");
  }
}

/** The `policy.json` that goes with `policyLayersModel(spec, ...)`. */
export function modulePolicyMetadata(
  algo: string,
  envId: string,
  spec: ModuleSpec,
  observationNormalization: ObservationNormalization | null = null,
): PolicyMetadata {
  return policyMetadataFor(algo, envId, spec, policyActionHead(spec.head), observationNormalization);
}
