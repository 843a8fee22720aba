/**
 * Native BLAS for the wasm backend's matrix products, where the machine has a CBLAS (OpenBLAS,
 * `apt install libopenblas0`): the `BatchMatMul` and `_FusedMatMul` kernels are wrapped so that a float32
 * product of at least `minMultiplyAdds` goes to `cblas_sgemm` (through koffi, an FFI package that ships its
 * own binaries) on the operands where they lie in the wasm heap, with the transposes, the bias and a ReLU
 * done there too; 2-D operands (the hand-written backward passes') count as a batch of one. Smaller
 * products, and anything else (other dtypes, broadcast batches, activations other than linear and ReLU),
 * stay with wasm's own kernels. Never required: without a library, or with `learner.blas: off`, nothing
 * changes.
 */
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";

/** Where to look for a CBLAS, in order, after `RLTS_BLAS` (a path or a library name). */
const LIBRARIES = [
  "libopenblas.so.0",
  "libopenblas.so",
  "libcblas.so.3",
  "libblis.so.4",
  "libopenblas.dylib",
];

/**
 * The smallest product sent to BLAS, in multiply-adds. Measured with the fused PPO step (one OpenBLAS
 * thread, SkylakeX kernels): 64x64 networks at minibatches of 64-256 trained 1.7-2.3x faster with the
 * products from 64k multiply-adds on BLAS than all on wasm (from 16k: the same; from every product, the
 * 4-wide input layer's included: 1.6x, the call costing more than it saves); 256x256 and 512x512, 3-5x.
 */
const DEFAULT_MIN_MULTIPLY_ADDS = 64 * 64 * 16;

const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;

type Sgemm = (
  order: number,
  transA: number,
  transB: number,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
) => void;

/** The parts of the wasm backend the wrappers use. */
interface WasmBackend {
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
  wasm: { HEAPU8: Uint8Array };
}

interface KernelArgs {
  inputs: Record<string, tf.TensorInfo | undefined>;
  backend: unknown;
  attrs: { transposeA?: boolean; transposeB?: boolean; activation?: string };
}

/** The library in use, once installed in this thread. */
let installed: string | null = null;

/**
 * A row-major float32 product `C = A B + beta C` (A transposed when `transA`), on arrays of any kind: the
 * fused training kernel's large products (src/learner/fused_mlp.ts) go here.
 */
export type NativeGemm = (
  transA: boolean,
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  lda: number,
  b: Float32Array,
  ldb: number,
  beta: number,
  c: Float32Array,
  ldc: number,
) => void;

/** The installed library's product and the size from which products go to it; null before `installNativeBlas`. */
let installedGemm: { gemm: NativeGemm; minMultiplyAdds: number } | null = null;

/** What `installNativeBlas` installed in this thread, for products outside tfjs; null when nothing was. */
export function nativeGemm(): { gemm: NativeGemm; minMultiplyAdds: number } | null {
  return installedGemm;
}

/**
 * OpenBLAS's kernels for this CPU, by its instruction sets (Linux's /proc/cpuinfo), or null to leave the
 * choice to OpenBLAS. A build older than the CPU does not recognise it and falls back to its oldest x86-64
 * kernels: Debian 12's 0.3.21 runs Prescott's (SSE3) on a 2023 Xeon, 26 GFLOP/s on a 512x512 product where
 * SkylakeX's (AVX-512) run 155 on the same core. These two need only the instruction sets checked here.
 */
export function openblasCoreFor(cpuFlags: ReadonlySet<string>): string | null {
  if (["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"].every((f) => cpuFlags.has(f)))
    return "SkylakeX";
  if (["avx2", "fma"].every((f) => cpuFlags.has(f))) return "Haswell";
  return null;
}

function cpuFlags(): Set<string> {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").match(/^flags\s*:(.*)$/m);
    return new Set(line ? line[1].trim().split(/\s+/) : []);
  } catch {
    return new Set();
  }
}

