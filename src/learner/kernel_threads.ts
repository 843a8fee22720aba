/**
 * Threads for the fused training kernel's long loops (`learner.num_threads`): a large matrix product's
 * rows, or a long activation or Adam loop's range, are split into parts, one per thread, computed at the
 * same time in the kernel's shared memory — the calling thread takes the first part, worker threads
 * (kernel_worker.ts, each with its own instance of the kernel on that memory) the others. Every output
 * element is computed the same way whichever part it is in, so the step is the same to the bit on any
 * number of threads. A product large enough for the native BLAS is split the same way, each part a
 * BLAS call in its thread (OpenBLAS itself stays on one thread: see blas.ts).
 *
 * The calling thread blocks while its workers run (the kernel is synchronous, the call comes from inside
 * WebAssembly): a job crosses as numbers in a shared control block, with Atomics.notify to wake a worker
 * and Atomics.wait to wait for it, no message and no event loop. Workers spin briefly after a job before
 * they sleep, since a training step's loops come back to back.
 */
import { availableParallelism } from "node:os";
import { MessageChannel, type MessagePort, receiveMessageOnPort, type Worker } from "node:worker_threads";
import { siblingModule, startWorkerThread } from "../rollout/worker_thread.js";
import type { NativeGemm } from "./blas.js";
import { type KernelMemory, nativeProduct, type ProductArgs, rowBlock } from "./kernel_product.js";

/** What a job asks a worker to run: the kernel's export of the same name on its part. */
export const OP = {
  gemmRows: 0,
  activate: 1,
  activateBackward: 2,
  adamRange: 3,
  forwardLayers: 4,
  backwardLayers: 5,
} as const;

/** The kernel exports the threads run (the same in every instance). */
export interface KernelLoops {
  gemm_rows: (...args: ProductArgs) => void;
  activate: (p: number, bytes: number, activation: number) => void;
  activate_backward: (d: number, y: number, bytes: number, activation: number) => void;
  adam_range: (offset: number, end: number, ...coefficients: AdamCoefficients) => void;
  forward_layers: (rows: number, first: number, end: number) => void;
  backward_layers: (rows: number, paramGrads: number, first: number, last: number) => void;
}

/** The minimums for splitting, in multiply-adds (see DEFAULT_MIN_MULTIPLY_ADDS). */
export interface SplitMinimums {
  /** A product, by rows, on the kernel's GEMM. */
  kernel: number;
  /** A product, by rows, on the native BLAS. */
  native: number;
  /** A forward or backward pass, by towers (all of its products together). */
  towers: number;
}

/** Adam's float32 arguments after the range: scale, stepSize, sqrtBias2, beta1, beta2, eps. */
export type AdamCoefficients = [number, number, number, number, number, number];

/**
 * Fields of a worker's slot in the control block (int32 indices; `floats` read through a Float32Array);
 * a slot is 128 bytes, cache lines of its own.
 */
export const SLOT = {
  /** The job's number, written last by the caller; STOP ends the worker. */
  seq: 0,
  /** The number of the last job the worker finished. */
  done: 1,
  /** 0, or 1 when the job threw (the message follows on the worker's port). */
  failed: 2,
  /** Which registered kernel memory the job is in. */
  memory: 3,
  op: 4,
  /**
   * The job's integer arguments, from here (12 at most): the export's, and for a product part two more,
   * 1 to run it through the native BLAS (where its operands suit it) and the kernel's zeros; a pass's
   * towers start with two: the smallest product for the native BLAS (0: none) and the kernel's zeros.
   */
  ints: 5,
  /** Adam's float arguments, from here (6). */
  floats: 17,
} as const;
export const SLOT_INTS = 32;
export const STOP = -1;

