/**
 * A fused training step for MLP modules on the CPU: forward pass, the loss and its gradient (PPO's
 * clipped loss for actor-critics, DQN's TD loss for Q modules), the backward pass, global-norm gradient
 * clipping and Adam for a whole minibatch in one call into a WebAssembly SIMD kernel (kernels/mlp_train.wat), with no tfjs op at all. On the wasm backend each
 * tfjs op costs ~5-10 us to dispatch, and a minibatch step of a small network is ~100 of them; here it is
 * one call plus copying the minibatch in.
 *
 * The weights and Adam's moments live in the kernel's memory between steps, in a padded copy of the
 * catalog's flat layout (each layer's kernel and bias rows padded with zeros to a multiple of 8 floats);
 * `setWeights` / `getWeights` and `setOptimizerState` / `getOptimizerState` convert to and from the flat
 * layout, so a learner's checkpoint is the same whichever path trained it.
 *
 * Covered: MLP towers in any arrangement the catalog builds (separate actor and critic, a shared trunk
 * with two heads, a Q encoder with one or two dueling streams, SAC's actor and its critics on the
 * observation and action), tanh or ReLU, a categorical or diagonal-Gaussian policy head or Q values;
 * `fusedUnsupported` says why any other module is not (the learner then keeps its tfjs path).
 *
 * Besides the whole steps with their losses in the kernel (`ppoStep`, `tdStep`), the passes one by one
 * for a loss the caller computes row by row between them (SAC's): `inputRows` and `forwardRows`, then
 * `towerOutput`; `backwardStep` with dLoss/d(outputs) (backward, clipping, Adam), or `inputGradient`
 * (dLoss/d(input) alone, the weights untouched).
 */
import * as tf from "@tensorflow/tfjs";
import type { ModuleSpec } from "../models/catalog.js";
import { MLP_TRAIN_WASM_BASE64 } from "../models/kernels/mlp_train_wasm_binary.js";
import { Adam, checkFlatSize, type FlatOptimizer, type OptimizerState } from "./adam.js";
import { type NativeGemm, nativeGemm } from "./blas.js";
import { type KernelMemory, multiplyAdds, nativeProduct, type ProductArgs, wasm } from "./kernel_product.js";
import {
  type AdamCoefficients,
  type KernelLoops,
  type KernelThreads,
  kernelThreads,
} from "./kernel_threads.js";
import type { LearnerSpec } from "./learner.js";

const FLOAT = 4;
const F64 = 8;
/** Rows of kernels, biases, outputs and gradients are padded to this many floats (the GEMM's 8 columns). */
const ROW_FLOATS = 8;
const PAGE_BYTES = 65536;
const ALIGN = 64;
const HEADER_BYTES = 128;
const LAYER_BYTES = 64;
const ACTIVATION_CODES = { linear: 0, tanh: 1, relu: 2 } as const;

/** Header fields (kernels/mlp_train.wat's $H_*), as int32 indices. */
const H = {
  layers: 0,
  table: 1,
  policy: 2,
  value: 3,
  head: 4,
  outputs: 5,
  actionDim: 6,
  actions: 7,
  oldLogp: 8,
  oldValues: 9,
  advantages: 10,
  returns: 11,
  params: 12,
  grads: 13,
  m: 14,
  v: 15,
  size: 16,
  logStd: 17,
  metrics: 18,
  zero: 19,
  scratch: 20,
  targets: 21,
  weights: 22,
  tdErrors: 23,
  hostMin: 24,
  splitMin: 25,
} as const;

/** Layer table fields (the $L_*), as int32 indices within an entry. */
const L = {
  input: 0,
  inStride: 1,
  inDim: 2,
  w: 3,
  b: 4,
  y: 5,
  d: 6,
  stride: 7,
  activation: 8,
  dIn: 9,
  dInStride: 10,
  wT: 11,
  outDim: 12,
  inputGradient: 13,
  dInAdds: 14,
  read: 15,
} as const;

type PpoStep = (
  rows: number,
  clip: number,
  vfClip: number,
  vfCoeff: number,
  entCoeff: number,
  gradClip: number,
  stepSize: number,
  sqrtBias2: number,
  beta1: number,
  beta2: number,
  eps: number,
) => number;

type Forward = (rows: number, params: number) => void;

/** gradClip (< 0: none), stepSize, sqrtBias2, beta1, beta2, eps: the Adam step's arguments. */
type AdamStepArgs = [number, number, number, number, number, number];

type TdStep = (
  rows: number,
  huber: number,
  gradClip: number,
  stepSize: number,
  sqrtBias2: number,
  beta1: number,
  beta2: number,
  eps: number,
) => number;

interface KernelExports extends KernelLoops {
  ppo_step: PpoStep;
  td_step: TdStep;
  forward: Forward;
  clear_output_gradients: (rows: number) => void;
  backward: (rows: number, paramGrads: number) => void;
  clip_and_adam: (...args: AdamStepArgs) => number;
  polyak: (target: number, tau: number) => void;
}

