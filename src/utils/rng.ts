import seedrandom from "seedrandom";

/**
 * A seeded uniform generator in [0, 1). Its whole state can be saved and restored, so a checkpoint can
 * resume the exact random stream (seedrandom's ARC4 generator with `{state: true}`).
 */
export interface Rng {
  (): number;
  /** An opaque, JSON-serialisable snapshot of the generator's state. */
  state(): object;
}

/** A generator seeded by `seed`; with no seed, by entropy from the OS (like numpy's default_rng()). */
export function createRng(seed?: number | string, state?: object): Rng {
  if (state) return seedrandom("", { state: state as seedrandom.State.Arc4 }) as unknown as Rng;
  if (seed === undefined) return seedrandom(undefined, { entropy: true, state: true }) as unknown as Rng;
  return seedrandom(String(seed), { state: true }) as unknown as Rng;
}

/** Standard normal sample by Box-Muller (one value per call; no cached pair, so the stream is simple). */
export function normal(rng: Rng): number {
  let u = rng();
  while (u <= Number.MIN_VALUE) u = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** In-place Fisher-Yates shuffle of `indices`. */
export function shuffle(rng: Rng, indices: Int32Array | Uint32Array | number[]): void {
  for (let i = indices.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = indices[i];
    indices[i] = indices[j];
    indices[j] = tmp;
  }
}
