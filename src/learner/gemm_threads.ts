/**
 * Threads for the fused training kernel's own large matrix products (`learner.num_threads`): a product's
 * rows are split into blocks, one per thread, computed at the same time in the kernel's shared memory —
 * the calling thread takes the first block, worker threads (gemm_worker.ts, each with its own instance
 * of the kernel on that memory) the others. A row's result does not depend on the block it is in, so the
 * product is the same to the bit on any number of threads. Products on the native BLAS are threaded by
 * the BLAS itself (`setNativeBlasThreads`): in one process, alternating, OpenBLAS's own 2 threads were as
 * fast as or faster than these blocks on the fused PPO step (36.8k against 34.3k samples/s at 512x512).
 *
 * The calling thread blocks while its workers run (the kernel is synchronous, the call comes from inside
 * WebAssembly): a job crosses as integers in a shared control block, with Atomics.notify to wake a
 * worker and Atomics.wait to wait for it, no message and no event loop. Workers spin briefly after a job
 * before they sleep, since a training step's products come back to back.
 */
import { availableParallelism } from "node:os";
import { MessageChannel, type MessagePort, receiveMessageOnPort, type Worker } from "node:worker_threads";
import { siblingModule, startWorkerThread } from "../rollout/worker_thread.js";
import { type KernelGemmRows, type KernelMemory, type ProductArgs, rowBlock } from "./kernel_product.js";

/** Int32 fields of a worker's slot in the control block; a slot is 64 bytes, a cache line of its own. */
export const SLOT = {
  /** The job's number, written last by the caller; STOP ends the worker. */
  seq: 0,
  /** The number of the last job the worker finished. */
  done: 1,
  /** 0, or 1 when the job threw (the message follows on the worker's port). */
  failed: 2,
  /** Which registered kernel memory the job is in. */
  memory: 3,
  /** The block, `ProductArgs`, from here. */
  args: 4,
} as const;
export const SLOT_INTS = 16;
export const STOP = -1;

/**
 * The smallest product split over threads, in multiply-adds. Measured on this 2-core machine, one product
 * alone: 128x128x128 (2M) 1.1-1.2x faster on 2 threads, 256x256x256 (17M) 1.4-1.9x; in the fused PPO
 * step, 64x64 at minibatch 256 (1M products) was slower split, 256x256 and 512x512 1.2-1.6x faster.
 */
const DEFAULT_MIN_MULTIPLY_ADDS = 1 << 22;
/** Rows per block are a multiple of the kernel's 4-row step. */
const ROW_STEP = 4;
/** How long the caller waits on a block before it calls the worker lost. */
const BLOCK_TIMEOUT_MS = 60_000;
/** Loads of the done flag before the caller sleeps on it (a block usually ends within microseconds of the caller's). */
const CALLER_SPINS = 2000;

/** What gemm_worker.ts gets as `workerData`. */
export interface GemmWorkerData {
  control: SharedArrayBuffer;
  index: number;
  /** Registrations of kernel memories come through this port, a failed block's message goes back. */
  port: MessagePort;
}

/** A kernel memory registered with the workers (they instantiate `module` on it). */
export interface KernelRegistration {
  id: number;
  memory: KernelMemory;
  module: object;
}

/** `learner.num_threads` resolved: `auto` is every core but those the env runner threads take, at least 1. */
export function learnerThreads(setting: "auto" | number, runnerThreads: number): number {
  return setting === "auto" ? Math.max(1, availableParallelism() - runnerThreads) : setting;
}

export class GemmThreads {
  private readonly slots: Int32Array;
  private seq = 0;
  private nextId = 1;
  private closed = false;

  private constructor(
    /** Threads a product is split over, the caller's included. */
    readonly size: number,
    /** The smallest product split. */
    readonly minMultiplyAdds: number,
    private readonly workers: { thread: Worker; port: MessagePort }[],
    control: SharedArrayBuffer,
  ) {
    this.slots = new Int32Array(control);
  }