/** Pages of the kernel's memory at most (its `.wat` declares the same): 2 GiB. */
const MAX_PAGES = 32768;

let kernelModule: object | undefined;

/** The kernel's module; `bytes` replaces it (a test's deliberately broken kernel), for instances made after. */
export function fusedKernelModule(bytes?: Uint8Array): object {
  if (bytes) kernelModule = new wasm.Module(bytes);
  kernelModule ??= new wasm.Module(Uint8Array.from(atob(MLP_TRAIN_WASM_BASE64), (c) => c.charCodeAt(0)));
  return kernelModule;
}

/** The heads the kernel trains: PPO's two (`ppoStep`), Q values (`tdStep`), SAC's actor and critics (the passes). */
const FUSED_HEADS = new Set<ModuleSpec["head"]["kind"]>([
  "categorical",
  "gaussian",
  "q_values",
  "squashed_gaussian",
  "state_action_values",
]);

/** Why the fused step cannot train `spec`, or null when it can. */
export function fusedUnsupported(spec: ModuleSpec): string | null {
  if (spec.encoder) return "a CNN encoder";
  const kind = spec.head.kind;
  if (!FUSED_HEADS.has(kind)) return `a ${kind} head`;
  const actorCritic = kind === "categorical" || kind === "gaussian";
  if ((kind !== "state_action_values" && spec.policyTower < 0) || (actorCritic && spec.valueTower < 0))
    return "no policy or value tower";
  if (spec.towers.some((t) => t.layers.length === 0)) return "an empty tower";
  return null;
}

/** The tfjs backends that run on this CPU (the fused step replaces their ops there). */
const FUSED_BACKENDS = new Set(["wasm", "cpu"]);

/**
 * Whether a learner built from `spec` trains with the fused step: `learner.fused` is `auto`, the module
 * is covered, the backend is wasm or cpu, and the optimizer is the host `Adam` (whose state the fused
 * step takes over during an update and gives back after it).
 */
export function fusedStepApplies(spec: LearnerSpec<unknown>, optimizer: FlatOptimizer): boolean {
  return (
    (spec.fused ?? "auto") === "auto" &&
    optimizer instanceof Adam &&
    FUSED_BACKENDS.has(tf.getBackend()) &&
    fusedUnsupported(spec.module) === null
  );
}

/** One PPO minibatch, as `Minibatch` holds it (its first `rows` rows are used). */
export interface FusedPPOMinibatch {
  obs: Float32Array;
  /** Class indices as floats (categorical) or the action rows (Gaussian). */
  actions: Float32Array;
  logp: Float32Array;
  values: Float32Array;
  advantages: Float32Array;
  returns: Float32Array;
}

export interface FusedPPOCoefficients {
  clipParam: number;
  vfClipParam: number | null;
  vfLossCoeff: number;
  entropyCoeff: number;
}

export interface FusedAdamOptions {
  adamEpsilon: number;
  gradClip: number | null;
  beta1?: number;
  beta2?: number;
}

/** What one step reports: PPO_LOSS_METRICS' five means and the gradient norm before clipping. */
export interface FusedPPOResult {
  metrics: Float64Array;
  gradNorm: number;
}

/** A replay minibatch, as `ReplaySample` holds it (its first `rows` rows are used). */
export interface FusedTDSample {
  obs: ArrayLike<number>;
  /** Class indices as floats. */
  actions: Float32Array;
  /** Importance weights (1 for uniform replay). */
  weights: Float32Array;
}

/** One TD step's report: qf_loss, qf_mean and td_error_mean, the norm, and Q(s, a) - target per row. */
export interface FusedTDResult {
  metrics: { qf_loss: number; qf_mean: number; td_error_mean: number };
  gradNorm: number;
  tdErrors: Float32Array;
}

interface LayerPlan {
  inDim: number;
  outDim: number;
  paddedOut: number;
  activation: number;
  /** Where the kernel and bias start in the catalog's flat layout (floats). */
  flatKernel: number;
  /** Where they start in each padded region (bytes from the region's start). */
  w: number;
  b: number;
  /** The layer whose output this one reads; -1 for the observation. */
  input: number;
  /** The tower it belongs to. */
  tower: number;
}

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/**
 * The fused training step for one module, in a WebAssembly instance of its own: `ppoStep` for an
 * actor-critic, `tdStep` for a Q module. The module's weights and Adam's state go in with `setWeights`
 * and `setOptimizerState` and come out with `getWeights` and `getOptimizerState`; in between, the steps
 * change them.
 */
