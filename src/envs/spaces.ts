/**
 * Gymnasium's spaces in TypeScript: Box, Discrete, MultiDiscrete, MultiBinary, Tuple, Dict.
 *
 * Values: a Box holds a flat typed array in row-major order (its dtype's array type), Discrete a number,
 * MultiDiscrete an Int32Array, MultiBinary an Int8Array, Tuple an array, Dict a plain object.
 * `flatten` follows `gymnasium.spaces.utils.flatten`: Discrete and MultiDiscrete become one-hot, so
 * `flatDim` equals Gymnasium's `flatdim`. The JSON form is what the Python server sends (PROTOCOL.md).
 */
import { createRng, normal, type Rng } from "../utils/rng.js";

export type BoxDtype =
  | "float32"
  | "float64"
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "uint8"
  | "uint16"
  | "uint32"
  /** numpy's bool (MinAtar's frames): 0 and 1 in bytes. */
  | "bool";
export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint16Array
  | Uint32Array;

/** The typed array a Box of each dtype holds its elements in. */
export interface ArrayOfDtype {
  float32: Float32Array;
  float64: Float64Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  int64: Float64Array;
  uint8: Uint8Array;
  uint16: Uint16Array;
  uint32: Uint32Array;
  bool: Uint8Array;
}

const ARRAY_OF_DTYPE: { [D in BoxDtype]: new (n: number) => ArrayOfDtype[D] } = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  // JS numbers hold int64 values exactly up to 2^53; Gymnasium Box bounds never need more.
  int64: Float64Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  bool: Uint8Array,
};

/** JSON numbers cannot be infinite or NaN: bounds travel as the strings "inf", "-inf", "nan". */
export type JsonNumber = number | "inf" | "-inf" | "nan";

export type SpaceJSON =
  | { type: "Box"; shape: number[]; dtype: BoxDtype; low: JsonNumber[]; high: JsonNumber[] }
  | { type: "Discrete"; n: number; start: number }
  | { type: "MultiDiscrete"; nvec: number[]; start: number[]; shape: number[] }
  | { type: "MultiBinary"; shape: number[] }
  | { type: "Tuple"; spaces: SpaceJSON[] }
  | { type: "Dict"; spaces: [string, SpaceJSON][] };

function encodeNumber(x: number): JsonNumber {
  if (Number.isNaN(x)) return "nan";
  if (x === Number.POSITIVE_INFINITY) return "inf";
  if (x === Number.NEGATIVE_INFINITY) return "-inf";
  return x;
}

function decodeNumber(x: JsonNumber): number {
  if (x === "inf") return Number.POSITIVE_INFINITY;
  if (x === "-inf") return Number.NEGATIVE_INFINITY;
  if (x === "nan") return Number.NaN;
  return x;
}

function product(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isNumericArray(x: unknown): x is ArrayLike<number> {
  return ArrayBuffer.isView(x) || (Array.isArray(x) && x.every((v) => typeof v === "number"));
}

/** Shortens a value for an error message. */
export function describeValue(x: unknown): string {
  if (ArrayBuffer.isView(x) && !(x instanceof DataView)) {
    const arr = Array.from(x as unknown as ArrayLike<number>);
    const shown = arr.slice(0, 8).join(", ");
    return `${x.constructor.name}(${arr.length}) [${shown}${arr.length > 8 ? ", ..." : ""}]`;
  }
  try {
    const s = JSON.stringify(x, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v));
    if (s === undefined) return String(x);
    return s.length > 120 ? `${s.slice(0, 117)}...` : s;
  } catch {
    return String(x);
  }
}

export abstract class Space<T = unknown> {
  protected rng: Rng = createRng();

  /** Seeds this space's own generator, as `space.seed(n)` does in Gymnasium. */
  seed(seed?: number): void {
    this.rng = createRng(seed);
  }

