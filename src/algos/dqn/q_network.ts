/**
 * The Q network: an MLP encoder (the run config's `model`) and a Q head (`dqn.hiddens`), either one stream
 * to Q(s, .) or, when dueling, an advantage stream A(s, .) and a value stream V(s) combined as
 * Q = V + A - mean(A) (Wang et al. 2016), as RLlib's DQN builds it.
 *
 * One flat float32 layout serves the three forms: `QNetwork` (tfjs variables, trained by the Learner),
 * `QInference` (plain TypeScript forward pass for acting on a few observations, where tfjs would spend
 * more time dispatching ops than computing), and `qLayersModel` (a tfjs layers model for checkpoints and
 * `tf.loadLayersModel`). Layout, each dense layer as kernel `[in, out]` row-major then bias `[out]`:
 *   1. encoder layers; 2. Q stream (or, dueling, the advantage stream): head hiddens, then `[last, numActions]`;
 *   3. dueling only: value stream: head hiddens, then `[last, 1]`.
 */
import * as tf from "@tensorflow/tfjs";
import type { TrainableModule } from "../../learner/learner.js";
import { chainBackward, chainForward, type DenseVariables, denseLayer } from "../../models/dense.js";
import { type DenseShape, orthogonalKernel } from "../../models/network.js";
import { createRng } from "../../utils/rng.js";

export interface QNetworkSpec {
  obsDim: number;
  numActions: number;
  encoderHiddens: number[];
  headHiddens: number[];
  activation: "tanh" | "relu";
  dueling: boolean;
}

export interface QLayout {
  encoder: DenseShape[];
  /** Hidden layers then the output layer of the Q (or advantage) stream. */
  qStream: DenseShape[];
  /** Dueling only: hidden layers then the `[last, 1]` output of the value stream. */
  valueStream: DenseShape[];
  size: number;
}

function chain(inDim: number, dims: number[]): DenseShape[] {
  return dims.map((outDim, i) => ({ inDim: i === 0 ? inDim : dims[i - 1], outDim }));
}

export function qLayout(spec: QNetworkSpec): QLayout {
  const encoder = chain(spec.obsDim, spec.encoderHiddens);
  const features = encoder.length > 0 ? encoder[encoder.length - 1].outDim : spec.obsDim;
  const qStream = chain(features, [...spec.headHiddens, spec.numActions]);
  const valueStream = spec.dueling ? chain(features, [...spec.headHiddens, 1]) : [];
  const size = [...encoder, ...qStream, ...valueStream].reduce(
    (n, d) => n + d.inDim * d.outDim + d.outDim,
    0,
  );
  return { encoder, qStream, valueStream, size };
}

/** Orthogonal kernels (gain sqrt(2) for hidden layers, 1 for stream outputs), zero biases. */
export function initialQWeights(spec: QNetworkSpec, seed: number): Float32Array {
  const layout = qLayout(spec);
  const rng = createRng(`q-init-${seed}`);
  const flat = new Float32Array(layout.size);
  let offset = 0;
  const streams = [layout.encoder, layout.qStream, layout.valueStream];
  streams.forEach((stream, s) => {
    stream.forEach((shape, i) => {
      const isOutput = s > 0 && i === stream.length - 1;
      flat.set(orthogonalKernel(shape.inDim, shape.outDim, isOutput ? 1 : Math.SQRT2, rng), offset);
      offset += shape.inDim * shape.outDim + shape.outDim;
    });
  });
  return flat;
}

/** The trainable Q network on tfjs variables (a `TrainableModule` for the Learner). */
export class QNetwork implements TrainableModule {
  readonly layout: QLayout;
  readonly variables: tf.Variable[];
  private readonly encoder: DenseVariables[];
  private readonly qStream: DenseVariables[];
  private readonly valueStream: DenseVariables[];

  constructor(
    readonly spec: QNetworkSpec,
    weights: Float32Array,
    trainable = true,
  ) {
    this.layout = qLayout(spec);
    const make = (shape: DenseShape): DenseVariables => ({
      kernel: tf.variable(tf.zeros([shape.inDim, shape.outDim]), trainable),
      bias: tf.variable(tf.zeros([shape.outDim]), trainable),
    });
    this.encoder = this.layout.encoder.map(make);
    this.qStream = this.layout.qStream.map(make);
    this.valueStream = this.layout.valueStream.map(make);
    this.variables = [...this.encoder, ...this.qStream, ...this.valueStream].flatMap((d) => [
      d.kernel,
      d.bias,
    ]);
    this.setFlatWeights(weights);
  }

