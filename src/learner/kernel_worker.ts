/**
 * A kernel thread (kernel_threads.ts): sleeps on its slot of the control block, runs the kernel export
 * each job names on its part, in the kernel memory the job names, and marks it done. Kernel memories are
 * registered through its port, read synchronously when a job names one it has not seen: the thread never
 * returns to its event loop while it serves.
 */
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { loadNativeGemm } from "./blas.js";
import { type KernelMemory, multiplyAdds, nativeProduct, type ProductArgs, wasm } from "./kernel_product.js";
import {
  type AdamCoefficients,
  type KernelLoops,
  type KernelRegistration,
  type KernelWorkerData,
  OP,
  SLOT,
  SLOT_INTS,
  STOP,
} from "./kernel_threads.js";

/** Loads of the job number before sleeping on it: the next loop of a training step is usually near. */
const WORKER_SPINS = 20_000;

const { control, index, port, blas } = workerData as KernelWorkerData;
const native = blas ? await loadNativeGemm() : null;
const ints = new Int32Array(control, index * SLOT_INTS * 4, SLOT_INTS);
const floats = new Float32Array(control, index * SLOT_INTS * 4, SLOT_INTS);
/** Each registered memory and its kernel instance in this thread. */
const kernels = new Map<number, { memory: KernelMemory; loops: KernelLoops }>();
/** A tower job's products: whole on the native BLAS from `min` multiply-adds (0: none); `zero`, the kernel's zeros. */
const towerProducts = { min: 0, zero: 0 };

/** The kernel on the registered memory `id`, taking the registrations waiting on the port until it is there. */
function kernel(id: number): { memory: KernelMemory; loops: KernelLoops } {
  for (let found = kernels.get(id); ; found = kernels.get(id)) {
    if (found) return found;
    const next = receiveMessageOnPort(port)?.message as KernelRegistration | undefined;
    if (!next) throw new Error(`kernel memory ${id} was never registered`);
    const { memory } = next;
    /** A tower job's product on the native BLAS when large enough (and its operands suit it). */
    const gemm = (...args: ProductArgs) => {
      const { min, zero } = towerProducts;
      const large = native !== null && min > 0 && multiplyAdds(args) >= min;
      return large && nativeProduct(native, memory.buffer, zero, args) ? 1 : 0;
    };
    const imports = {
      env: { memory },
      math: { exp: Math.exp, log: Math.log },
      // Parts come here already split: nothing this thread runs goes back to the threads.
      host: { gemm, elementwise: () => 0, adam: () => 0, towers: () => 0 },
    };
    const loops = new wasm.Instance(next.module, imports).exports as unknown as KernelLoops;
    kernels.set(next.id, { memory: next.memory, loops });
  }
}

/** Runs the job in this thread's slot. */
function runJob(): void {
  const { memory, loops } = kernel(ints[SLOT.memory]);
  const at = SLOT.ints;
  switch (ints[SLOT.op]) {
    case OP.gemmRows: {
      const block = Array.from(ints.subarray(at, at + 10)) as ProductArgs;
      const onNative = native && ints[at + 10] === 1;
      if (!onNative || !nativeProduct(native, memory.buffer, ints[at + 11], block)) loops.gemm_rows(...block);
      return;
    }
    case OP.activate:
      loops.activate(ints[at], ints[at + 1], ints[at + 2]);
      return;
    case OP.activateBackward:
      loops.activate_backward(ints[at], ints[at + 1], ints[at + 2], ints[at + 3]);
      return;
    case OP.forwardLayers:
    case OP.backwardLayers:
      towerProducts.min = ints[at];
      towerProducts.zero = ints[at + 1];
      if (ints[SLOT.op] === OP.forwardLayers) loops.forward_layers(ints[at + 2], ints[at + 3], ints[at + 4]);
      else loops.backward_layers(ints[at + 2], ints[at + 3], ints[at + 4], ints[at + 5]);
      return;
    case OP.adamRange:
      loops.adam_range(
        ints[at],
        ints[at + 1],
        ...(Array.from(floats.subarray(SLOT.floats, SLOT.floats + 6)) as AdamCoefficients),
      );
      return;
    default:
      throw new Error(`unknown kernel job ${ints[SLOT.op]}`);
  }
}

parentPort?.postMessage("ready");
let seen = 0;
for (;;) {
  for (let spin = 0; spin < WORKER_SPINS && Atomics.load(ints, SLOT.seq) === seen; spin++);
  Atomics.wait(ints, SLOT.seq, seen);
  const seq = Atomics.load(ints, SLOT.seq);
  if (seq === STOP) break;
  if (seq === seen) continue;
  seen = seq;
  try {
    runJob();
  } catch (error) {
    ints[SLOT.failed] = 1;
    port.postMessage(error instanceof Error ? error.message : String(error));
  }
  Atomics.store(ints, SLOT.done, seq);
  Atomics.notify(ints, SLOT.done);
}
port.close();