  /** A random element, from this space's generator. */
  abstract sample(): T;
  abstract contains(x: unknown): boolean;
  /** Length of `flatten(x)`: Gymnasium's `flatdim`. */
  abstract readonly flatDim: number;
  /** Writes the flat form of `x` into `out` at `offset` (allocates when `out` is absent). */
  abstract flatten(x: T, out?: Float32Array, offset?: number): Float32Array;
  /** The inverse of `flatten`, reading `flatDim` numbers from `flat` at `offset`. */
  abstract unflatten(flat: ArrayLike<number>, offset?: number): T;
  abstract toJSON(): SpaceJSON;
  /** Gymnasium-like text, e.g. `Box(-1.0, 1.0, (3,), float32)` or `Discrete(2)`. */
  abstract toString(): string;

  /** Throws a clear error when `x` is not in this space; `what` names the thing checked (e.g. the env). */
  assertContains(x: unknown, what: string): asserts x is T {
    if (!this.contains(x)) {
      throw new RangeError(`${what}: ${describeValue(x)} is not in ${this.toString()}`);
    }
  }
}

/**
 * `D` is the dtype, so a float32 Box (the default) is a `Space<Float32Array>` and an env declaring
 * `Env<Float32Array, ...>` can use one as it is.
 */
export class Box<D extends BoxDtype = "float32"> extends Space<ArrayOfDtype[D]> {
  readonly low: Float64Array;
  readonly high: Float64Array;
  readonly shape: readonly number[];
  readonly dtype: D;
  readonly size: number;
  /** Integer dtype: samples are whole numbers and `contains` rejects fractions. A field, not a getter,
   * because `contains` reads it once per element on every checked action. */
  readonly isInteger: boolean;

  constructor(
    low: number | ArrayLike<number>,
    high: number | ArrayLike<number>,
    shape?: readonly number[],
    dtype: D = "float32" as D,
  ) {
    super();
    const inferred =
      shape ??
      (typeof low !== "number" ? [low.length] : typeof high !== "number" ? [high.length] : undefined);
    if (!inferred) throw new TypeError("Box: shape is required when low and high are both scalars");
    if (!(dtype in ARRAY_OF_DTYPE)) throw new TypeError(`Box: unknown dtype "${dtype}"`);
    this.shape = [...inferred];
    this.dtype = dtype;
    this.isInteger = !dtype.startsWith("float");
    this.size = product(this.shape);
    this.low = Box.broadcast(low, this.size, "low");
    this.high = Box.broadcast(high, this.size, "high");
    for (let i = 0; i < this.size; i++) {
      if (!(this.low[i] <= this.high[i])) {
        throw new RangeError(`Box: low[${i}]=${this.low[i]} must be <= high[${i}]=${this.high[i]}`);
      }
    }
  }

  private static broadcast(v: number | ArrayLike<number>, size: number, name: string): Float64Array {
    if (typeof v === "number") return new Float64Array(size).fill(v);
    if (v.length !== size) throw new RangeError(`Box: ${name} has ${v.length} values, shape needs ${size}`);
    return Float64Array.from(v);
  }

  get flatDim(): number {
    return this.size;
  }

  /** A zero-filled array of this Box's dtype. */
  zeros(): ArrayOfDtype[D] {
    return new ARRAY_OF_DTYPE[this.dtype](this.size) as ArrayOfDtype[D];
  }

  /** As Gymnasium: uniform where bounded, shifted exponential where half-bounded, normal where unbounded. */
  sample(): ArrayOfDtype[D] {
    const out = this.zeros();
    for (let i = 0; i < this.size; i++) {
      const lo = this.low[i];
      const hi = this.isInteger && Number.isFinite(this.high[i]) ? this.high[i] + 1 : this.high[i];
      let x: number;
      if (Number.isFinite(lo) && Number.isFinite(hi)) x = lo + (hi - lo) * this.rng();
      else if (Number.isFinite(lo)) x = lo - Math.log(1 - this.rng());
      else if (Number.isFinite(hi)) x = hi + Math.log(1 - this.rng());
      else x = normal(this.rng);
      out[i] = this.isInteger ? Math.min(Math.floor(x), this.high[i]) : x;
    }
    return out;
  }