  /** Q values `[batch, numActions]` through autodiff-capable ops (the reference for `forwardWithBackward`). */
  forward(obs: tf.Tensor2D): tf.Tensor2D {
    const activation = this.spec.activation;
    const stream = (x: tf.Tensor2D, layers: DenseVariables[]) =>
      layers.reduce(
        (h, d, i) => denseLayer(h, d, i < layers.length - 1 ? activation : "linear", h !== obs),
        x,
      );
    const features = this.encoder.reduce((h, d) => denseLayer(h, d, activation, h !== obs), obs);
    const q = stream(features, this.qStream);
    if (!this.spec.dueling) return q;
    const value = stream(features, this.valueStream);
    return tf.add(value, tf.sub(q, tf.mean(q, 1, true)));
  }

  /**
   * Q values `[batch, numActions]` without autodiff, and `backward`, which takes dLoss/dQ and returns the
   * gradient of every weight in the flat layout, derived by hand from the activations kept here (one
   * `tf.variableGrads` tape costs more than the whole update on small networks).
   */
  forwardWithBackward(obs: tf.Tensor2D): { q: tf.Tensor2D; backward: (dQ: tf.Tensor2D) => tf.Tensor1D } {
    const activation = this.spec.activation;
    const encoded = chainForward(obs, this.encoder, activation);
    const features = encoded.at(-1) ?? obs;
    const qOut = chainForward(features, this.qStream, activation, false);
    const valueOut = this.spec.dueling ? chainForward(features, this.valueStream, activation, false) : [];
    const advantages = qOut[qOut.length - 1];
    const q = this.spec.dueling
      ? (tf.add(
          valueOut[valueOut.length - 1],
          tf.sub(advantages, tf.mean(advantages, 1, true)),
        ) as tf.Tensor2D)
      : advantages;
    const backward = (dQ: tf.Tensor2D): tf.Tensor1D => {
      const head = { activateLast: false, inputNeedsGrad: this.encoder.length > 0 };
      // Q = V + A - mean(A): dA = dQ - mean over actions of dQ, dV = sum over actions of dQ.
      const dAdvantages = this.spec.dueling ? (tf.sub(dQ, tf.mean(dQ, 1, true)) as tf.Tensor2D) : dQ;
      const qGrads = chainBackward(features, this.qStream, qOut, dAdvantages, activation, head);
      const valueGrads = this.spec.dueling
        ? chainBackward(
            features,
            this.valueStream,
            valueOut,
            tf.sum(dQ, 1, true) as tf.Tensor2D,
            activation,
            head,
          )
        : { grads: [], dInput: null };
      const encoderGrads =
        qGrads.dInput === null
          ? []
          : chainBackward(
              obs,
              this.encoder,
              encoded,
              valueGrads.dInput ? (tf.add(qGrads.dInput, valueGrads.dInput) as tf.Tensor2D) : qGrads.dInput,
              activation,
            ).grads;
      const flat = [...encoderGrads, ...qGrads.grads, ...valueGrads.grads];
      return tf.concat(flat.map((g) => tf.reshape(g, [-1]) as tf.Tensor1D));
    };
    return { q, backward };
  }

  /** Q values `[batch, numActions]` for acting and targets (no gradient). */
  predict(obs: tf.Tensor2D): tf.Tensor2D {
    return this.forwardWithBackward(obs).q;
  }

  getFlatWeights(): Float32Array {
    const flat = new Float32Array(this.layout.size);
    let offset = 0;
    for (const v of this.variables) {
      flat.set(v.dataSync() as Float32Array, offset);
      offset += v.size;
    }
    return flat;
  }

  setFlatWeights(flat: Float32Array): void {
    if (flat.length !== this.layout.size) {
      throw new RangeError(`Q network weights: expected ${this.layout.size} float32s, got ${flat.length}`);
    }
    let offset = 0;
    tf.tidy(() => {
      for (const v of this.variables) {
        v.assign(tf.tensor(flat.subarray(offset, offset + v.size), v.shape, "float32"));
        offset += v.size;
      }
    });
  }

