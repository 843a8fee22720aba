/**
 * Checkpoints: a folder `checkpoint_<iteration>/` holding
 *   - `model/`: the greedy policy as an exported policy folder — `model.json` + `weights.bin` in the tfjs
 *     layers format (`tf.loadLayersModel` reads it, in Node or in a browser) and `policy.json`
 *     (src/models/policy.ts); `rlts export` copies it, the browser demo loads it;
 *   - `state.json` + `arrays.bin`: the algorithm's whole state (weights, optimizer moments, counters, RNG
 *     states), typed arrays stored as raw little-endian bytes in `arrays.bin`;
 *   - `config.yaml`: the resolved run config.
 * A checkpoint is written into a temporary sibling folder and renamed into place, so a crash leaves
 * either the previous checkpoint or the new one, never half of one.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import type * as tf from "@tensorflow/tfjs";
import YAML from "yaml";
import type { PolicyMetadata } from "../models/policy.js";
import { savePolicy } from "../models/policy_node.js";
import { writeFileDurably } from "../utils/files.js";

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

const TYPED_ARRAYS = {
  Float32Array,
  Float64Array,
  Int32Array,
  Uint32Array,
  Int16Array,
  Uint16Array,
  Int8Array,
  Uint8Array,
} as const;
type TypedArrayName = keyof typeof TYPED_ARRAYS;
type AnyTypedArray = InstanceType<(typeof TYPED_ARRAYS)[TypedArrayName]>;

interface ArrayRef {
  $array: TypedArrayName;
  offset: number;
  length: number;
}

/** Replaces every typed array in `value` by a reference into one byte blob (8-byte aligned). */
export function packState(value: unknown): { json: unknown; blob: Buffer } {
  const chunks: Buffer[] = [];
  let size = 0;
  const walk = (v: unknown): unknown => {
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
      const name = v.constructor.name as TypedArrayName;
      if (!(name in TYPED_ARRAYS)) throw new CheckpointError(`cannot store a ${name} in a checkpoint`);
      const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      const ref: ArrayRef = { $array: name, offset: size, length: (v as AnyTypedArray).length };
      const padded = Math.ceil(bytes.length / 8) * 8;
      chunks.push(bytes, Buffer.alloc(padded - bytes.length));
      size += padded;
      return ref;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    if (typeof v === "number" && !Number.isFinite(v)) return { $number: String(v) };
    return v;
  };
  const json = walk(value);
  return { json, blob: Buffer.concat(chunks) };
}

/** The inverse of `packState`. */
export function unpackState(json: unknown, blob: Buffer): unknown {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") {
      const ref = v as Partial<ArrayRef> & { $number?: string };
      if (ref.$array !== undefined) {
        const Ctor = TYPED_ARRAYS[ref.$array];
        const bytes = blob.subarray(ref.offset, ref.offset! + ref.length! * Ctor.BYTES_PER_ELEMENT);
        if (bytes.length !== ref.length! * Ctor.BYTES_PER_ELEMENT) {
          throw new CheckpointError("arrays.bin is shorter than state.json says: the checkpoint is corrupt");
        }
        // Copy into a fresh, aligned buffer: the blob's offsets need not suit every element size.
        const out = new Ctor(ref.length!);
        new Uint8Array(out.buffer).set(bytes);
        return out;
      }
      if (ref.$number !== undefined) return Number(ref.$number);
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(json);
}

export interface CheckpointContents {
  algo: string;
  iteration: number;
  config: unknown;
  state: unknown;
  /** The greedy policy, saved as an exported policy folder (`model/`: tfjs layers format + policy.json). */
  policy?: { model: tf.LayersModel; metadata: PolicyMetadata };
}

/** The format version this code writes and reads. */
const CHECKPOINT_VERSION = 2;

/** The folder name of a run's checkpoint at `iteration`: `checkpoint_000042`. */
export function checkpointDirName(iteration: number): string {
  return `checkpoint_${String(iteration).padStart(6, "0")}`;
}

/** Writes `runDir/checkpoint_<iteration>/` (see `writeCheckpointAt`) and returns its path. */
export function writeCheckpoint(runDir: string, contents: CheckpointContents): Promise<string> {
  return writeCheckpointAt(path.join(runDir, checkpointDirName(contents.iteration)), contents);
}

/** Writes a checkpoint folder at `finalDir` atomically (temp folder + rename) and returns its path. */
export async function writeCheckpointAt(finalDir: string, contents: CheckpointContents): Promise<string> {
  const tempDir = path.join(path.dirname(finalDir), `.${path.basename(finalDir)}.tmp-${process.pid}`);
  await rm(tempDir, { recursive: true, force: true });
  await mkdir(tempDir, { recursive: true });
  const { json, blob } = packState(contents.state);
  writeFileDurably(path.join(tempDir, "arrays.bin"), blob);
  writeFileDurably(path.join(tempDir, "config.yaml"), YAML.stringify(contents.config));
  if (contents.policy) {
    await savePolicy(path.join(tempDir, "model"), contents.policy.model, contents.policy.metadata);
  }
  // state.json comes last and holds the checksum of every other file, the exported policy's included.
  const files: Record<string, string> = {};
  for (const file of await listFiles(tempDir)) files[file] = await sha256(path.join(tempDir, file));
  const meta = {
    format: "rlts-checkpoint",
    version: CHECKPOINT_VERSION,
    algo: contents.algo,
    iteration: contents.iteration,
    files,
    state: json,
  };
  writeFileDurably(path.join(tempDir, "state.json"), JSON.stringify(meta));
  await rm(finalDir, { recursive: true, force: true });
  await rename(tempDir, finalDir);
  return finalDir;
}