  contains(x: unknown): boolean {
    if (!isNumericArray(x) || x.length !== this.size) return false;
    for (let i = 0; i < this.size; i++) {
      const v = x[i];
      // NaN fails both comparisons, so it is never contained.
      if (!(v >= this.low[i] && v <= this.high[i])) return false;
      if (this.isInteger && !Number.isInteger(v)) return false;
    }
    return true;
  }

  flatten(x: ArrayOfDtype[D], out = new Float32Array(this.size), offset = 0): Float32Array {
    for (let i = 0; i < this.size; i++) out[offset + i] = x[i];
    return out;
  }

  unflatten(flat: ArrayLike<number>, offset = 0): ArrayOfDtype[D] {
    const out = this.zeros();
    for (let i = 0; i < this.size; i++) out[i] = flat[offset + i];
    return out;
  }

  /** Clips `x` into the bounds in place (ClipAction). */
  clip(x: ArrayOfDtype[D]): ArrayOfDtype[D] {
    for (let i = 0; i < this.size; i++) x[i] = Math.min(this.high[i], Math.max(this.low[i], x[i]));
    return x;
  }

  isBounded(): boolean {
    for (let i = 0; i < this.size; i++) {
      if (!Number.isFinite(this.low[i]) || !Number.isFinite(this.high[i])) return false;
    }
    return true;
  }

  toJSON(): SpaceJSON {
    return {
      type: "Box",
      shape: [...this.shape],
      dtype: this.dtype,
      low: Array.from(this.low, encodeNumber),
      high: Array.from(this.high, encodeNumber),
    };
  }

  toString(): string {
    const bound = (a: Float64Array) =>
      a.every((v) => v === a[0])
        ? String(a[0])
        : `[${Array.from(a.slice(0, 6)).join(", ")}${a.length > 6 ? ", ..." : ""}]`;
    return `Box(${bound(this.low)}, ${bound(this.high)}, (${this.shape.join(", ")}${this.shape.length === 1 ? "," : ""}), ${this.dtype})`;
  }
}

export class Discrete extends Space<number> {
  constructor(
    readonly n: number,
    readonly start = 0,
  ) {
    super();
    if (!Number.isInteger(n) || n <= 0)
      throw new RangeError(`Discrete: n must be a positive integer, got ${n}`);
    if (!Number.isInteger(start)) throw new RangeError(`Discrete: start must be an integer, got ${start}`);
  }

  get flatDim(): number {
    return this.n;
  }

  sample(): number {
    return this.start + Math.floor(this.rng() * this.n);
  }

  contains(x: unknown): boolean {
    // Gymnasium also accepts a 0-d integer array; a one-element typed array plays that role here.
    const v =
      ArrayBuffer.isView(x) && (x as unknown as ArrayLike<number>).length === 1
        ? (x as unknown as ArrayLike<number>)[0]
        : x;
    return typeof v === "number" && Number.isInteger(v) && v >= this.start && v < this.start + this.n;
  }

  flatten(x: number, out = new Float32Array(this.n), offset = 0): Float32Array {
    out.fill(0, offset, offset + this.n);
    out[offset + x - this.start] = 1;
    return out;
  }

  unflatten(flat: ArrayLike<number>, offset = 0): number {
    for (let i = 0; i < this.n; i++) if (flat[offset + i] !== 0) return this.start + i;
    throw new RangeError(`Discrete(${this.n}): flat value has no non-zero entry`);
  }

  toJSON(): SpaceJSON {
    return { type: "Discrete", n: this.n, start: this.start };
  }

  toString(): string {
    return this.start === 0 ? `Discrete(${this.n})` : `Discrete(${this.n}, start=${this.start})`;
  }
}

export class MultiDiscrete extends Space<Int32Array> {
  readonly nvec: Int32Array;
  readonly start: Int32Array;
  readonly shape: readonly number[];
  readonly flatDim: number;