/**
 * The smallest product split, in multiply-adds, on the kernel's GEMM and on the native BLAS (about 8x
 * faster per core here, so its products must be larger to pay for waking a worker). Measured on this
 * 2-core machine, one product alone: the kernel's 128x128x128 (2M) 1.1-1.2x faster on 2 threads,
 * 256x256x256 (17M) 1.4-1.9x; BLAS's 256x256x256 0.8-1.4x, 512x512x512 (134M) 1.7x. A PPO step's
 * passes by towers (actor and critic at once) against one thread, with and without the BLAS: 0.9x at
 * 80k-160k multiply-adds a pass, 1.1-1.3x at 180k-620k (64x64 networks, minibatch 64), 1.3-1.7x from 1M.
 */
const DEFAULT_MIN_MULTIPLY_ADDS: SplitMinimums = { kernel: 1 << 22, native: 1 << 25, towers: 1 << 18 };
/** The shortest activation or Adam loop split, in bytes (64k floats: tens of microseconds of work). */
const DEFAULT_MIN_SPLIT_BYTES = 1 << 18;
/** Rows per block are a multiple of the kernel's 4-row step; ranges, of a 64-byte cache line. */
const ROW_STEP = 4;
const RANGE_STEP = 64;
/** How long the caller waits on a part before it calls the worker lost. */
const PART_TIMEOUT_MS = 60_000;
/**
 * Loads of the done flag before the caller sleeps on it (a few hundred microseconds): a worker's part ends
 * about when the caller's does, and a sleeping caller costs a wake-up on this VM's vCPUs.
 */
const CALLER_SPINS = 200_000;

/** What kernel_worker.ts gets as `workerData`. */
export interface KernelWorkerData {
  control: SharedArrayBuffer;
  index: number;
  /** Registrations of kernel memories come through this port, a failed part's message goes back. */
  port: MessagePort;
  /** Load the native BLAS for product parts (the learner's `learner.blas` found one). */
  blas: boolean;
}

/** A kernel memory registered with the workers (they instantiate `module` on it). */
export interface KernelRegistration {
  id: number;
  memory: KernelMemory;
  module: object;
}

/** `learner.num_threads` resolved: `auto` is every core but the `samplingThreads` beside the learner, at least 1. */
export function learnerThreads(setting: "auto" | number, samplingThreads: number): number {
  return setting === "auto" ? Math.max(1, availableParallelism() - samplingThreads) : setting;
}

/** Splits `[0, total)` into at most `parts` pieces, each but the last a multiple of `step`. */
function pieces(total: number, parts: number, step: number): [first: number, length: number][] {
  const size = Math.ceil(Math.ceil(total / Math.min(parts, Math.ceil(total / step))) / step) * step;
  const out: [number, number][] = [];
  for (let first = 0; first < total; first += size) out.push([first, Math.min(size, total - first)]);
  return out;
}

export class KernelThreads {
  private readonly ints: Int32Array;
  private readonly floats: Float32Array;
  private seq = 0;
  private nextId = 1;
  private closed = false;

  private constructor(
    /** Threads a loop is split over, the caller's included. */
    readonly size: number,
    /** The smallest product and pass split, in multiply-adds. */
    readonly minMultiplyAdds: SplitMinimums,
    /** The shortest activation or Adam loop split, in bytes. */
    readonly minSplitBytes: number,
    private readonly workers: { thread: Worker; port: MessagePort }[],
    control: SharedArrayBuffer,
  ) {
    this.ints = new Int32Array(control);
    this.floats = new Float32Array(control);
  }