/**
 * Products of every kind the fused step and the wrapped kernels ask for, checked against float64 sums:
 * a library whose kernels compute wrong on this CPU (older OpenBLAS builds on newer CPUs) is not used.
 */
function sgemmIsRight(sgemm: Sgemm): boolean {
  for (const [m, n, k, transA] of [
    [5, 7, 3, false],
    [37, 40, 65, true],
    [64, 64, 64, false],
    [130, 24, 256, true],
  ] as const) {
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i + 1));
    const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i + 1));
    const c = new Float32Array(m * n).fill(1);
    sgemm(ROW_MAJOR, transA ? TRANS : NO_TRANS, NO_TRANS, m, n, k, 1, a, transA ? m : k, b, n, 1, c, n);
    for (let r = 0; r < m; r++) {
      for (let col = 0; col < n; col++) {
        let sum = 1;
        for (let q = 0; q < k; q++) sum += (transA ? a[q * m + r] : a[r * k + q]) * b[q * n + col];
        if (!(Math.abs(c[r * n + col] - sum) <= 1e-4 * (1 + Math.abs(sum)))) return false;
      }
    }
  }
  return true;
}

/**
 * Loads the first CBLAS that has `cblas_sgemm` and computes right; null when none does. The library's
 * name says which, with OpenBLAS's kernels: `libopenblas.so.0 (SkylakeX)`. OpenBLAS gets one thread
 * unless `OPENBLAS_NUM_THREADS` says otherwise (`learner.num_threads` splits the large products over
 * threads of ours: OpenBLAS's own threads take every product from 262k multiply-adds, where waking them
 * costs more than they save, and spin between products), and the kernels `openblasCoreFor` picks unless
 * `OPENBLAS_CORETYPE` says otherwise.
 */
async function loadSgemm(): Promise<{ library: string; sgemm: Sgemm } | null> {
  let koffi: typeof import("koffi").default;
  try {
    koffi = (await import("koffi")).default;
  } catch {
    // koffi's prebuilt binary does not load on this platform: no native BLAS, nothing else changes.
    return null;
  }
  const candidates = process.env.RLTS_BLAS ? [process.env.RLTS_BLAS] : LIBRARIES;
  // OpenBLAS reads it once, when loaded; child processes (env servers, their numpy) must not inherit it.
  const core = process.env.OPENBLAS_CORETYPE === undefined ? openblasCoreFor(cpuFlags()) : null;
  if (core) process.env.OPENBLAS_CORETYPE = core;
  try {
    for (const library of candidates) {
      let lib: ReturnType<typeof koffi.load>;
      let sgemm: Sgemm;
      try {
        lib = koffi.load(library);
        sgemm = lib.func(
          "void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int)",
        ) as Sgemm;
      } catch {
        // Not on this machine, or no cblas_sgemm in it: the next one.
        continue;
      }
      const openblas = openblasFunctions(lib);
      if (openblas && !process.env.OPENBLAS_NUM_THREADS) openblas.setNumThreads(1);
      if (!sgemmIsRight(sgemm)) {
        console.warn(`rlts: ${library} computes wrong products on this CPU; it is not used`);
        continue;
      }
      return { library: openblas ? `${library} (${openblas.coreName()})` : library, sgemm };
    }
    return null;
  } finally {
    if (core) delete process.env.OPENBLAS_CORETYPE;
  }
}

/** OpenBLAS's own functions, or null when the library is another CBLAS. */
function openblasFunctions(lib: { func(signature: string): unknown }) {
  try {
    return {
      setNumThreads: lib.func("void openblas_set_num_threads(int)") as (n: number) => void,
      coreName: lib.func("const char *openblas_get_corename()") as () => string,
    };
  } catch {
    return null;
  }
}

/**
 * Routes the wasm backend's large matrix products to a native CBLAS if one loads; returns the library's
 * name, or null (nothing changed). Call after the wasm backend is set; once per thread.
 */