  constructor(nvec: ArrayLike<number>, start?: ArrayLike<number>, shape?: readonly number[]) {
    super();
    this.nvec = Int32Array.from(nvec);
    this.start = start ? Int32Array.from(start) : new Int32Array(this.nvec.length);
    this.shape = shape ? [...shape] : [this.nvec.length];
    if (product(this.shape) !== this.nvec.length || this.start.length !== this.nvec.length) {
      throw new RangeError(
        `MultiDiscrete: nvec (${this.nvec.length}), start and shape [${this.shape}] disagree`,
      );
    }
    for (const n of this.nvec)
      if (n <= 0) throw new RangeError(`MultiDiscrete: every nvec entry must be > 0`);
    this.flatDim = this.nvec.reduce((a, b) => a + b, 0);
  }

  sample(): Int32Array {
    return this.nvec.map((n, i) => this.start[i] + Math.floor(this.rng() * n));
  }

  contains(x: unknown): boolean {
    if (!isNumericArray(x) || x.length !== this.nvec.length) return false;
    for (let i = 0; i < this.nvec.length; i++) {
      const v = x[i];
      if (!Number.isInteger(v) || v < this.start[i] || v >= this.start[i] + this.nvec[i]) return false;
    }
    return true;
  }

  flatten(x: Int32Array, out = new Float32Array(this.flatDim), offset = 0): Float32Array {
    out.fill(0, offset, offset + this.flatDim);
    let at = offset;
    for (let i = 0; i < this.nvec.length; i++) {
      out[at + x[i] - this.start[i]] = 1;
      at += this.nvec[i];
    }
    return out;
  }

  unflatten(flat: ArrayLike<number>, offset = 0): Int32Array {
    const out = new Int32Array(this.nvec.length);
    let at = offset;
    for (let i = 0; i < this.nvec.length; i++) {
      let k = 0;
      while (k < this.nvec[i] && flat[at + k] === 0) k++;
      if (k === this.nvec[i]) throw new RangeError(`MultiDiscrete: flat value ${i} has no non-zero entry`);
      out[i] = this.start[i] + k;
      at += this.nvec[i];
    }
    return out;
  }

  toJSON(): SpaceJSON {
    return {
      type: "MultiDiscrete",
      nvec: Array.from(this.nvec),
      start: Array.from(this.start),
      shape: [...this.shape],
    };
  }

  toString(): string {
    return `MultiDiscrete([${Array.from(this.nvec).join(" ")}])`;
  }
}

export class MultiBinary extends Space<Int8Array> {
  readonly shape: readonly number[];
  readonly flatDim: number;

  constructor(n: number | readonly number[]) {
    super();
    this.shape = typeof n === "number" ? [n] : [...n];
    this.flatDim = product(this.shape);
  }

  sample(): Int8Array {
    const out = new Int8Array(this.flatDim);
    for (let i = 0; i < out.length; i++) out[i] = this.rng() < 0.5 ? 0 : 1;
    return out;
  }

  contains(x: unknown): boolean {
    if (!isNumericArray(x) || x.length !== this.flatDim) return false;
    for (let i = 0; i < x.length; i++) if (x[i] !== 0 && x[i] !== 1) return false;
    return true;
  }

  flatten(x: Int8Array, out = new Float32Array(this.flatDim), offset = 0): Float32Array {
    for (let i = 0; i < this.flatDim; i++) out[offset + i] = x[i];
    return out;
  }

  unflatten(flat: ArrayLike<number>, offset = 0): Int8Array {
    const out = new Int8Array(this.flatDim);
    for (let i = 0; i < this.flatDim; i++) out[i] = flat[offset + i] !== 0 ? 1 : 0;
    return out;
  }

  toJSON(): SpaceJSON {
    return { type: "MultiBinary", shape: [...this.shape] };
  }

  toString(): string {
    return `MultiBinary(${this.shape.length === 1 ? this.shape[0] : `(${this.shape.join(", ")})`})`;
  }
}

export class Tuple extends Space<unknown[]> {
  readonly flatDim: number;

  constructor(readonly spaces: readonly Space[]) {
    super();
    this.flatDim = spaces.reduce((a, s) => a + s.flatDim, 0);
  }

  override seed(seed?: number): void {
    super.seed(seed);
    // Sub-spaces get distinct seeds derived from this one, so a seeded Tuple samples reproducibly.
    for (const [i, s] of this.spaces.entries()) s.seed(seed === undefined ? undefined : seed + i + 1);
  }