export class FusedMlpTrainer {
  private readonly exports: KernelExports;
  /** Shared, so that kernel threads can compute parts of its loops in it. */
  private readonly memory: KernelMemory;
  private readonly module: object;
  /** The memory's id with `threads`, once registered (at its first split loop). */
  private registeredId = 0;
  private readonly layers: LayerPlan[];
  private readonly obsDim: number;
  private readonly actionDim: number;
  private readonly logStdDim: number;
  /** Floats in the catalog's flat layout, and in each padded region. */
  readonly size: number;
  private readonly paddedSize: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private capacity = 0;
  private steps = 0;
  // Byte offsets, set by `layout`.
  private params = 0;
  private grads = 0;
  private m = 0;
  private v = 0;
  private metrics = 0;
  /** A Q module's target network, in the parameters' padded layout (`setTargetWeights`); 0: none. */
  private targetParams = 0;
  /**
   * Each tower's dLoss/d(input rows), [capacity][inputStride] (state-action critics: the action's
   * gradient), summed by `inputGradient`; none for other modules.
   */
  private inputGradientRows: number[] = [];
  /** Floats per row there: the input's width padded to the GEMM's 8 columns. */
  private readonly inputStride: number;
  /** Each tower's last layer (the tower's output). */
  private readonly towerLastLayer: number[] = [];
  /** Each tower's multiply-adds per row of a pass. */
  private readonly towerMultiplyAdds: number[];
  /**
   * Where a pass by towers puts each thread: the layer table's entries [first, end) (byte offsets) of its
   * group of towers; null when passes do not go by towers (see `hostTowers`).
   */
  private towerRanges: [first: number, end: number][] | null = null;
  /** True while a pass runs tower by tower on the threads: the products in it are not split again. */
  private inTowers = false;
  /** Each layer's outputs Y and their gradients D (byte offsets), and the layers whose outputs are Q's (or A's) and V's. */
  private outputs: number[] = [];
  private outputDeltas: number[] = [];
  private qLayer = -1;
  private vLayer = -1;
  private inputs = {
    obs: 0,
    actions: 0,
    oldLogp: 0,
    oldValues: 0,
    advantages: 0,
    returns: 0,
    targets: 0,
    weights: 0,
    tdErrors: 0,
  };
  private f32: Float32Array<ArrayBufferLike> = new Float32Array(0);
  private zero = 0;

  /**
   * `native`: where products of at least `minMultiplyAdds` multiply-adds go (the native BLAS that
   * `learner.blas: auto` installed in this thread, by default; null for none: all in the kernel).
   * `threads`: what long loops are split over, products of at least its `minMultiplyAdds` and
   * activation and Adam loops of at least its `minSplitBytes` (this thread's learner's kernel threads,
   * `learner.num_threads`, by default; null: this thread alone).
   */
  constructor(
    readonly spec: ModuleSpec,
    private readonly adam: FusedAdamOptions,
    capacity = 64,
    private readonly native: { gemm: NativeGemm; minMultiplyAdds: number } | null = nativeGemm(),
    private readonly threads: KernelThreads | null = kernelThreads(),
  ) {
    const unsupported = fusedUnsupported(spec);
    if (unsupported) throw new TypeError(`fused MLP step: ${unsupported} is not covered`);
    this.memory = new wasm.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    this.module = fusedKernelModule();
    const imports = {
      env: { memory: this.memory },
      math: { exp: Math.exp, log: Math.log },
      host: {
        gemm: this.hostProduct,
        elementwise: this.hostElementwise,
        adam: this.hostAdam,
        towers: this.hostTowers,
      },
    };
    this.exports = new wasm.Instance(this.module, imports).exports as unknown as KernelExports;
    this.obsDim = spec.obsDim;
    this.inputStride = roundUp(spec.obsDim, ROW_FLOATS);
    this.actionDim = spec.actionDim;
    this.logStdDim = spec.logStdDim;
    this.beta1 = adam.beta1 ?? 0.9;
    this.beta2 = adam.beta2 ?? 0.999;
    this.layers = [];
    let flat = 0;
    let padded = 0;
    const lastLayer = this.towerLastLayer;
    spec.towers.forEach((tower, t) => {
      tower.layers.forEach((shape, i) => {
        const paddedOut = roundUp(shape.outDim, ROW_FLOATS);
        const linear = !tower.activateLast && i === tower.layers.length - 1;
        const previous = this.layers.length - 1;
        this.layers.push({
          ...shape,
          paddedOut,
          activation: ACTIVATION_CODES[linear ? "linear" : spec.activation],
          flatKernel: flat,
          w: padded * FLOAT,
          b: (padded + shape.inDim * paddedOut) * FLOAT,
          input: i > 0 ? previous : tower.input < 0 ? -1 : lastLayer[tower.input],
          tower: t,
        });
        flat += shape.inDim * shape.outDim + shape.outDim;
        padded += shape.inDim * paddedOut + paddedOut;
      });
      lastLayer.push(this.layers.length - 1);
    });
    this.towerMultiplyAdds = spec.towers.map((tower) =>
      tower.layers.reduce((sum, { inDim, outDim }) => sum + inDim * roundUp(outDim, ROW_FLOATS), 0),
    );
    this.size = flat + this.logStdDim;
    this.paddedSize = padded + roundUp(this.logStdDim, 4);
    this.layout(capacity, spec);
  }

