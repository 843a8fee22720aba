/**
 * Dense layers for inference on small batches (the rollout's 1-64 observations), run by a WebAssembly
 * SIMD kernel: float32, four lanes per instruction. Plain TypeScript does one multiply-add per
 * instruction with a bounds check on every load, and tfjs spends more time dispatching ops than computing
 * at these sizes. On the CartPole actor-critic (two 64x64 tanh MLPs, batch 8-32, whole `act` calls) the
 * kernel took ~0.8 us per observation, the float64 loop with Math.tanh it replaced ~11 us, and the
 * fastest plain-TypeScript loop tried ~6 us for the layers alone (float64, four rows x two outputs per
 * pass, the same rational tanh).
 *
 * The kernel's source is kernels/dense.wat (WebAssembly text, assembled by wabt at `npm run
 * build:kernels`), compiled once per thread. Each `WasmDenseLayers` owns a memory holding its weights and
 * scratch activations.
 *
 * Layout: layer l's kernel is stored `[inDim][paddedOut]` (tfjs's `[in][out]` order, each row padded
 * with zeros to a multiple of 8 outputs), then its bias, padded the same way. Activations are rows of
 * `paddedOut` floats; padded columns come out as activation(0) = 0 and meet zero weights in the next
 * layer, so they never change a result.
 */
import type { Activation } from "./dense.js";
import { DENSE_WASM_BASE64 } from "./kernels/dense_wasm_binary.js";
import type { DenseShape } from "./mlp.js";

/** Outputs computed per pass of the kernel: two f32x4 accumulators per row. */
const OUTPUTS_PER_PASS = 8;
const BYTES_PER_FLOAT = 4;
const PAGE_BYTES = 65536;
const CACHE_LINE_BYTES = 64;
/** The kernel's `activation` argument (kernels/dense.wat). */
const ACTIVATION_CODES: Record<Activation, number> = { linear: 0, tanh: 1, relu: 2 };

type DenseKernel = (
  input: number,
  inStride: number,
  inDim: number,
  weights: number,
  bias: number,
  output: number,
  outStride: number,
  rows: number,
  activation: number,
) => void;

interface KernelInstance {
  exports: { memory: { buffer: ArrayBuffer; grow(pages: number): number }; dense: DenseKernel };
}

/** The WebAssembly API as used here (the project's TypeScript libs, ES2023 and Node's, do not declare it). */
const wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object) => KernelInstance;
    };
  }
).WebAssembly;

let kernelModule: object | undefined;

interface StoredLayer {
  shape: DenseShape;
  /** Outputs rounded up to a multiple of OUTPUTS_PER_PASS: the row length of its kernel and activations. */
  paddedOut: number;
  /** Byte offsets of the kernel and the bias in the memory. */
  weights: number;
  bias: number;
}

const paddedWidth = (n: number) => Math.ceil(n / OUTPUTS_PER_PASS) * OUTPUTS_PER_PASS;

/**
 * A set of dense layers in one WebAssembly memory. `run` chains them: a trunk of hidden layers (all with
 * the hidden activation), then one or more linear heads on the trunk's output.
 */
export class WasmDenseLayers {
  private readonly layers: StoredLayer[];
  private readonly memory: KernelInstance["exports"]["memory"];
  private readonly dense: DenseKernel;
  private readonly hiddenCode: number;
  private readonly scratchStart: number;
  private readonly widestInput: number;
  private readonly widestOutput: number;
  private heap: Float32Array;
  // Scratch (byte offsets), grown to the largest batch seen: the input rows, and two activation buffers
  // that consecutive layers alternate between.
  private capacity = 0;
  private inputRows = 0;
  private activations = [0, 0];

  constructor(
    shapes: readonly DenseShape[],
    readonly hiddenActivation: Activation,
  ) {
    for (const { inDim, outDim } of shapes) {
      if (!(inDim >= 1 && outDim >= 1))
        throw new RangeError(`dense layer ${inDim} -> ${outDim}: sizes must be >= 1`);
    }
    kernelModule ??= new wasm.Module(Uint8Array.from(atob(DENSE_WASM_BASE64), (c) => c.charCodeAt(0)));
    const { exports } = new wasm.Instance(kernelModule);
    this.memory = exports.memory;
    this.dense = exports.dense;
    this.hiddenCode = ACTIVATION_CODES[hiddenActivation];
    let offset = 0;
    this.layers = shapes.map((shape) => {
      const paddedOut = paddedWidth(shape.outDim);
      const layer = {
        shape,
        paddedOut,
        weights: offset,
        bias: offset + shape.inDim * paddedOut * BYTES_PER_FLOAT,
      };
      offset = layer.bias + paddedOut * BYTES_PER_FLOAT;
      return layer;
    });
    this.scratchStart = offset;
    this.widestInput = Math.max(...shapes.map((s) => s.inDim));
    this.widestOutput = Math.max(...this.layers.map((l) => l.paddedOut));
    this.heap = this.growTo(offset);
  }