  sample(): unknown[] {
    return this.spaces.map((s) => s.sample());
  }

  contains(x: unknown): boolean {
    return (
      Array.isArray(x) && x.length === this.spaces.length && this.spaces.every((s, i) => s.contains(x[i]))
    );
  }

  flatten(x: unknown[], out = new Float32Array(this.flatDim), offset = 0): Float32Array {
    let at = offset;
    this.spaces.forEach((s, i) => {
      s.flatten(x[i], out, at);
      at += s.flatDim;
    });
    return out;
  }

  unflatten(flat: ArrayLike<number>, offset = 0): unknown[] {
    let at = offset;
    return this.spaces.map((s) => {
      const v = s.unflatten(flat, at);
      at += s.flatDim;
      return v;
    });
  }

  toJSON(): SpaceJSON {
    return { type: "Tuple", spaces: this.spaces.map((s) => s.toJSON()) };
  }

  toString(): string {
    return `Tuple(${this.spaces.map(String).join(", ")})`;
  }
}

export class Dict extends Space<Record<string, unknown>> {
  readonly flatDim: number;
  readonly keys: readonly string[];

  /** Keys keep the order given (like an OrderedDict); Gymnasium sorts a plain dict's keys itself. */
  constructor(readonly spaces: Readonly<Record<string, Space>> | readonly (readonly [string, Space])[]) {
    super();
    const entries = Array.isArray(spaces) ? spaces : Object.entries(spaces);
    this.spaces = Object.fromEntries(entries);
    this.keys = entries.map(([k]) => k);
    this.flatDim = entries.reduce((a, [, s]) => a + s.flatDim, 0);
  }

  private get entries(): [string, Space][] {
    return this.keys.map((k) => [k, (this.spaces as Record<string, Space>)[k]]);
  }

  override seed(seed?: number): void {
    super.seed(seed);
    for (const [i, [, s]] of this.entries.entries()) s.seed(seed === undefined ? undefined : seed + i + 1);
  }

  sample(): Record<string, unknown> {
    return Object.fromEntries(this.entries.map(([k, s]) => [k, s.sample()]));
  }

  contains(x: unknown): boolean {
    if (typeof x !== "object" || x === null || Array.isArray(x)) return false;
    const obj = x as Record<string, unknown>;
    return (
      Object.keys(obj).length === this.keys.length &&
      this.entries.every(([k, s]) => k in obj && s.contains(obj[k]))
    );
  }

  flatten(x: Record<string, unknown>, out = new Float32Array(this.flatDim), offset = 0): Float32Array {
    let at = offset;
    for (const [k, s] of this.entries) {
      s.flatten(x[k], out, at);
      at += s.flatDim;
    }
    return out;
  }

  unflatten(flat: ArrayLike<number>, offset = 0): Record<string, unknown> {
    let at = offset;
    const out: Record<string, unknown> = {};
    for (const [k, s] of this.entries) {
      out[k] = s.unflatten(flat, at);
      at += s.flatDim;
    }
    return out;
  }

  toJSON(): SpaceJSON {
    return { type: "Dict", spaces: this.entries.map(([k, s]) => [k, s.toJSON()]) };
  }

  toString(): string {
    return `Dict(${this.entries.map(([k, s]) => `'${k}': ${s}`).join(", ")})`;
  }
}

/** Rebuilds a space from its JSON form (as sent by the Python server); errors name the path. */
export function spaceFromJSON(json: SpaceJSON, path = "space"): Space {
  switch (json?.type) {
    case "Box":
      return new Box(json.low.map(decodeNumber), json.high.map(decodeNumber), json.shape, json.dtype);
    case "Discrete":
      return new Discrete(json.n, json.start ?? 0);
    case "MultiDiscrete":
      return new MultiDiscrete(json.nvec, json.start, json.shape);
    case "MultiBinary":
      return new MultiBinary(json.shape);
    case "Tuple":
      return new Tuple(json.spaces.map((s, i) => spaceFromJSON(s, `${path}[${i}]`)));
    case "Dict":
      return new Dict(json.spaces.map(([k, s]) => [k, spaceFromJSON(s, `${path}.${k}`)] as const));
    default:
      throw new TypeError(
        `${path}: unsupported space ${describeValue(json)}; rlts supports Box, Discrete, MultiDiscrete, MultiBinary, Tuple, Dict`,
      );
  }
}

