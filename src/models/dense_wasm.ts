/**
 * Dense layers for inference on small batches (the rollout's 1-64 observations), run by a WebAssembly
 * SIMD kernel: float32, four lanes per instruction. Plain TypeScript does one multiply-add per
 * instruction with a bounds check on every load, and tfjs spends more time dispatching ops than computing
 * at these sizes. On the CartPole actor-critic (two 64x64 tanh MLPs, batch 8-32, whole `act` calls) the
 * kernel took ~0.8 us per observation, the float64 loop with Math.tanh it replaced ~11 us, and the
 * fastest plain-TypeScript loop tried ~6 us for the layers alone (float64, four rows x two outputs per
 * pass, the same rational tanh).
 *
 * The kernel is written below with a minimal WebAssembly encoder (only the instructions it uses, nested
 * like WAT's folded form: `f32x4Add(a, b)` emits a, b, then the opcode) and compiled once per thread. Each
 * `WasmDenseLayers` owns a memory holding its weights and scratch activations.
 *
 * Layout: layer l's kernel is stored `[inDim][paddedOut]` (tfjs's `[in][out]` order, each row padded
 * with zeros to a multiple of 8 outputs), then its bias, padded the same way. Activations are rows of
 * `paddedOut` floats; padded columns come out as activation(0) = 0 and meet zero weights in the next
 * layer, so they never change a result.
 */
import type { Activation } from "./dense.js";
import type { DenseShape } from "./mlp.js";

/** Outputs computed per pass of the kernel: two f32x4 accumulators per row. */
const OUTPUTS_PER_PASS = 8;
/** Rows per pass in the kernel's main loop: each weight vector loaded serves four rows. */
const ROWS_PER_PASS = 4;
const BYTES_PER_FLOAT = 4;
const PAGE_BYTES = 65536;
const CACHE_LINE_BYTES = 64;
const ACTIVATION_CODES: Record<Activation, number> = { linear: 0, tanh: 1, relu: 2 };

/**
 * tanh(x) = x P(x^2) / Q(x^2) for |x| <= 10, else +-1: a rational minimax fit for relative error
 * (scripts/fit_tanh.py; 4e-9 in float64, within float32 rounding as the kernel evaluates it, and
 * 1 - tanh(10) = 4e-9). P's coefficients from x^0 up, Q's from x^2 up (Q(0) = 1).
 */
const TANH_CLAMP = 10;
const TANH_P = [
  0.9999999960390673, 0.13632416562969774, 0.003809070259568821, 2.683019944985886e-5, 2.7841848193187873e-8,
  -1.0263515282005919e-11,
];
const TANH_Q = [0.4696574629379938, 0.027028279280693585, 0.00038347750614852827, 1.2062264410987836e-6];

// ---- A minimal WebAssembly encoder ----

type Code = number[];

function unsignedLeb(n: number): Code {
  const bytes: Code = [];
  do {
    const low = n & 0x7f;
    n >>>= 7;
    bytes.push(n === 0 ? low : low | 0x80);
  } while (n !== 0);
  return bytes;
}

function signedLeb(n: number): Code {
  const bytes: Code = [];
  for (;;) {
    const low = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (low & 0x40) === 0) || (n === -1 && (low & 0x40) !== 0);
    bytes.push(done ? low : low | 0x80);
    if (done) return bytes;
  }
}

const I32 = 0x7f;
const V128 = 0x7b;
const EMPTY_BLOCK = 0x40;
const END = 0x0b;

const get = (local: number): Code => [0x20, ...unsignedLeb(local)];
const set = (local: number, value: Code): Code => [...value, 0x21, ...unsignedLeb(local)];
const tee = (local: number, value: Code): Code => [...value, 0x22, ...unsignedLeb(local)];
const i32Const = (value: number): Code => [0x41, ...signedLeb(value)];
const i32Op =
  (opcode: number) =>
  (a: Code, b: Code): Code => [...a, ...b, opcode];
const i32Eq = i32Op(0x46);
const i32LtU = i32Op(0x49);
const i32GeU = i32Op(0x4f);
const i32Add = i32Op(0x6a);
const i32Sub = i32Op(0x6b);
const i32Mul = i32Op(0x6c);
/** `local += value` for an i32 local. */
const increment = (local: number, value: Code): Code => set(local, i32Add(get(local), value));