  /**
   * One PPO step (forward, loss, backward, clip, Adam) on the first `rows` rows of `batch` at `lr`. A
   * non-finite gradient norm is returned as it is and leaves the weights and moments unchanged (the
   * caller refuses it, as `Adam.step` does); the step still counts, as it does there.
   */
  ppoStep(batch: FusedPPOMinibatch, rows: number, coeffs: FusedPPOCoefficients, lr: number): FusedPPOResult {
    const kind = this.spec.head.kind;
    if (kind !== "categorical" && kind !== "gaussian")
      throw new TypeError(`fused PPO step: the module is not an actor-critic (a ${kind} head)`);
    this.prepareRows(rows, batch.obs, batch.actions);
    const f32 = this.f32;
    const { inputs } = this;
    f32.set(batch.logp.subarray(0, rows), inputs.oldLogp / FLOAT);
    f32.set(batch.values.subarray(0, rows), inputs.oldValues / FLOAT);
    f32.set(batch.advantages.subarray(0, rows), inputs.advantages / FLOAT);
    f32.set(batch.returns.subarray(0, rows), inputs.returns / FLOAT);
    const gradNorm = this.exports.ppo_step(
      rows,
      coeffs.clipParam,
      coeffs.vfClipParam ?? -1,
      coeffs.vfLossCoeff,
      coeffs.entropyCoeff,
      ...this.adamStep(lr),
    );
    const metrics = new Float64Array(this.memory.buffer, this.metrics, 5).slice();
    return { metrics, gradNorm };
  }

  /**
   * One DQN step (forward, TD loss, backward, clip, Adam) on the first `rows` rows of `sample` with the
   * bootstrapped `targets`, at `lr`. A non-finite norm is returned and moves nothing, as in `ppoStep`.
   */
  tdStep(
    sample: FusedTDSample,
    targets: Float32Array,
    rows: number,
    lossFn: "huber" | "mse",
    lr: number,
  ): FusedTDResult {
    if (this.spec.head.kind !== "q_values")
      throw new TypeError("fused TD step: the module is not a Q module");
    this.prepareRows(rows, sample.obs, sample.actions);
    const f32 = this.f32;
    const { inputs } = this;
    f32.set(targets.subarray(0, rows), inputs.targets / FLOAT);
    f32.set(sample.weights.subarray(0, rows), inputs.weights / FLOAT);
    const gradNorm = this.exports.td_step(rows, lossFn === "huber" ? 1 : 0, ...this.adamStep(lr));
    const [qf_loss, qf_mean, td_error_mean] = new Float64Array(this.memory.buffer, this.metrics, 3);
    const tdErrors = this.f32.slice(inputs.tdErrors / FLOAT, inputs.tdErrors / FLOAT + rows);
    return { metrics: { qf_loss, qf_mean, td_error_mean }, gradNorm, tdErrors };
  }

  /**
   * Q values `[rows * actions]` of the first `rows` observations into `out`, by the online network (the
   * trained weights) or the target network (`setTargetWeights`): the kernel's forward pass alone, and for
   * a dueling head Q = V + A - mean(A) here.
   */
  qValues(obs: ArrayLike<number>, rows: number, network: "online" | "target", out: Float32Array): void {
    const head = this.spec.head;
    if (head.kind !== "q_values") throw new TypeError("fused Q values: the module is not a Q module");
    this.prepareRows(rows, obs, null);
    this.exports.forward(rows, network === "online" ? this.params : this.targetParams);
    const f32 = this.f32;
    const n = head.n;
    const q = this.outputs[this.qLayer] / FLOAT;
    const qStride = this.layers[this.qLayer].paddedOut;
    const v = this.vLayer >= 0 ? this.outputs[this.vLayer] / FLOAT : -1;
    const vStride = this.vLayer >= 0 ? this.layers[this.vLayer].paddedOut : 0;
    for (let r = 0; r < rows; r++) {
      const row = q + r * qStride;
      let shift = 0;
      if (v >= 0) {
        let mean = 0;
        for (let a = 0; a < n; a++) mean += f32[row + a];
        shift = f32[v + r * vStride] - mean / n;
      }
      for (let a = 0; a < n; a++) out[r * n + a] = f32[row + a] + shift;
    }
  }

  /** A Q module's target network (for `qValues` and `forwardRows`), in the flat layout. */
  setTargetWeights(flat: Float32Array): void {
    this.writeRegion(this.targetRegion(), flat, "target weights");
  }

  getTargetWeights(): Float32Array {
    return this.readRegion(this.targetRegion());
  }