/** A Tuple's sub-spaces, or a Dict's in its key order. */
export function spaceParts(space: Tuple | Dict): readonly Space[] {
  if (space instanceof Tuple) return space.spaces;
  const parts = space.spaces as Readonly<Record<string, Space>>;
  return space.keys.map((k) => parts[k]);
}

/**
 * How one action of `space` is laid out in a vector env's flat action buffer (not one-hot): Discrete takes
 * one integer (the value itself, `start` included), MultiDiscrete one integer per entry, MultiBinary one
 * 0/1 per entry, Box its values (row-major); Tuple and Dict their parts' numbers one after another, in the
 * parts' order (nested ones too). `integer`: the buffer may be an Int32Array; a Tuple's or Dict's never
 * is (float32, with whole numbers in its integer parts' places).
 */
export function actionLayout(space: Space): { dim: number; integer: boolean } {
  if (space instanceof Discrete) return { dim: 1, integer: true };
  if (space instanceof MultiDiscrete) return { dim: space.nvec.length, integer: true };
  if (space instanceof MultiBinary) return { dim: space.flatDim, integer: true };
  if (space instanceof Box) return { dim: space.size, integer: space.isInteger };
  if (space instanceof Tuple || space instanceof Dict) {
    const dim = spaceParts(space).reduce((sum, part) => sum + actionLayout(part).dim, 0);
    return { dim, integer: false };
  }
  throw new TypeError(`${space}: not an action space rlts supports`);
}

/**
 * The `start` of every number of `actionLayout(space)` (Discrete's, MultiDiscrete's per entry; 0 for
 * MultiBinary and Box): what a policy that numbers classes from 0 adds to give the env's values.
 */