  /** this <- tau * source + (1 - tau) * this, variable by variable (tau 1 is a copy). */
  updateFrom(source: QNetwork, tau: number): void {
    tf.tidy(() => {
      this.variables.forEach((v, i) => {
        const s = source.variables[i];
        v.assign(tau === 1 ? s : tf.add(tf.mul(s, tau), tf.mul(v, 1 - tau)));
      });
    });
  }

  dispose(): void {
    tf.dispose(this.variables);
  }
}

interface DenseView {
  shape: DenseShape;
  kernel: Float32Array;
  bias: Float32Array;
}

/** Views of each stream's layers into `flat` (layout order). */
function denseViews(
  layout: QLayout,
  flat: Float32Array,
): { encoder: DenseView[]; qStream: DenseView[]; valueStream: DenseView[] } {
  let offset = 0;
  const view = (shape: DenseShape): DenseView => {
    const kernel = flat.subarray(offset, offset + shape.inDim * shape.outDim);
    offset += kernel.length;
    const bias = flat.subarray(offset, offset + shape.outDim);
    offset += bias.length;
    return { shape, kernel, bias };
  };
  return {
    encoder: layout.encoder.map(view),
    qStream: layout.qStream.map(view),
    valueStream: layout.valueStream.map(view),
  };
}

/** Q values in plain TypeScript from the flat weights, for acting on small batches. */
export class QInference {
  readonly layout: QLayout;
  private readonly weights: Float32Array;
  private readonly layers: ReturnType<typeof denseViews>;
  // Scratch activations, grown to the largest batch seen.
  private capacity = 0;
  private scratchA = new Float32Array(0);
  private scratchB = new Float32Array(0);
  private features = new Float32Array(0);
  private values = new Float32Array(0);

  constructor(readonly spec: QNetworkSpec) {
    this.layout = qLayout(spec);
    this.weights = new Float32Array(this.layout.size);
    this.layers = denseViews(this.layout, this.weights);
  }

  setWeights(flat: Float32Array): void {
    if (flat.length !== this.layout.size) {
      throw new RangeError(`Q network weights: expected ${this.layout.size} float32s, got ${flat.length}`);
    }
    this.weights.set(flat);
  }

  /** Writes Q(obs_b, .) for `batch` observations into `out` (`[batch * numActions]`). */
  qValues(obs: Float32Array, batch: number, out: Float32Array): void {
    this.ensureCapacity(batch);
    const { spec, layers } = this;
    const relu = spec.activation === "relu";
    const features = this.runLayers(obs, batch, layers.encoder, this.features, relu, true);
    this.runLayers(features, batch, layers.qStream, out, relu, false);
    if (!spec.dueling) return;
    this.runLayers(features, batch, layers.valueStream, this.values, relu, false);
    const n = spec.numActions;
    for (let b = 0; b < batch; b++) {
      let mean = 0;
      for (let a = 0; a < n; a++) mean += out[b * n + a];
      mean /= n;
      for (let a = 0; a < n; a++) out[b * n + a] += this.values[b] - mean;
    }
  }

  /**
   * Runs `layers` (all activated when `activateLast`, else all but the last) from `input`, ping-ponging
   * through the scratch buffers, and writes the last layer into `output`. Returns `output`, or `input`
   * when there are no layers.
   */
  private runLayers(
    input: Float32Array,
    batch: number,
    layers: DenseView[],
    output: Float32Array,
    relu: boolean,
    activateLast: boolean,
  ): Float32Array {
    let x = input;
    layers.forEach((layer, i) => {
      const last = i === layers.length - 1;
      const y = last ? output : i % 2 === 0 ? this.scratchA : this.scratchB;
      denseForward(x, batch, layer, y, !last || activateLast ? (relu ? "relu" : "tanh") : "linear");
      x = y;
    });
    return x;
  }

  private ensureCapacity(batch: number): void {
    if (batch <= this.capacity) return;
    const widest = Math.max(this.spec.numActions, ...this.spec.encoderHiddens, ...this.spec.headHiddens);
    this.capacity = batch;
    this.scratchA = new Float32Array(batch * widest);
    this.scratchB = new Float32Array(batch * widest);
    this.features = new Float32Array(batch * widest);
    this.values = new Float32Array(batch);
  }
}