  /** The target network's Polyak move toward the trained weights: target <- tau w + (1 - tau) target. */
  updateTarget(tau: number): void {
    this.exports.polyak(this.targetRegion(), tau);
  }

  private targetRegion(): number {
    if (this.targetParams === 0) {
      throw new TypeError(`fused MLP step: a ${this.spec.head.kind} module has no target network`);
    }
    return this.targetParams;
  }

  /**
   * The first `rows` input rows ([rows][obsDim]: the observation, or a critic's observation and action
   * side by side), to fill before `forwardRows`: a view of the kernel's memory, valid until the next call.
   */
  inputRows(rows: number): Float32Array {
    if (rows < 1) throw new RangeError(`fused step: expected at least 1 row, got ${rows}`);
    if (rows > this.capacity) this.grow(rows);
    const at = this.inputs.obs / FLOAT;
    return this.f32.subarray(at, at + rows * this.obsDim);
  }

  /** The forward pass on the first `rows` input rows, by the trained or the target weights. */
  forwardRows(rows: number, network: "online" | "target"): void {
    this.exports.forward(rows, network === "online" ? this.params : this.targetRegion());
  }

  /** Tower `tower`'s outputs [rows][outDim] from the last forward pass, into `out`. */
  towerOutput(tower: number, rows: number, out: Float32Array): Float32Array {
    const layer = this.towerLastLayer[tower];
    const { outDim, paddedOut } = this.layers[layer];
    const y = this.outputs[layer] / FLOAT;
    for (let r = 0; r < rows; r++) {
      const from = y + r * paddedOut;
      out.set(this.f32.subarray(from, from + outDim), r * outDim);
    }
    return out;
  }

  /**
   * After a forward pass by the trained weights: the backward pass from dLoss/d(tower outputs)
   * (`outputGradients[t]`, [rows][outDim], null for a tower the loss does not read), clipping and Adam
   * at `lr`. Returns the gradient's norm before clipping; a non-finite one moves nothing, as in `ppoStep`.
   */
  backwardStep(rows: number, outputGradients: (Float32Array | null)[], lr: number): number {
    this.writeOutputGradients(rows, outputGradients);
    this.exports.backward(rows, 1);
    return this.exports.clip_and_adam(...this.adamStep(lr));
  }