export interface LoadedCheckpoint {
  dir: string;
  algo: string;
  iteration: number;
  config: unknown;
  state: unknown;
}

/** The newest `checkpoint_*` folder in a run folder, or the folder itself if it is a checkpoint. */
async function resolveCheckpointDir(target: string): Promise<string> {
  const info = await stat(target).catch(() => {
    throw new CheckpointError(`checkpoint not found: ${target}`);
  });
  if (!info.isDirectory())
    throw new CheckpointError(`${target} is not a folder (expected a run folder or a checkpoint folder)`);
  if (await stat(path.join(target, "state.json")).catch(() => null)) return target;
  const checkpoints = (await readdir(target)).filter((n) => /^checkpoint_\d+$/.test(n)).sort();
  if (checkpoints.length === 0) throw new CheckpointError(`no checkpoint_* folder in ${target}`);
  return path.join(target, checkpoints[checkpoints.length - 1]);
}

interface CheckpointMeta {
  format?: string;
  version?: number;
  algo: string;
  iteration: number;
  files?: Record<string, string>;
  state: unknown;
}

/** The checkpoint's `state.json`, after checking its format and version and every file's checksum. */
async function readVerifiedMeta(dir: string): Promise<CheckpointMeta> {
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(await readFile(path.join(dir, "state.json"), "utf8"));
  } catch (error) {
    throw new CheckpointError(`${dir}/state.json is missing or corrupt: ${(error as Error).message}`);
  }
  if (meta.format !== "rlts-checkpoint") throw new CheckpointError(`${dir} is not an rlts checkpoint`);
  if (meta.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(
      `${dir} is a version ${meta.version} checkpoint; this rlts reads version ${CHECKPOINT_VERSION} (retrain, or use the rlts that wrote it)`,
    );
  }
  await verifyFiles(dir, meta.files);
  return meta;
}

/** Verifies a checkpoint's files without unpacking its state (export: the policy folder); returns its folder. */
export async function verifyCheckpoint(target: string): Promise<string> {
  const dir = await resolveCheckpointDir(target);
  await readVerifiedMeta(dir);
  return dir;
}

/** Reads and verifies a checkpoint (run folder: its newest checkpoint). */
export async function readCheckpoint(target: string): Promise<LoadedCheckpoint> {
  const dir = await resolveCheckpointDir(target);
  const meta = await readVerifiedMeta(dir);
  const blob = await readFile(path.join(dir, "arrays.bin"));
  // Checksummed with the rest: this is the YAML the checkpoint wrote.
  const config = YAML.parse(await readFile(path.join(dir, "config.yaml"), "utf8"));
  return { dir, algo: meta.algo, iteration: meta.iteration, config, state: unpackState(meta.state, blob) };
}

/** Every file below `dir`, as paths relative to it with "/" separators, sorted. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join("/"))
    .sort();
}

async function sha256(file: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(file))
    .digest("hex");
}

/** Each file in `files` exists and matches its checksum; a missing or changed one is a `CheckpointError`. */
async function verifyFiles(dir: string, files: Record<string, string> | undefined): Promise<void> {
  if (!files?.["arrays.bin"]) throw new CheckpointError(`${dir}/state.json lists no file checksums`);
  for (const [file, expected] of Object.entries(files)) {
    const actual = await sha256(path.join(dir, file)).catch(() => {
      throw new CheckpointError(`${dir}/${file} is missing`);
    });
    if (actual !== expected) {
      throw new CheckpointError(`${dir}/${file} does not match its checksum: the checkpoint is corrupt`);
    }
  }
}

/**
 * Removes all but the newest `keep` checkpoints (keep 0 = keep all), and the temp folders of checkpoints
 * that another process (one that crashed mid-write) left behind.
 */
export async function pruneCheckpoints(runDir: string, keep: number): Promise<void> {
  const names = await readdir(runDir);
  const stale = names.filter((n) => {
    const pid = /^\.checkpoint_\d+\.tmp-(\d+)$/.exec(n)?.[1];
    return pid !== undefined && Number(pid) !== process.pid;
  });
  const checkpoints = names.filter((n) => /^checkpoint_\d+$/.test(n)).sort();
  const old = keep > 0 ? checkpoints.slice(0, Math.max(0, checkpoints.length - keep)) : [];
  for (const name of [...stale, ...old]) await rm(path.join(runDir, name), { recursive: true, force: true });
}