/**
 * `output[b, o] = act(bias[o] + sum_i input[b, i] * kernel[i, o])`, kernel rows read contiguously.
 * (models/inference.ts has the same loop privately; exporting it there would let both share one.)
 */
function denseForward(
  input: Float32Array,
  batch: number,
  layer: DenseView,
  output: Float32Array,
  activation: "relu" | "tanh" | "linear",
): void {
  const { inDim, outDim } = layer.shape;
  const { kernel, bias } = layer;
  for (let b = 0; b < batch; b++) {
    const o0 = b * outDim;
    const i0 = b * inDim;
    for (let o = 0; o < outDim; o++) output[o0 + o] = bias[o];
    for (let i = 0; i < inDim; i++) {
      const x = input[i0 + i];
      if (x === 0) continue;
      const k0 = i * outDim;
      for (let o = 0; o < outDim; o++) output[o0 + o] += x * kernel[k0 + o];
    }
    if (activation === "linear") continue;
    for (let o = 0; o < outDim; o++) {
      const v = output[o0 + o];
      output[o0 + o] = activation === "relu" ? Math.max(v, 0) : Math.tanh(v);
    }
  }
}

/**
 * The Q network as a tfjs layers model (observation -> Q values), for checkpoints and
 * `tf.loadLayersModel`. Layers models have no "subtract the mean" layer, so the dueling combination is
 * folded into one final Dense layer: Q = V 1^T + A C with C = I - 11^T / n is linear in the two streams'
 * last hidden features, so its kernel stacks [W_A C; W_V 1^T] over their concatenation (or sums them
 * when both streams read the encoder directly). `setQLayersWeights` refreshes the weights.
 */
export function qLayersModel(spec: QNetworkSpec): tf.LayersModel {
  const layout = qLayout(spec);
  const activation = spec.activation;
  const obs = tf.input({ shape: [spec.obsDim], name: "obs" });
  const dense = (name: string, units: number, act: "tanh" | "relu" | "linear") =>
    tf.layers.dense({ units, activation: act, name, kernelInitializer: "zeros" });
  const hiddenChain = (prefix: string, x: tf.SymbolicTensor, shapes: DenseShape[]) =>
    shapes.reduce(
      (h, s, i) => dense(`${prefix}_fc${i}`, s.outDim, activation).apply(h) as tf.SymbolicTensor,
      x,
    );
  const features = hiddenChain("encoder", obs, layout.encoder);
  const qHidden = hiddenChain("q", features, layout.qStream.slice(0, -1));
  let headInput = qHidden;
  if (spec.dueling && spec.headHiddens.length > 0) {
    const valueHidden = hiddenChain("value", features, layout.valueStream.slice(0, -1));
    headInput = tf.layers.concatenate({ name: "streams" }).apply([qHidden, valueHidden]) as tf.SymbolicTensor;
  }
  const q = dense("q_out", spec.numActions, "linear").apply(headInput) as tf.SymbolicTensor;
  return tf.model({ inputs: obs, outputs: q, name: "q_network" });
}

export function setQLayersWeights(model: tf.LayersModel, spec: QNetworkSpec, flat: Float32Array): void {
  const { encoder, qStream, valueStream } = denseViews(qLayout(spec), flat);
  const assign = (name: string, kernel: Float32Array, bias: Float32Array, shape: [number, number]) => {
    tf.tidy(() => model.getLayer(name).setWeights([tf.tensor2d(kernel, shape), tf.tensor1d(bias)]));
  };
  const assignChain = (prefix: string, views: DenseView[]) => {
    views.forEach((v, i) => {
      assign(`${prefix}_fc${i}`, v.kernel, v.bias, [v.shape.inDim, v.shape.outDim]);
    });
  };
  assignChain("encoder", encoder);
  assignChain("q", qStream.slice(0, -1));
  const qOut = qStream[qStream.length - 1];
  if (!spec.dueling) {
    assign("q_out", qOut.kernel, qOut.bias, [qOut.shape.inDim, qOut.shape.outDim]);
    return;
  }
  assignChain("value", valueStream.slice(0, -1));
  const valueOut = valueStream[valueStream.length - 1];
  const n = spec.numActions;
  const qIn = qOut.shape.inDim;
  const valueIn = valueOut.shape.inDim;
  const stacked = spec.headHiddens.length > 0;
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
  assign("q_out", kernel, bias, [rows, n]);
}