export function actionStarts(space: Space): Int32Array {
  if (space instanceof Discrete) return Int32Array.of(space.start);
  if (space instanceof MultiDiscrete) return Int32Array.from(space.start);
  if (space instanceof Tuple || space instanceof Dict) {
    const parts = spaceParts(space).map(actionStarts);
    const out = new Int32Array(parts.reduce((sum, p) => sum + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
  return new Int32Array(actionLayout(space).dim);
}

/**
 * The bounds of every number of `actionLayout(space)` that belongs to a float Box (±Infinity for the
 * others), for clipping actions into them; null when no float Box is in the space.
 */
export function actionClipBounds(space: Space): { low: Float64Array; high: Float64Array } | null {
  if (space instanceof Box) return space.isInteger ? null : { low: space.low, high: space.high };
  if (!(space instanceof Tuple || space instanceof Dict)) return null;
  const parts = spaceParts(space);
  const bounds = parts.map(actionClipBounds);
  if (bounds.every((b) => b === null)) return null;
  const dim = actionLayout(space).dim;
  const low = new Float64Array(dim).fill(Number.NEGATIVE_INFINITY);
  const high = new Float64Array(dim).fill(Number.POSITIVE_INFINITY);
  let at = 0;
  parts.forEach((part, i) => {
    const b = bounds[i];
    if (b) {
      low.set(b.low, at);
      high.set(b.high, at);
    }
    at += actionLayout(part).dim;
  });
  return { low, high };
}

/** Reads the part of an action at `at` numbers into a row that starts at `base` of the buffer. */
type PartReader = (actions: ArrayLike<number>, base: number, row: number) => unknown;

function partReader(space: Space, at: number): PartReader {
  if (space instanceof Discrete) return (actions, base) => actions[base + at];
  if (space instanceof Tuple || space instanceof Dict) {
    const parts = spaceParts(space);
    let offset = at;
    const readers = parts.map((part) => {
      const reader = partReader(part, offset);
      offset += actionLayout(part).dim;
      return reader;
    });
    if (space instanceof Tuple) {
      const holder: unknown[] = new Array(parts.length);
      return (actions, base, row) => {
        for (let i = 0; i < readers.length; i++) holder[i] = readers[i](actions, base, row);
        return holder;
      };
    }
    const keys = space.keys;
    const holder: Record<string, unknown> = Object.fromEntries(keys.map((k) => [k, undefined]));
    return (actions, base, row) => {
      for (let i = 0; i < readers.length; i++) holder[keys[i]] = readers[i](actions, base, row);
      return holder;
    };
  }
  const holder: TypedArray =
    space instanceof Box
      ? space.zeros()
      : space instanceof MultiDiscrete
        ? new Int32Array(space.nvec.length)
        : new Int8Array(actionLayout(space).dim);
  const n = holder.length;
  return (actions, base, row) => {
    for (let k = 0; k < n; k++) {
      const value = actions[base + at + k];
      holder[k] = value;
      // An integer holder turns 1.5 into 1 and NaN into 0 silently; catch it here, where the value is visible.
      const stored = holder[k];
      if (stored !== value && !(Number.isNaN(stored) && Number.isNaN(value))) {
        throw new RangeError(
          `action row ${row} element ${at + k} = ${value} does not fit ${space} (${holder.constructor.name})`,
        );
      }
    }
    return holder;
  };
}

/**
 * Reads row `row` of a flat action buffer (`actionLayout(space)`: values, not one-hot) as an action of
 * `space`: a number (Discrete), an Int32Array (MultiDiscrete), an Int8Array (MultiBinary), the Box's typed
 * array, and for a Tuple an array and for a Dict an object of those. One reader fills the same value every
 * call, allocating nothing; a value that its typed array would change (1.5 or NaN for an integer part) is
 * a RangeError naming the row and the element.
 */
export function actionRowReader(space: Space): (actions: ArrayLike<number>, row: number) => unknown {
  const dim = actionLayout(space).dim;
  const read = partReader(space, 0);
  return (actions, row) => read(actions, row * dim, row);
}

/**
 * Writes `action`, an element of `space`, as the numbers of `actionLayout(space)` into `out` at `offset`
 * (the inverse of `actionRowReader`); returns the offset after them. Checks the Tuple's and Dict's
 * structure and each non-Box part with `contains`, and only the length of a Box part (as for a Box
 * action, whose bounds the env decides about).
 */
export function writeActionRow(
  space: Space,
  action: unknown,
  out: Float32Array,
  offset = 0,
  path = "action",
): number {
  if (space instanceof Tuple || space instanceof Dict) {
    const parts = spaceParts(space);
    const keys = space instanceof Dict ? space.keys : null;
    const values = keys
      ? typeof action === "object" &&
        action !== null &&
        !Array.isArray(action) &&
        Object.keys(action).length === keys.length
        ? keys.map((k) => (action as Record<string, unknown>)[k])
        : null
      : Array.isArray(action) && action.length === parts.length
        ? action
        : null;
    if (!values) throw new RangeError(`${path}: ${describeValue(action)} is not in ${space}`);
    return parts.reduce(
      (at, part, i) =>
        writeActionRow(part, values[i], out, at, keys ? `${path}.${keys[i]}` : `${path}[${i}]`),
      offset,
    );
  }
  const dim = actionLayout(space).dim;
  if (space instanceof Box) {
    const values = action as ArrayLike<number>;
    if (!isNumericArray(values) || values.length !== dim) {
      throw new RangeError(`${path}: needs ${dim} values for ${space}, got ${describeValue(action)}`);
    }
  } else if (!space.contains(action)) {
    throw new RangeError(`${path}: ${describeValue(action)} is not in ${space}`);
  }
  if (space instanceof Discrete) {
    out[offset] = typeof action === "number" ? action : (action as ArrayLike<number>)[0];
  } else {
    const values = action as ArrayLike<number>;
    for (let k = 0; k < dim; k++) out[offset + k] = values[k];
  }
  return offset + dim;
}