const loop = (...body: Code[]): Code => [0x03, EMPTY_BLOCK, ...body.flat(), END];
const block = (...body: Code[]): Code => [0x02, EMPTY_BLOCK, ...body.flat(), END];
const branchIf = (depth: number, condition: Code): Code => [...condition, 0x0d, ...unsignedLeb(depth)];
const branch = (depth: number): Code => [0x0c, ...unsignedLeb(depth)];
const ifThen = (condition: Code, ...body: Code[]): Code => [
  ...condition,
  0x04,
  EMPTY_BLOCK,
  ...body.flat(),
  END,
];
/** Runs `body` while `condition` holds (checked first). */
const whileLoop = (condition: Code, ...body: Code[]): Code =>
  block(loop(branchIf(1, [...condition, 0x45 /* i32.eqz */]), ...body, branch(0)));
/** Runs `body`, then again while `condition` holds. */
const doWhile = (condition: Code, ...body: Code[]): Code => loop(...body, branchIf(0, condition));

const simd = (opcode: number): Code => [0xfd, ...unsignedLeb(opcode)];
const v128Load = (address: Code, offset: number): Code => [
  ...address,
  ...simd(0x00),
  4,
  ...unsignedLeb(offset),
];
const v128Store = (address: Code, value: Code, offset: number): Code => [
  ...address,
  ...value,
  ...simd(0x0b),
  4,
  ...unsignedLeb(offset),
];
/** One float32 from memory in all four lanes. */
const f32x4LoadSplat = (address: Code): Code => [...address, ...simd(0x09), 2, 0];
const f32x4Const = (value: number): Code => [
  ...simd(0x0c),
  ...new Uint8Array(new Float32Array([value, value, value, value]).buffer),
];
const f32x4Op =
  (opcode: number) =>
  (a: Code, b: Code): Code => [...a, ...b, ...simd(opcode)];
const f32x4Add = f32x4Op(0xe4);
const f32x4Mul = f32x4Op(0xe6);
const f32x4Div = f32x4Op(0xe7);
const f32x4Max = f32x4Op(0xe9);
/** Pseudo-min/max (`b < a ? b : a`, `a < b ? b : a`): a NaN in `a` passes through, as in Math.tanh. */
const f32x4PseudoMin = f32x4Op(0xea);
const f32x4PseudoMax = f32x4Op(0xeb);

/** `c[0] + s * (c[1] + s * (...))`, Horner's rule on an f32x4. */
function horner(s: Code, coefficients: number[]): Code {
  let sum = f32x4Const(coefficients[coefficients.length - 1]);
  for (let k = coefficients.length - 2; k >= 0; k--)
    sum = f32x4Add(f32x4Const(coefficients[k]), f32x4Mul(s, sum));
  return sum;
}

function section(id: number, contents: Code): Code {
  return [id, ...unsignedLeb(contents.length), ...contents];
}

function vector(items: Code[]): Code {
  return [...unsignedLeb(items.length), ...items.flat()];
}

function name(text: string): Code {
  return vector([...new TextEncoder().encode(text)].map((byte) => [byte]));
}

// ---- The kernel ----

// dense(input, inStride, inDim, weights, bias, output, outStride, rows, activation): for `rows` rows,
// output[r][o] = activation(bias[o] + sum_i input[r][i] * weights[i][o]). Pointers and strides are in
// bytes; outStride (a multiple of 32) is also the weights' row stride. Parameters are locals 0-8.
const [input, inStride, inDim, weights, bias, output, outStride, rows, activation] = [
  0, 1, 2, 3, 4, 5, 6, 7, 8,
];
const PARAMS = 9;
// i32 locals: the output column (bytes), the inputs left, the weight pointer, one input pointer per row.
const [column, inputsLeft, weightPointer] = [9, 10, 11];
const rowPointer = (r: number) => 12 + r;
const I32_LOCALS = 3 + ROWS_PER_PASS;
// v128 locals: two accumulators per row, the two weight vectors, one input splat, tanh's temporaries.
const firstV128 = PARAMS + I32_LOCALS;
const accumulator = (r: number, half: number) => firstV128 + 2 * r + half;
const weightVector = (half: number) => firstV128 + 2 * ROWS_PER_PASS + half;
const [splat, clamped, squared] = [0, 1, 2].map((k) => firstV128 + 2 * ROWS_PER_PASS + 2 + k);
const V128_LOCALS = 2 * ROWS_PER_PASS + 5;