  /** Loads layer `index`: `kernel` is `[inDim * outDim]` in tfjs's `[in][out]` order, `bias` `[outDim]`. */
  setLayer(index: number, kernel: Float32Array, bias: Float32Array): void {
    const layer = this.layers[index];
    if (!layer) throw new RangeError(`dense layer ${index}: there are ${this.layers.length} layers`);
    const { inDim, outDim } = layer.shape;
    if (kernel.length !== inDim * outDim || bias.length !== outDim) {
      throw new RangeError(
        `dense layer ${index} (${inDim} -> ${outDim}): expected a kernel of ${inDim * outDim} and a bias of ` +
          `${outDim} float32s, got ${kernel.length} and ${bias.length}`,
      );
    }
    const weights = layer.weights / BYTES_PER_FLOAT;
    for (let i = 0; i < inDim; i++) {
      this.heap.set(kernel.subarray(i * outDim, (i + 1) * outDim), weights + i * layer.paddedOut);
    }
    this.heap.set(bias, layer.bias / BYTES_PER_FLOAT);
  }

  /**
   * Runs `rows` rows of `input` (`[rows * inDim]` of the first layer) through the layers `trunk` (indices,
   * first to last, hidden activation), then each head in `heads` (linear) on the trunk's output, writing
   * head k's `[rows * outDim]` into `outputs[k]`.
   */
  run(
    input: Float32Array,
    rows: number,
    trunk: readonly number[],
    heads: readonly number[],
    outputs: readonly Float32Array[],
  ): void {
    const inDim = this.layers[trunk.length > 0 ? trunk[0] : heads[0]].shape.inDim;
    if (input.length < rows * inDim) {
      throw new RangeError(
        `dense input: expected ${rows} x ${inDim} = ${rows * inDim} numbers, got ${input.length}`,
      );
    }
    this.ensureCapacity(rows);
    this.heap.set(
      input.length === rows * inDim ? input : input.subarray(0, rows * inDim),
      this.inputRows / BYTES_PER_FLOAT,
    );
    let from = this.inputRows;
    let fromStride = inDim * BYTES_PER_FLOAT;
    trunk.forEach((index, k) => {
      const layer = this.layers[index];
      const to = this.activations[k % 2];
      this.denseLayer(layer, from, fromStride, to, rows, this.hiddenCode);
      from = to;
      fromStride = layer.paddedOut * BYTES_PER_FLOAT;
    });
    const to = this.activations[trunk.length % 2];
    heads.forEach((index, k) => {
      const layer = this.layers[index];
      this.denseLayer(layer, from, fromStride, to, rows, ACTIVATION_CODES.linear);
      const { outDim } = layer.shape;
      const out = outputs[k];
      if (out.length < rows * outDim) {
        throw new RangeError(`head ${index}: output needs ${rows} x ${outDim} numbers, got ${out.length}`);
      }
      const rowStart = to / BYTES_PER_FLOAT;
      for (let r = 0; r < rows; r++) {
        for (let o = 0; o < outDim; o++) out[r * outDim + o] = this.heap[rowStart + r * layer.paddedOut + o];
      }
    });
  }

  private denseLayer(
    layer: StoredLayer,
    from: number,
    fromStride: number,
    to: number,
    rows: number,
    code: number,
  ) {
    const outStride = layer.paddedOut * BYTES_PER_FLOAT;
    this.dense(from, fromStride, layer.shape.inDim, layer.weights, layer.bias, to, outStride, rows, code);
  }

  private ensureCapacity(rows: number): void {
    if (rows <= this.capacity) return;
    this.capacity = rows;
    this.inputRows = this.scratchStart;
    const activationBytes = rows * this.widestOutput * BYTES_PER_FLOAT;
    const inputBytes = rows * this.widestInput * BYTES_PER_FLOAT;
    this.activations = [this.inputRows + Math.ceil(inputBytes / CACHE_LINE_BYTES) * CACHE_LINE_BYTES];
    this.activations.push(this.activations[0] + activationBytes);
    this.heap = this.growTo(this.activations[1] + activationBytes);
  }

  /** Grows the memory to at least `bytes`; returns a float32 view of it (growing detaches the old one). */
  private growTo(bytes: number): Float32Array {
    const missing = bytes - this.memory.buffer.byteLength;
    if (missing > 0) this.memory.grow(Math.ceil(missing / PAGE_BYTES));
    return new Float32Array(this.memory.buffer);
  }
}
