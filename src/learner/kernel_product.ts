/**
 * The fused training kernel's matrix products (kernels/mlp_train.wat's $gemm) as the host runs them: on
 * the native BLAS (fused_mlp.ts), or in row blocks on kernel threads (kernel_threads.ts, kernel_worker.ts),
 * each block by an instance of the kernel on the same shared memory.
 */
import type { NativeGemm } from "./blas.js";

const FLOAT = 4;

/** The kernel's shared memory, as used here. */
export interface KernelMemory {
  readonly buffer: ArrayBufferLike;
  grow(pages: number): number;
}

/** The WebAssembly API as used by the kernel's threads (the project's TypeScript libs do not declare it). */
export const wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
      Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => KernelMemory;
    };
  }
).WebAssembly;

/**
 * A product as $gemm takes it, byte offsets into the kernel's memory: C = Init + A B for `m` rows of C,
 * A(r, k) the float at a + r aRow + k aCol, B and C row-major `stride` bytes a row, Init a row `initRow`
 * bytes apart (0: the same row, a bias or the zeros, for every row of C).
 */
export type ProductArgs = [
  a: number,
  aRow: number,
  aCol: number,
  k: number,
  b: number,
  stride: number,
  c: number,
  m: number,
  init: number,
  initRow: number,
];

/** The product's multiply-adds: m rows of C, k terms each, stride / 4 columns. */
export function multiplyAdds([, , , k, , stride, , m]: ProductArgs): number {
  return m * k * (stride / FLOAT);
}

/** Rows `first`..`first + rows` of the product `args`, as a product of their own. */
export function rowBlock(args: ProductArgs, first: number, rows: number): ProductArgs {
  const [a, aRow, aCol, k, b, stride, c, , init, initRow] = args;
  return [
    a + first * aRow,
    aRow,
    aCol,
    k,
    b,
    stride,
    c + first * stride,
    rows,
    init + first * initRow,
    initRow,
  ];
}

/**
 * The product on the native BLAS; false to leave it to the kernel (an A that is neither row- nor
 * column-major, or an Init that is neither C itself, the zeros nor one row). `zero`: the kernel's zeros
 * (an Init of zeros is beta 0).
 */
export function nativeProduct(
  native: NativeGemm,
  buffer: ArrayBufferLike,
  zero: number,
  [a, aRow, aCol, k, b, stride, c, m, init, initRow]: ProductArgs,
): boolean {
  const transA = aCol !== FLOAT;
  if (transA && aRow !== FLOAT) return false;
  const lda = (transA ? aCol : aRow) / FLOAT;
  if (lda < (transA ? m : k)) return false;
  // Init: C itself (accumulate), the zeros, or one row (the bias) for every row of C.
  if (initRow !== 0 && (init !== c || initRow !== stride)) return false;
  const n = stride / FLOAT;
  const cView = new Float32Array(buffer, c, m * n);
  let beta = 1;
  if (init === zero) beta = 0;
  else if (initRow === 0) {
    const bias = new Float32Array(buffer, init, n);
    for (let r = 0; r < m; r++) cView.set(bias, r * n);
  }
  const aLength = transA ? (k - 1) * lda + m : (m - 1) * lda + k;
  native(
    transA,
    m,
    n,
    k,
    new Float32Array(buffer, a, aLength),
    lda,
    new Float32Array(buffer, b, k * n),
    n,
    beta,
    cView,
    n,
  );
  return true;
}
