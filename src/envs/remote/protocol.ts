/**
 * The wire format of the rlts_gym protocol (PROTOCOL.md), client side.
 *
 * A request is `[JSON header, ...raw little-endian arrays]`; a reply is `[JSON header, ...arrays]` where
 * `header.frames` names each array (name, dtype, shape) in order, or `{error: {type, message, traceback}}`.
 */
import { endianness } from "node:os";

/**
 * How a spawned server and its client talk: `shm` (a file in /dev/shm both map; Linux x86-64), `ipc` (a
 * unix socket in a temp folder) or `tcp` (a free port on 127.0.0.1); the last two through ZeroMQ.
 */
export const TRANSPORTS = ["shm", "ipc", "tcp"] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** Bumped on any incompatible change of a message; the server refuses other versions. */
export const PROTOCOL_VERSION = 3;

if (endianness() !== "LE") {
  // Arrays travel little-endian and are copied byte for byte into typed arrays (host order).
  throw new Error("rlts remote envs need a little-endian host");
}

type WireDtype = "float32" | "float64" | "int32" | "uint8";

interface FrameInfo {
  name: string;
  dtype: WireDtype;
  shape: number[];
}

export interface ReplyHeader {
  frames: FrameInfo[];
  [field: string]: unknown;
}

export interface PythonError {
  type: string;
  message: string;
  traceback: string;
  /** The innermost frame, `file.py:line in function`. */
  where?: string | null;
  /** The sub-env whose `step` or `reset` raised it, if an env did. */
  sub_env?: number | null;
}

/**
 * A Python exception raised on the server (in the env or in the server), with its traceback. The message
 * is one line naming the sub-env that raised it and where: `CartPole-v1: step raised ValueError in sub-env
 * 3: ... (at cartpole.py:180 in step)`.
 */
export class RemoteEnvError extends Error {
  readonly pythonType: string;
  readonly traceback: string;
  /** The sub-env that raised it, or null for a failure of the server itself. */
  readonly subEnv: number | null;

  constructor(
    readonly envId: string,
    readonly command: string,
    error: PythonError,
  ) {
    const subEnv = error.sub_env ?? null;
    const inSubEnv = subEnv === null ? "" : ` in sub-env ${subEnv}`;
    const where = error.where ? ` (at ${error.where})` : "";
    super(`${envId}: ${command} raised ${error.type}${inSubEnv}: ${error.message}${where}`);
    this.name = "RemoteEnvError";
    this.pythonType = error.type;
    this.traceback = error.traceback;
    this.subEnv = subEnv;
  }
}

const BYTES_PER_ELEMENT: Record<WireDtype, number> = { float32: 4, float64: 8, int32: 4, uint8: 1 };

export function encodeHeader(cmd: string, fields: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({ cmd, protocol: PROTOCOL_VERSION, ...fields }));
}

/** Splits a reply into its header and named frames; a Python error becomes a `RemoteEnvError`. */
export function decodeReply(
  envId: string,
  command: string,
  message: Buffer[],
): [ReplyHeader, Map<string, Buffer>] {
  const header = JSON.parse(message[0].toString("utf8")) as ReplyHeader & { error?: PythonError };
  if (header.error) throw new RemoteEnvError(envId, command, header.error);
  if (!Array.isArray(header.frames) || header.frames.length !== message.length - 1) {
    throw new Error(
      `${envId}: malformed ${command} reply: header names ${header.frames?.length} frames, ${message.length - 1} arrived`,
    );
  }
  const frames = new Map<string, Buffer>();
  header.frames.forEach((info, k) => {
    const expected = info.shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[info.dtype];
    if (message[k + 1].length !== expected) {
      throw new Error(
        `${envId}: ${command} frame "${info.name}" has ${message[k + 1].length} bytes, its header says ${info.dtype} [${info.shape}] (${expected} bytes)`,
      );
    }
    frames.set(info.name, message[k + 1]);
  });
  return [header, frames];
}

/** The frame `name`, or a clear error when the reply lacks it. */
export function requireFrame(
  envId: string,
  command: string,
  frames: Map<string, Buffer>,
  name: string,
): Buffer {
  const frame = frames.get(name);
  if (!frame) throw new Error(`${envId}: ${command} reply has no "${name}" frame`);
  return frame;
}

/**
 * Copies the bytes of `frame` into `target` starting at element `offset`. A byte copy, because a received
 * Buffer need not be aligned for a typed-array view of its own.
 */
export function copyFrame(
  frame: Uint8Array,
  target: Float32Array | Float64Array | Uint8Array,
  offset = 0,
): void {
  new Uint8Array(target.buffer, target.byteOffset + offset * target.BYTES_PER_ELEMENT, frame.length).set(
    frame,
  );
}