export async function installNativeBlas(minMultiplyAdds = DEFAULT_MIN_MULTIPLY_ADDS): Promise<string | null> {
  if (installed !== null) return installed;
  if (tf.getBackend() !== "wasm") return null;
  const loaded = await loadSgemm();
  if (!loaded) return null;
  for (const kernelName of ["BatchMatMul", "_FusedMatMul"]) {
    const original = tf.getKernel(kernelName, "wasm");
    if (!original) continue;
    tf.unregisterKernel(kernelName, "wasm");
    tf.registerKernel({
      ...original,
      kernelFunc: (args) =>
        nativeMatMul(args as unknown as KernelArgs, loaded.sgemm, minMultiplyAdds) ??
        (original.kernelFunc(args) as tf.TensorInfo),
    });
  }
  installed = loaded.library;
  installedGemm = { gemm: rowMajorGemm(loaded.sgemm), minMultiplyAdds };
  return installed;
}

/**
 * The product of the CBLAS `installNativeBlas` would install, for a thread that runs products but no tfjs
 * (kernel_worker.ts); null when none loads.
 */
export async function loadNativeGemm(): Promise<NativeGemm | null> {
  const loaded = await loadSgemm();
  return loaded && rowMajorGemm(loaded.sgemm);
}

function rowMajorGemm(sgemm: Sgemm): NativeGemm {
  return (transA, m, n, k, a, lda, b, ldb, beta, c, ldc) =>
    sgemm(ROW_MAJOR, transA ? TRANS : NO_TRANS, NO_TRANS, m, n, k, 1, a, lda, b, ldb, beta, c, ldc);
}

/** The product through `sgemm`, or null when it is one for wasm's own kernel. */
function nativeMatMul(args: KernelArgs, sgemm: Sgemm, minMultiplyAdds: number): tf.TensorInfo | null {
  const { a, b, bias, preluActivationWeights } = args.inputs;
  const { transposeA = false, transposeB = false, activation = "linear" } = args.attrs;
  if (!a || !b || preluActivationWeights) return null;
  if (a.dtype !== "float32" || b.dtype !== "float32") return null;
  if (activation !== "linear" && activation !== "relu") return null;
  // tf.matMul hands 2-D operands to the kernel as they are (the hand-written backward passes'
  // products): a batch of one.
  const [aShape, bShape] = [a.shape, b.shape].map((shape) => (shape.length === 2 ? [1, ...shape] : shape));
  if (aShape.length !== 3 || bShape.length !== 3) return null;
  const batch = aShape[0];
  const m = transposeA ? aShape[2] : aShape[1];
  const k = transposeA ? aShape[1] : aShape[2];
  const n = transposeB ? bShape[1] : bShape[2];
  if (bShape[0] !== batch || (bias && (bias.dtype !== "float32" || bias.shape.join() !== String(n))))
    return null;
  if (m * n * k < minMultiplyAdds) return null;
  const backend = args.backend as WasmBackend;
  const out = backend.makeOutput(a.shape.length === 2 ? [m, n] : [batch, m, n], "float32");
  // Views after the output's allocation, which may have grown (and so replaced) the heap.
  const heap = backend.wasm.HEAPU8.buffer;
  const view = (info: tf.TensorInfo, length: number, offset = 0) =>
    new Float32Array(heap, backend.dataIdMap.get(info.dataId).memoryOffset + 4 * offset, length);
  const biasValues = bias ? view(bias, n) : null;
  for (let i = 0; i < batch; i++) {
    const c = view(out, m * n, i * m * n);
    // The bias as C's starting rows, added by beta = 1.
    if (biasValues) for (let r = 0; r < m; r++) c.set(biasValues, r * n);
    sgemm(
      ROW_MAJOR,
      transposeA ? TRANS : NO_TRANS,
      transposeB ? TRANS : NO_TRANS,
      m,
      n,
      k,
      1,
      view(a, m * k, i * m * k),
      transposeA ? m : k,
      view(b, k * n, i * k * n),
      transposeB ? k : n,
      biasValues ? 1 : 0,
      c,
      n,
    );
    if (activation === "relu") for (let j = 0; j < c.length; j++) if (c[j] < 0) c[j] = 0;
  }
  return out;
}
