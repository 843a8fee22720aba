/**
 * A GEMM thread (gemm_threads.ts): sleeps on its slot of the control block, computes the row block of
 * each job it is woken for in the kernel memory the job names, and marks it done. Kernel memories are
 * registered through its port, read synchronously when a job names one it has not seen: the thread never
 * returns to its event loop while it serves.
 */
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { type GemmWorkerData, type KernelRegistration, SLOT, SLOT_INTS, STOP } from "./gemm_threads.js";
import { type KernelGemmRows, type ProductArgs, wasm } from "./kernel_product.js";

/** Loads of the job number before sleeping on it: the next product of a training step is usually near. */
const WORKER_SPINS = 20_000;

const { control, index, port } = workerData as GemmWorkerData;
const slot = new Int32Array(control, index * SLOT_INTS * 4, SLOT_INTS);
/** Each registered memory's kernel instance in this thread. */
const kernels = new Map<number, KernelGemmRows>();

/** The kernel on the registered memory `id`, taking the registrations waiting on the port until it is there. */
function kernel(id: number): KernelGemmRows {
  for (let found = kernels.get(id); ; found = kernels.get(id)) {
    if (found) return found;
    const next = receiveMessageOnPort(port)?.message as KernelRegistration | undefined;
    if (!next) throw new Error(`kernel memory ${id} was never registered`);
    const imports = {
      env: { memory: next.memory },
      math: { exp: Math.exp, log: Math.log },
      // Blocks come here already split: this thread's products never go back to a host.
      host: { gemm: () => 0 },
    };
    const instance = new wasm.Instance(next.module, imports);
    kernels.set(next.id, instance.exports.gemm_rows as KernelGemmRows);
  }
}

parentPort?.postMessage("ready");
let seen = 0;
for (;;) {
  for (let spin = 0; spin < WORKER_SPINS && Atomics.load(slot, SLOT.seq) === seen; spin++);
  Atomics.wait(slot, SLOT.seq, seen);
  const seq = Atomics.load(slot, SLOT.seq);
  if (seq === STOP) break;
  if (seq === seen) continue;
  seen = seq;
  try {
    kernel(slot[SLOT.memory])(...(Array.from(slot.subarray(SLOT.args, SLOT.args + 10)) as ProductArgs));
  } catch (error) {
    slot[SLOT.failed] = 1;
    port.postMessage(error instanceof Error ? error.message : String(error));
  }
  Atomics.store(slot, SLOT.done, seq);
  Atomics.notify(slot, SLOT.done);
}
port.close();