function tanhInPlace(local: number): Code {
  return [
    ...set(
      clamped,
      f32x4PseudoMin(f32x4PseudoMax(get(local), f32x4Const(-TANH_CLAMP)), f32x4Const(TANH_CLAMP)),
    ),
    ...set(squared, f32x4Mul(get(clamped), get(clamped))),
    ...set(
      local,
      f32x4Div(
        f32x4Mul(get(clamped), horner(get(squared), TANH_P)),
        f32x4Add(f32x4Const(1), f32x4Mul(get(squared), horner(get(squared), TANH_Q))),
      ),
    ),
  ];
}

/** Eight outputs at a time for `numRows` rows from `input` into `output`. */
function rowPass(numRows: number): Code {
  const rowsAndHalves = Array.from({ length: numRows }, (_, r) => [0, 1].map((half) => [r, half])).flat();
  return [
    ...set(column, i32Const(0)),
    ...doWhile(
      i32LtU(tee(column, i32Add(get(column), i32Const(OUTPUTS_PER_PASS * BYTES_PER_FLOAT))), get(outStride)),
      ...rowsAndHalves.map(([r, half]) =>
        set(accumulator(r, half), v128Load(i32Add(get(bias), get(column)), 16 * half)),
      ),
      set(weightPointer, i32Add(get(weights), get(column))),
      ...Array.from({ length: numRows }, (_, r) =>
        set(rowPointer(r), i32Add(get(input), i32Mul(get(inStride), i32Const(r)))),
      ),
      set(inputsLeft, get(inDim)),
      doWhile(
        tee(inputsLeft, i32Sub(get(inputsLeft), i32Const(1))),
        ...[0, 1].map((half) => set(weightVector(half), v128Load(get(weightPointer), 16 * half))),
        ...Array.from({ length: numRows }, (_, r) => [
          ...set(splat, f32x4LoadSplat(get(rowPointer(r)))),
          ...[0, 1].flatMap((half) =>
            set(
              accumulator(r, half),
              f32x4Add(get(accumulator(r, half)), f32x4Mul(get(splat), get(weightVector(half)))),
            ),
          ),
          ...increment(rowPointer(r), i32Const(BYTES_PER_FLOAT)),
        ]),
        increment(weightPointer, get(outStride)),
      ),
      ifThen(
        i32Eq(get(activation), i32Const(ACTIVATION_CODES.tanh)),
        ...rowsAndHalves.map(([r, half]) => tanhInPlace(accumulator(r, half))),
      ),
      ifThen(
        i32Eq(get(activation), i32Const(ACTIVATION_CODES.relu)),
        ...rowsAndHalves.map(([r, half]) =>
          set(accumulator(r, half), f32x4Max(get(accumulator(r, half)), f32x4Const(0))),
        ),
      ),
      ...rowsAndHalves.map(([r, half]) =>
        v128Store(
          i32Add(i32Add(get(output), get(column)), i32Mul(get(outStride), i32Const(r))),
          get(accumulator(r, half)),
          16 * half,
        ),
      ),
    ),
  ];
}

/** Advances the input and output pointers by `numRows` rows. */
function nextRows(numRows: number): Code {
  return [
    ...increment(input, i32Mul(get(inStride), i32Const(numRows))),
    ...increment(output, i32Mul(get(outStride), i32Const(numRows))),
    ...set(rows, i32Sub(get(rows), i32Const(numRows))),
  ];
}

function kernelModuleBytes(): Uint8Array {
  const body = [
    ...vector([
      [...unsignedLeb(I32_LOCALS), I32],
      [...unsignedLeb(V128_LOCALS), V128],
    ]),
    ...whileLoop(i32GeU(get(rows), i32Const(ROWS_PER_PASS)), rowPass(ROWS_PER_PASS), nextRows(ROWS_PER_PASS)),
    ...whileLoop(i32GeU(get(rows), i32Const(1)), rowPass(1), nextRows(1)),
    END,
  ];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vector([[0x60, ...vector(Array(PARAMS).fill([I32])), ...vector([])]])), // types
    ...section(3, vector([[0]])), // functions: dense has type 0
    ...section(5, vector([[0x00, 1]])), // memory: one, at least 1 page
    ...section(
      7,
      vector([
        [...name("memory"), 2, 0],
        [...name("dense"), 0, 0],
      ]),
    ), // exports
    ...section(10, vector([[...unsignedLeb(body.length), ...body]])), // code
  ]);
}

// ---- Running it ----

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
    kernelModule ??= new wasm.Module(kernelModuleBytes());
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