  /** Starts `size - 1` workers (none for 1); `blas`: they load the native BLAS for product parts. */
  static async start(
    size: number,
    blas: boolean,
    minMultiplyAdds = DEFAULT_MIN_MULTIPLY_ADDS,
    minSplitBytes = DEFAULT_MIN_SPLIT_BYTES,
  ): Promise<KernelThreads> {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`learner.num_threads: expected an integer >= 1, got ${size}`);
    }
    const control = new SharedArrayBuffer(Math.max(1, size - 1) * SLOT_INTS * 4);
    const workers: { thread: Worker; port: MessagePort }[] = [];
    try {
      for (let index = 0; index < size - 1; index++) {
        const { port1, port2 } = new MessageChannel();
        const workerData: KernelWorkerData = { control, index, port: port2, blas };
        const thread = startWorkerThread(siblingModule(import.meta.url, "kernel_worker"), {
          workerData,
          transferList: [port2],
        });
        workers.push({ thread, port: port1 });
        await new Promise<void>((resolve, reject) => {
          thread.once("message", () => resolve());
          thread.once("error", (error) =>
            reject(new Error(`kernel thread ${index} did not start: ${error.message}`)),
          );
          thread.once("exit", (code) =>
            reject(new Error(`kernel thread ${index} exited (code ${code}) while starting`)),
          );
        });
        // Asleep between jobs, it must not keep the process alive.
        thread.unref();
      }
    } catch (error) {
      await Promise.all(workers.map((w) => w.thread.terminate()));
      throw error;
    }
    return new KernelThreads(size, minMultiplyAdds, minSplitBytes, workers, control);
  }

  /** Makes `memory` (with the kernel `module`) known to every worker; the id goes with each job in it. */
  register(memory: KernelMemory, module: object): number {
    const id = this.nextId++;
    for (const { port } of this.workers)
      port.postMessage({ id, memory, module } satisfies KernelRegistration);
    return id;
  }

  /**
   * The product `args` in the memory registered as `memoryId` (`kernel`: the caller's instance), split by
   * rows; with `native`, each part through the native BLAS where its operands suit it.
   */
  product(
    memoryId: number,
    kernel: KernelLoops,
    args: ProductArgs,
    native: { gemm: NativeGemm; memory: KernelMemory; zero: number } | null,
  ): void {
    const parts = pieces(args[7], this.size, ROW_STEP).map(([first, rows]) => rowBlock(args, first, rows));
    const onNative = [native ? 1 : 0, native?.zero ?? 0];
    const jobs = parts.map((part) => [...part, ...onNative]);
    this.run(memoryId, OP.gemmRows, jobs, null, () => {
      if (!native || !nativeProduct(native.gemm, native.memory.buffer, native.zero, parts[0])) {
        kernel.gemm_rows(...parts[0]);
      }
    });
  }

  /**
   * `activate` over `bytes` bytes from `target`, or with the layer's `outputs`, `activate_backward` (its
   * gradient at `target`), split into ranges.
   */
  activation(
    memoryId: number,
    kernel: KernelLoops,
    target: number,
    outputs: number | null,
    bytes: number,
    activation: number,
  ): void {
    const ranges = pieces(bytes, this.size, RANGE_STEP);
    const first = ranges[0][1];
    if (outputs === null) {
      const parts = ranges.map(([at, length]) => [target + at, length, activation]);
      this.run(memoryId, OP.activate, parts, null, () => kernel.activate(target, first, activation));
    } else {
      const parts = ranges.map(([at, length]) => [target + at, outputs + at, length, activation]);
      const own = () => kernel.activate_backward(target, outputs, first, activation);
      this.run(memoryId, OP.activateBackward, parts, null, own);
    }
  }

  /**
   * Whole passes over groups of a module's independent towers at once: `forward_layers` (`op` forward)
   * or `backward_layers` with `parts[g]`'s arguments, group g on thread g (the caller's the first). The
   * products in them are not split: each goes whole to the native BLAS from `nativeMin` multiply-adds
   * (0: none), to the kernel's GEMM below; `zero`: the kernel's zeros.
   */
  towers(
    memoryId: number,
    kernel: KernelLoops,
    op: "forward" | "backward",
    parts: number[][],
    nativeMin: number,
    zero: number,
  ): void {
    const jobs = parts.map((part) => [nativeMin, zero, ...part]);
    const [a, b, c, d] = parts[0];
    const own =
      op === "forward" ? () => kernel.forward_layers(a, b, c) : () => kernel.backward_layers(a, b, c, d);
    this.run(memoryId, op === "forward" ? OP.forwardLayers : OP.backwardLayers, jobs, null, own);
  }

  /** `adam_range` over the regions' first `bytes` bytes, split into ranges. */
  adam(memoryId: number, kernel: KernelLoops, bytes: number, coefficients: AdamCoefficients): void {
    const parts = pieces(bytes, this.size, RANGE_STEP).map(([at, length]) => [at, at + length]);
    const own = () => kernel.adam_range(parts[0][0], parts[0][1], ...coefficients);
    this.run(memoryId, OP.adamRange, parts, coefficients, own);
  }

  /** Parts 1.. on the workers, part 0 by `own` here; returns (or throws the first failure) when every part is done. */
  private run(
    memoryId: number,
    op: number,
    parts: number[][],
    floats: AdamCoefficients | null,
    own: () => void,
  ): void {
    if (this.closed) throw new Error("kernel threads: closed");
    const seq = ++this.seq;
    const { ints } = this;
    for (let w = 0; w + 1 < parts.length; w++) {
      const s = w * SLOT_INTS;
      ints[s + SLOT.memory] = memoryId;
      ints[s + SLOT.op] = op;
      ints[s + SLOT.failed] = 0;
      ints.set(parts[w + 1], s + SLOT.ints);
      if (floats) this.floats.set(floats, s + SLOT.floats);
      Atomics.store(ints, s + SLOT.seq, seq);
      Atomics.notify(ints, s + SLOT.seq);
    }
    // Every part is waited for before a failure is thrown, so that none is still running (or about to
    // report) when the caller goes on.
    let failure: unknown = null;
    try {
      own();
    } catch (error) {
      failure = error;
    }
    for (let w = 0; w + 1 < parts.length; w++) {
      try {
        this.wait(w, seq);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== null) throw failure;
  }

  /** Waits until worker `w` finished job `seq`; throws its error, or after PART_TIMEOUT_MS. */
  private wait(w: number, seq: number): void {
    const { ints } = this;
    const done = w * SLOT_INTS + SLOT.done;
    for (let spin = 0; spin < CALLER_SPINS && Atomics.load(ints, done) !== seq; spin++);
    const deadline = performance.now() + PART_TIMEOUT_MS;
    for (;;) {
      const last = Atomics.load(ints, done);
      if (last === seq) break;
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(`kernel thread ${w} did not finish its part in ${PART_TIMEOUT_MS / 1000} s`);
      }
      Atomics.wait(ints, done, last, left);
    }
    if (ints[w * SLOT_INTS + SLOT.failed]) {
      const message = receiveMessageOnPort(this.workers[w].port)?.message;
      throw new Error(`kernel thread ${w}: ${message ?? "its part failed"}`);
    }
  }

  /** Ends the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.workers.forEach((_, w) => {
      Atomics.store(this.ints, w * SLOT_INTS + SLOT.seq, STOP);
      Atomics.notify(this.ints, w * SLOT_INTS + SLOT.seq);
    });
    await Promise.all(
      this.workers.map(({ thread, port }) => {
        port.close();
        return thread.terminate();
      }),
    );
  }
}

let installed: { pool: KernelThreads; users: number } | null = null;

/**
 * The kernel threads of this thread's learner, started by the first `acquireKernelThreads` and ended
 * when the last user releases them; null when none are running (or `learner.num_threads` is 1).
 */
export function kernelThreads(): KernelThreads | null {
  return installed?.pool ?? null;
}

/**
 * Starts (or joins, at the size they have) this thread's kernel threads for a learner; `release` when the
 * learner stops.
 */
export async function acquireKernelThreads(
  size: number,
  blas: boolean,
): Promise<{ release(): Promise<void> }> {
  if (size > 1) {
    if (!installed) installed = { pool: await KernelThreads.start(size, blas), users: 0 };
    installed.users += 1;
  }
  let released = size <= 1;
  return {
    async release() {
      if (released || !installed) return;
      released = true;
      installed.users -= 1;
      if (installed.users === 0) {
        const { pool } = installed;
        installed = null;
        await pool.close();
      }
    },
  };
}