  /**
   * After a forward pass: dLoss/d(input rows) [rows][obsDim] into `out` for the tower output gradients
   * `outputGradients` (as `backwardStep` takes them), the weights and moments untouched. State-action
   * critics only (SAC's actor loss reads dQ/da through them).
   */
  inputGradient(rows: number, outputGradients: (Float32Array | null)[], out: Float32Array): Float32Array {
    if (this.inputGradientRows.length === 0)
      throw new TypeError(`fused MLP step: no input gradient for a ${this.spec.head.kind} module`);
    this.writeOutputGradients(rows, outputGradients);
    this.exports.backward(rows, 0);
    // Each tower wrote its own rows (so that the towers can run at once); their sum, in tower order.
    const { f32, inputStride, obsDim } = this;
    const [first, ...others] = this.inputGradientRows.map((at) => at / FLOAT);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < obsDim; j++) {
        let sum = f32[first + r * inputStride + j];
        for (const at of others) sum = Math.fround(sum + f32[at + r * inputStride + j]);
        out[r * obsDim + j] = sum;
      }
    }
    return out;
  }

  /** The heads' D to zero, then the towers' output gradients into their last layers' D rows. */
  private writeOutputGradients(rows: number, outputGradients: (Float32Array | null)[]): void {
    this.exports.clear_output_gradients(rows);
    outputGradients.forEach((gradient, tower) => {
      if (!gradient) return;
      const layer = this.towerLastLayer[tower];
      const { outDim, paddedOut } = this.layers[layer];
      const d = this.outputDeltas[layer] / FLOAT;
      for (let r = 0; r < rows; r++) {
        this.f32.set(gradient.subarray(r * outDim, (r + 1) * outDim), d + r * paddedOut);
      }
    });
  }

  /** The Adam step's arguments at `lr`, its step counted (a refused step counts too, as in `Adam.step`). */
  private adamStep(lr: number): AdamStepArgs {
    this.steps += 1;
    const { beta1, beta2 } = this;
    return [
      this.adam.gradClip ?? -1,
      lr / (1 - beta1 ** this.steps),
      Math.sqrt(1 - beta2 ** this.steps),
      beta1,
      beta2,
      this.adam.adamEpsilon,
    ];
  }

  /**
   * The kernel's $gemm for the products it hands the host (those of at least `H.hostMin` multiply-adds):
   * split over the kernel threads when large enough for them, on the native BLAS when large enough for
   * it (and its operands suit it), or both. Returns 1 when done, 0 to leave it to the kernel.
   */
  private readonly hostProduct = (...args: ProductArgs): number => {
    const size = multiplyAdds(args);
    const { threads } = this;
    const native = this.native && size >= this.native.minMultiplyAdds ? this.native.gemm : null;
    if (threads && !this.inTowers && size >= threads.minMultiplyAdds[native ? "native" : "kernel"]) {
      const onNative = native && { gemm: native, memory: this.memory, zero: this.zero };
      threads.product(this.threadsId(threads), this.exports, args, onNative);
      return 1;
    }
    return native && nativeProduct(native, this.memory.buffer, this.zero, args) ? 1 : 0;
  };

  /** The kernel's $activate (op 0) or $activateBackward (op 1) on a loop it hands the host: split. */
  private readonly hostElementwise = (
    op: number,
    target: number,
    outputs: number,
    bytes: number,
    activation: number,
  ): number => {
    const threads = this.threads;
    if (!threads || this.inTowers) return 0;
    const id = this.threadsId(threads);
    threads.activation(id, this.exports, target, op === 0 ? null : outputs, bytes, activation);
    return 1;
  };

  /** The kernel's Adam over the regions' first `bytes` bytes: split. */
  private readonly hostAdam = (bytes: number, ...coefficients: AdamCoefficients): number => {
    const threads = this.threads;
    if (!threads) return 0;
    threads.adam(this.threadsId(threads), this.exports, bytes, coefficients);
    return 1;
  };

  /**
   * The kernel's forward (pass 0) or backward pass (pass 1) offered to the host: run as whole towers at
   * once, a group of them per thread (`towerRanges`), when the pass is large enough. Returns 1 when done,
   * 0 to leave it to the kernel. Each tower's arithmetic is the kernel's, whichever thread runs it.
   */
  private readonly hostTowers = (pass: number, rows: number, paramGrads: number): number => {
    const { threads, towerRanges } = this;
    if (!threads || !towerRanges || this.inTowers) return 0;
    const rowMultiplyAdds = this.towerMultiplyAdds.reduce((sum, x) => sum + x, 0);
    if (rows * rowMultiplyAdds < threads.minMultiplyAdds.towers) return 0;
    const parts = towerRanges.map(([first, end]) =>
      pass === 0 ? [rows, first, end] : [rows, paramGrads, first, end - LAYER_BYTES],
    );
    this.inTowers = true;
    try {
      const nativeMin = this.native ? Math.max(1, this.native.minMultiplyAdds) : 0;
      const op = pass === 0 ? "forward" : "backward";
      threads.towers(this.threadsId(threads), this.exports, op, parts, nativeMin, this.zero);
    } finally {
      this.inTowers = false;
    }
    return 1;
  };

  /**
   * `towerRanges` for the table at `table`: consecutive towers to each thread, about as many multiply-adds
   * each, when the towers are independent (each reads the observation, none another's output) and at
   * least as many as the threads (with fewer, splitting each loop keeps every thread busy); else null.
   */
  private towerRangesFrom(table: number): [first: number, end: number][] | null {
    const { threads, towerMultiplyAdds: costs } = this;
    if (!threads || threads.size < 2 || costs.length < threads.size) return null;
    if (!this.spec.towers.every((tower) => tower.input < 0)) return null;
    const total = costs.reduce((sum, x) => sum + x, 0);
    /** The table entry of the tower's first layer (of `costs.length`: the table's end). */
    const entry = (tower: number) =>
      table + (tower === 0 ? 0 : this.towerLastLayer[tower - 1] + 1) * LAYER_BYTES;
    const ranges: [number, number][] = [];
    let first = 0;
    let done = 0;
    for (let t = 0; t < costs.length; t++) {
      done += costs[t];
      // A group ends at its share of the total, or when each later thread needs one of the towers left.
      const groupsLeft = threads.size - ranges.length - 1;
      if (done >= (total * (ranges.length + 1)) / threads.size || costs.length - t - 1 === groupsLeft) {
        ranges.push([entry(first), entry(t + 1)]);
        first = t + 1;
      }
    }
    return ranges;
  }

  /** This memory's id with `threads`, registering it at its first split loop. */
  private threadsId(threads: KernelThreads): number {
    if (this.registeredId === 0) this.registeredId = threads.register(this.memory, this.module);
    return this.registeredId;
  }

  /** Room for `rows` rows, and the observations and actions (if any) copied in. */
  private prepareRows(rows: number, obs: ArrayLike<number>, actions: Float32Array | null): void {
    const input = this.inputRows(rows);
    if (obs instanceof Float32Array) input.set(obs.subarray(0, input.length));
    else for (let i = 0; i < input.length; i++) input[i] = obs[i];
    if (actions) this.f32.set(actions.subarray(0, rows * this.actionDim), this.inputs.actions / FLOAT);
  }

  /** The weights in the catalog's flat layout (a copy). */
  getWeights(): Float32Array {
    return this.readRegion(this.params);
  }

  setWeights(flat: Float32Array): void {
    this.writeRegion(this.params, flat, "weights");
  }

  /** The gradient of the last step, in the flat layout (tests). */
  getGradient(): Float32Array {
    return this.readRegion(this.grads);
  }

  getOptimizerState(): OptimizerState {
    return { step: this.steps, m: this.readRegion(this.m), v: this.readRegion(this.v) };
  }

  setOptimizerState(state: OptimizerState): void {
    this.writeRegion(this.m, state.m, "optimizer state m");
    this.writeRegion(this.v, state.v, "optimizer state v");
    this.steps = state.step;
  }

  /** Flat layout -> the padded region at `region` (padding stays zero). */
  private writeRegion(region: number, flat: Float32Array, what: string): void {
    checkFlatSize(`fused MLP ${what}`, flat.length, this.size);
    const f32 = this.f32;
    const base = region / FLOAT;
    for (const layer of this.layers) {
      const { inDim, outDim, paddedOut } = layer;
      for (let i = 0; i < inDim; i++) {
        const from = layer.flatKernel + i * outDim;
        f32.set(flat.subarray(from, from + outDim), base + layer.w / FLOAT + i * paddedOut);
      }
      const bias = layer.flatKernel + inDim * outDim;
      f32.set(flat.subarray(bias, bias + outDim), base + layer.b / FLOAT);
    }
    const logStd = this.size - this.logStdDim;
    f32.set(flat.subarray(logStd), base + (this.paddedSize - roundUp(this.logStdDim, 4)));
  }

  private readRegion(region: number): Float32Array {
    const flat = new Float32Array(this.size);
    const f32 = this.f32;
    const base = region / FLOAT;
    for (const layer of this.layers) {
      const { inDim, outDim, paddedOut } = layer;
      for (let i = 0; i < inDim; i++) {
        const from = base + layer.w / FLOAT + i * paddedOut;
        flat.set(f32.subarray(from, from + outDim), layer.flatKernel + i * outDim);
      }
      const bias = base + layer.b / FLOAT;
      flat.set(f32.subarray(bias, bias + outDim), layer.flatKernel + inDim * outDim);
    }
    const logStd = base + this.paddedSize - roundUp(this.logStdDim, 4);
    flat.set(f32.subarray(logStd, logStd + this.logStdDim), this.size - this.logStdDim);
    return flat;
  }

  /** Re-lays the memory for more rows, keeping the weights, Adam's state and the target network. */
  private grow(rows: number): void {
    const weights = this.getWeights();
    const state = this.getOptimizerState();
    const target = this.targetParams ? this.readRegion(this.targetParams) : null;
    this.layout(rows, this.spec);
    this.setWeights(weights);
    this.setOptimizerState(state);
    if (target) this.setTargetWeights(target);
  }

  /** Places everything in memory for `capacity` rows and writes the header and the layer table. */
  private layout(capacity: number, spec: ModuleSpec): void {
    const lastLayer = this.towerLastLayer;
    let offset = 0;
    const take = (bytes: number) => {
      const at = offset;
      offset = roundUp(offset + bytes, ALIGN);
      return at;
    };
    const kind = spec.head.kind;
    const critic = kind === "state_action_values";
    // dX = D W^T needs W transposed, into rows as wide as the input's (its D's, or the input gradient's).
    const inputWidth = (layer: LayerPlan) =>
      layer.input >= 0 ? this.layers[layer.input].paddedOut : critic ? this.inputStride : 0;
    const header = take(HEADER_BYTES);
    const table = take(this.layers.length * LAYER_BYTES);
    // The zeros a product starts from: as wide as the widest row it writes (a layer's outputs, or a dX).
    const widest = Math.max(...this.layers.map((l) => Math.max(l.paddedOut, inputWidth(l)))) * FLOAT;
    const zero = take(widest);
    const metrics = take(5 * F64);
    const scratch = take(Math.max(1, this.logStdDim) * F64);
    const regionBytes = this.paddedSize * FLOAT;
    this.params = take(regionBytes);
    this.grads = take(regionBytes);
    this.m = take(regionBytes);
    this.v = take(regionBytes);
    this.targetParams = kind === "q_values" || critic ? take(regionBytes) : 0;
    this.inputGradientRows = critic ? spec.towers.map(() => take(capacity * this.inputStride * FLOAT)) : [];
    const transposed = this.layers.map((layer) => {
      const width = inputWidth(layer);
      return width > 0 ? take(layer.outDim * width * FLOAT) : 0;
    });
    this.inputs = {
      obs: take(capacity * this.obsDim * FLOAT),
      actions: take(capacity * this.actionDim * FLOAT),
      oldLogp: take(capacity * FLOAT),
      oldValues: take(capacity * FLOAT),
      advantages: take(capacity * FLOAT),
      returns: take(capacity * FLOAT),
      targets: take(capacity * FLOAT),
      weights: take(capacity * FLOAT),
      tdErrors: take(capacity * FLOAT),
    };
    const y = this.layers.map((layer) => take(capacity * layer.paddedOut * FLOAT));
    const d = this.layers.map((layer) => take(capacity * layer.paddedOut * FLOAT));
    const missing = offset - this.memory.buffer.byteLength;
    if (missing > 0) {
      const pages = Math.ceil(missing / PAGE_BYTES);
      if (this.memory.buffer.byteLength / PAGE_BYTES + pages > MAX_PAGES) {
        throw new RangeError(
          `fused MLP step: ${capacity} rows of this network need ${(offset / 2 ** 30).toFixed(1)} GiB, more than the kernel's 2 GiB`,
        );
      }
      this.memory.grow(pages);
    }
    // Everything from scratch to zero: padding, moments and scratch all start at 0.
    this.f32 = new Float32Array(this.memory.buffer);
    this.f32.fill(0);
    this.metrics = metrics;
    this.zero = zero;
    this.towerRanges = this.towerRangesFrom(table);
    this.outputs = y;
    this.outputDeltas = d;
    this.qLayer = spec.policyTower >= 0 ? lastLayer[spec.policyTower] : -1;
    this.vLayer = spec.valueTower >= 0 ? lastLayer[spec.valueTower] : -1;
    this.capacity = capacity;

    const i32 = new Int32Array(this.memory.buffer);
    const h = header / FLOAT;
    const head = spec.head;
    const set = (field: number, value: number) => {
      i32[h + field] = value;
    };
    set(H.layers, this.layers.length);
    set(H.table, table);
    set(H.policy, this.qLayer);
    set(H.value, this.vLayer);
    set(H.head, head.kind === "gaussian" ? 1 : 0);
    set(
      H.outputs,
      head.kind === "gaussian"
        ? head.dim
        : head.kind === "categorical" || head.kind === "q_values"
          ? head.n
          : 0,
    );
    set(H.actionDim, this.actionDim);
    set(H.actions, this.inputs.actions);
    set(H.oldLogp, this.inputs.oldLogp);
    set(H.oldValues, this.inputs.oldValues);
    set(H.advantages, this.inputs.advantages);
    set(H.returns, this.inputs.returns);
    set(H.params, this.params);
    set(H.grads, this.grads);
    set(H.m, this.m);
    set(H.v, this.v);
    set(H.size, this.paddedSize);
    set(H.logStd, (this.paddedSize - roundUp(this.logStdDim, 4)) * FLOAT);
    set(H.metrics, metrics);
    set(H.zero, zero);
    set(H.scratch, scratch);
    set(H.targets, this.inputs.targets);
    set(H.weights, this.inputs.weights);
    set(H.tdErrors, this.inputs.tdErrors);
    const hostMin = Math.min(
      this.native?.minMultiplyAdds ?? Number.POSITIVE_INFINITY,
      this.threads && this.threads.size > 1 ? this.threads.minMultiplyAdds.kernel : Number.POSITIVE_INFINITY,
    );
    set(H.hostMin, Number.isFinite(hostMin) ? Math.max(1, hostMin) : 0);
    set(H.splitMin, this.threads && this.threads.size > 1 ? Math.max(1, this.threads.minSplitBytes) : 0);
    const lastReader = this.layers.map(() => -1);
    this.layers.forEach(({ input }, l) => {
      if (input >= 0) lastReader[input] = l;
    });
    this.layers.forEach((layer, l) => {
      const e = (table + l * LAYER_BYTES) / FLOAT;
      const input = layer.input;
      i32[e + L.input] = input < 0 ? this.inputs.obs : y[input];
      i32[e + L.inStride] = (input < 0 ? this.obsDim : this.layers[input].paddedOut) * FLOAT;
      i32[e + L.inDim] = layer.inDim;
      i32[e + L.w] = layer.w;
      i32[e + L.b] = layer.b;
      i32[e + L.y] = y[l];
      i32[e + L.d] = d[l];
      i32[e + L.stride] = layer.paddedOut * FLOAT;
      i32[e + L.activation] = layer.activation;
      i32[e + L.dIn] = input >= 0 ? d[input] : 0;
      i32[e + L.inputGradient] = input >= 0 ? 0 : (this.inputGradientRows[layer.tower] ?? 0);
      // The backward pass goes from the last layer to the first: the input's last reader writes its D.
      i32[e + L.dInAdds] = input >= 0 && lastReader[input] !== l ? 1 : 0;
      i32[e + L.read] = lastReader[l] >= 0 ? 1 : 0;
      i32[e + L.dInStride] = inputWidth(layer) * FLOAT;
      i32[e + L.wT] = transposed[l];
      i32[e + L.outDim] = layer.outDim;
    });
  }
}