  /** Starts `size - 1` workers (none for 1). */
  static async start(size: number, minMultiplyAdds = DEFAULT_MIN_MULTIPLY_ADDS): Promise<GemmThreads> {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`learner.num_threads: expected an integer >= 1, got ${size}`);
    }
    const control = new SharedArrayBuffer(Math.max(1, size - 1) * SLOT_INTS * 4);
    const workers: { thread: Worker; port: MessagePort }[] = [];
    try {
      for (let index = 0; index < size - 1; index++) {
        const { port1, port2 } = new MessageChannel();
        const workerData: GemmWorkerData = { control, index, port: port2 };
        const thread = startWorkerThread(siblingModule(import.meta.url, "gemm_worker"), {
          workerData,
          transferList: [port2],
        });
        workers.push({ thread, port: port1 });
        await new Promise<void>((resolve, reject) => {
          thread.once("message", () => resolve());
          thread.once("error", (error) =>
            reject(new Error(`GEMM thread ${index} did not start: ${error.message}`)),
          );
          thread.once("exit", (code) =>
            reject(new Error(`GEMM thread ${index} exited (code ${code}) while starting`)),
          );
        });
        // Asleep between jobs, it must not keep the process alive.
        thread.unref();
      }
    } catch (error) {
      await Promise.all(workers.map((w) => w.thread.terminate()));
      throw error;
    }
    return new GemmThreads(size, minMultiplyAdds, workers, control);
  }

  /** Makes `memory` (with the kernel `module`) known to every worker; the id goes with each job in it. */
  register(memory: KernelMemory, module: object): number {
    const id = this.nextId++;
    for (const { port } of this.workers)
      port.postMessage({ id, memory, module } satisfies KernelRegistration);
    return id;
  }

  /**
   * The product `args` in the memory registered as `memoryId` (`gemmRows`: the caller's instance's), its
   * rows split over the threads. Returns when every block is done.
   */
  run(memoryId: number, gemmRows: KernelGemmRows, args: ProductArgs): void {
    if (this.closed) throw new Error("GEMM threads: closed");
    const m = args[7];
    const parts = Math.min(this.size, Math.ceil(m / ROW_STEP));
    const block = Math.ceil(m / parts / ROW_STEP) * ROW_STEP;
    const seq = ++this.seq;
    const slots = this.slots;
    const busy: number[] = [];
    for (let w = 0; (w + 1) * block < m && w + 1 < parts; w++) {
      const first = (w + 1) * block;
      const s = w * SLOT_INTS;
      slots[s + SLOT.memory] = memoryId;
      slots[s + SLOT.failed] = 0;
      slots.set(rowBlock(args, first, Math.min(block, m - first)), s + SLOT.args);
      Atomics.store(slots, s + SLOT.seq, seq);
      Atomics.notify(slots, s + SLOT.seq);
      busy.push(w);
    }
    gemmRows(...rowBlock(args, 0, Math.min(block, m)));
    for (const w of busy) this.wait(w, seq);
  }

  /** Waits until worker `w` finished job `seq`; throws its error, or after BLOCK_TIMEOUT_MS. */
  private wait(w: number, seq: number): void {
    const slots = this.slots;
    const done = w * SLOT_INTS + SLOT.done;
    for (let spin = 0; spin < CALLER_SPINS && Atomics.load(slots, done) !== seq; spin++);
    const deadline = performance.now() + BLOCK_TIMEOUT_MS;
    for (;;) {
      const last = Atomics.load(slots, done);
      if (last === seq) break;
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(`GEMM thread ${w} did not finish a matrix product in ${BLOCK_TIMEOUT_MS / 1000} s`);
      }
      Atomics.wait(slots, done, last, left);
    }
    if (slots[w * SLOT_INTS + SLOT.failed]) {
      const message = receiveMessageOnPort(this.workers[w].port)?.message;
      throw new Error(`GEMM thread ${w}: ${message ?? "the product failed"}`);
    }
  }

  /** Ends the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.workers.forEach((_, w) => {
      Atomics.store(this.slots, w * SLOT_INTS + SLOT.seq, STOP);
      Atomics.notify(this.slots, w * SLOT_INTS + SLOT.seq);
    });
    await Promise.all(
      this.workers.map(({ thread, port }) => {
        port.close();
        return thread.terminate();
      }),
    );
  }
}

let installed: { pool: GemmThreads; users: number } | null = null;

/**
 * The GEMM threads of this thread's learner, started by the first `acquireGemmThreads` and ended when
 * the last user releases them; null when none are running (or `learner.num_threads` is 1).
 */
export function gemmThreads(): GemmThreads | null {
  return installed?.pool ?? null;
}

/**
 * Starts (or joins, at the size they have) this thread's GEMM threads for a learner; `release` when the
 * learner stops.
 */
export async function acquireGemmThreads(size: number): Promise<{ release(): Promise<void> }> {
  if (size > 1) {
    if (!installed) installed = { pool: await GemmThreads.start(size), users: 0 };
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
