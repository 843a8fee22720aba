/**
 * The `shm` transport: the protocol's messages through a file in /dev/shm that this process and the
 * server it spawned both map, instead of through ZeroMQ (python/rlts_gym/shm.py is the other end, and
 * its docstring and PROTOCOL.md describe the layout).
 *
 * Over ZeroMQ a vector step costs a trip through zeromq.js, its I/O thread, the kernel, pyzmq's I/O
 * thread and back (about 210 µs on a 2-core VM, most of it wake-ups); here it is a copy into shared memory,
 * a sequence number and a futex wake-up each way.
 *
 * Waiting never blocks the event loop for long: a short spin on the reply's sequence number, then futex
 * waits of at most `WAIT_SLICE_MS`, with the event loop running between them (timers, signal handlers,
 * and the server's exit, which fails the pending request). The file is unlinked as soon as both sides
 * have mapped it, so nothing outlives the two processes.
 *
 * mmap, futex and sched_yield come from libc through koffi (already a dependency, for the native BLAS);
 * the transport is offered on Linux x86-64 only (the server side relies on x86's ordering of stores).
 */
import { accessSync, closeSync, constants, fstatSync, openSync, unlinkSync } from "node:fs";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { Channel, type ConnectionOptions } from "./connection.js";

const MAGIC = 0x48534c52; // "RLSH"
const LAYOUT_VERSION = 1;
// Byte offsets in the file's header (python/rlts_gym/shm.py).
const MAGIC_AT = 0;
const VERSION_AT = 4;
const REQUEST_SEQ_AT = 64;
const REQUEST_AREA_AT = 68;
const REQUEST_CAPACITY_AT = 72;
const REPLY_SEQ_AT = 128;
const REPLY_AREA_AT = 132;
const REPLY_CAPACITY_AT = 136;
const MAX_FILE_BYTES = 2 ** 32 - 1;
const PAGE = 4096;

/** The shortest spin on the reply before the thread sleeps in the kernel (see `ShmConnection.spin`). */
const SPIN_MIN_MS = 0.03;
/** The longest spin: replies that usually come sooner are waited for spinning. */
const SPIN_MAX_MS = 0.3;
/** Spins between two looks at the clock (and a sched_yield): about a microsecond. */
const SPINS_PER_CHECK = 256;
/** The longest one blocking wait holds the event loop. */
const WAIT_SLICE_MS = 20;

const PROT_READ_WRITE = 0x3;
const MAP_SHARED = 0x1;
const SYS_FUTEX = 202; // x86-64
const FUTEX_WAIT = 0;
const FUTEX_WAKE = 1;
const EINTR = 4;

interface Libc {
  mmap(addr: null, length: number, prot: number, flags: number, fd: number, offset: number): number;
  munmap(addr: number, length: number): number;
  /** Allocates the file's pages (growing it): 0, or the error number. */
  fallocate(fd: number, offset: number, length: number): number;
  futex(addr: number, op: number, value: number, timeout: BigInt64Array | null, addr2: 0, value3: 0): number;
  schedYield(): number;
  errno(): number;
  /** An ArrayBuffer over `length` bytes at `address` (koffi.view). */
  view(address: number, length: number): ArrayBuffer;
}

let libc: Promise<Libc | string> | undefined;
/** When a wait here last let this thread's event loop run. */
let lastYield = 0;

/** libc's functions through koffi, or why this machine cannot have them. */
function loadLibc(): Promise<Libc | string> {
  libc ??= (async () => {
    if (process.platform !== "linux" || process.arch !== "x64") {
      return `the shm transport needs Linux on x86-64, this is ${process.platform} ${process.arch}`;
    }
    try {
      accessSync("/dev/shm", constants.W_OK);
    } catch {
      return "the shm transport needs a writable /dev/shm";
    }
    try {
      const koffi = (await import("koffi")).default;
      const lib = koffi.load("libc.so.6");
      // Addresses as intptr_t: plain numbers that koffi.view takes, and futex's address plus an offset.
      const futex = lib.func("syscall", "long", [
        "long",
        "intptr_t",
        "int",
        "int",
        "void *",
        "intptr_t",
        "int",
      ]);
      return {
        mmap: lib.func(
          "intptr_t mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)",
        ),
        munmap: lib.func("int munmap(intptr_t addr, size_t length)"),
        fallocate: lib.func("int posix_fallocate(int fd, int64_t offset, int64_t len)"),
        futex: (addr, op, value, timeout, addr2, value3) =>
          futex(SYS_FUTEX, addr, op, value, timeout, addr2, value3),
        schedYield: lib.func("int sched_yield(void)"),
        errno: () => koffi.errno(),
        view: (address, length) => koffi.view(address, length),
      } as Libc;
    } catch (err) {
      return `the shm transport cannot load libc through koffi: ${(err as Error).message}`;
    }
  })();
  return libc;
}

/** Why the shm transport is not available here, or undefined when it is. */
export async function shmUnavailable(): Promise<string | undefined> {
  const loaded = await loadLibc();
  return typeof loaded === "string" ? loaded : undefined;
}

interface Mapping {
  address: number;
  length: number;
}

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/** The bytes a message takes in an area: its frame table, then each frame at an 8-byte boundary. */
function messageBytes(frames: ArrayBufferView[]): number {
  let size = roundUp(4 + 8 * frames.length, 8);
  for (const frame of frames) size = roundUp(size + frame.byteLength, 8);
  return size;
}

export class ShmConnection extends Channel {
  private words: Int32Array;
  private bytes: Uint8Array;
  private u32: Uint32Array;
  private mapping: Mapping;
  /** Mappings replaced after the file grew: unmapped only at the end, as a reply's frames may view them. */
  private readonly retired: Mapping[] = [];
  private seq = 0;
  /** Moving average of how long replies took (ms). */
  private replyMs = 0;
  private inFlight = false;
  private released = false;

  private constructor(
    envId: string,
    endpoint: string,
    timeoutMs: number,
    options: ConnectionOptions,
    private readonly libc: Libc,
    private readonly fd: number,
  ) {
    super(envId, endpoint, timeoutMs, options);
    this.mapping = this.map(fstatSync(fd).size);
    this.bytes = new Uint8Array(libc.view(this.mapping.address, this.mapping.length));
    this.u32 = new Uint32Array(this.bytes.buffer);
    // The sequence words never move; a new mapping of the file gets new views (see `remap`).
    this.words = new Int32Array(this.bytes.buffer);
  }

  /**
   * Maps the file a server made (`shm://path` from its ready line) and unlinks it: the server mapped it
   * before it printed the line, so from here the file lives only as long as the two mappings.
   */
  static async open(
    envId: string,
    endpoint: string,
    timeoutMs: number,
    options: ConnectionOptions,
  ): Promise<ShmConnection> {
    const libc = await loadLibc();
    if (typeof libc === "string") throw new Error(`rlts remote env ${envId}: ${libc}`);
    const path = endpoint.slice("shm://".length);
    const fd = openSync(path, "r+");
    let connection: ShmConnection;
    try {
      unlinkSync(path);
      connection = new ShmConnection(envId, endpoint, timeoutMs, options, libc, fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (connection.u32[MAGIC_AT / 4] !== MAGIC || connection.u32[VERSION_AT / 4] !== LAYOUT_VERSION) {
      connection.fail(
        new Error(
          `rlts remote env ${envId}: ${path} is not an rlts_gym shm file of layout ${LAYOUT_VERSION}`,
        ),
      );
      throw connection.failure;
    }
    connection.seq = Atomics.load(connection.words, REQUEST_SEQ_AT / 4);
    return connection;
  }

  protected shutDown(): void {
    // A request waiting between two slices still holds views of the mapping: it releases it when it ends.
    if (!this.inFlight) this.releaseSoon();
  }

  /**
   * Unmaps the file a turn of the event loop later: a reply's frames are views of the mapping, read by
   * whoever awaited the request in microtasks after it resolved, and a failure may come in between.
   */
  private releaseSoon(): void {
    setImmediate(() => this.release());
  }

  protected async roundTrip(message: ArrayBufferView[]): Promise<Buffer[]> {
    this.inFlight = true;
    try {
      this.writeRequest(message);
      const seq = (this.seq + 1) | 0;
      this.seq = seq;
      Atomics.store(this.words, REQUEST_SEQ_AT / 4, seq);
      this.libc.futex(this.mapping.address + REQUEST_SEQ_AT, FUTEX_WAKE, 1, null, 0, 0);
      const sent = performance.now();
      if (!this.spin(seq, sent)) await this.sleepUntilReply(seq);
      const now = performance.now();
      // What the server took, wake-ups included: how long the next request spins (see `spin`).
      this.replyMs += (now - sent - this.replyMs) / 8;
      if (now - lastYield > WAIT_SLICE_MS) {
        // Replies caught spinning resolve as microtasks: a loop of fast steps would otherwise never let
        // the event loop run (timers, signal handlers, messages from other threads).
        await yieldToEventLoop();
        lastYield = performance.now();
        if (this.failure) throw this.failure;
      }
      return this.readReply();
    } finally {
      this.inFlight = false;
      if (this.failure) this.releaseSoon();
    }
  }

  /**
   * Spins on the reply's sequence number; true when the reply came. A reply that usually comes within
   * `SPIN_MAX_MS` is waited for spinning (up to 1.5 times the usual time): waking from a futex costs tens of
   * microseconds on a VM, as much as a few cheap env steps. A slower one gets only `SPIN_MIN_MS` before the
   * thread sleeps, leaving the core to the server.
   */
  private spin(seq: number, sent: number): boolean {
    const word = REPLY_SEQ_AT / 4;
    const end =
      sent + (this.replyMs <= SPIN_MAX_MS ? Math.max(SPIN_MIN_MS, 1.5 * this.replyMs) : SPIN_MIN_MS);
    let spins = 0;
    while (Atomics.load(this.words, word) !== seq) {
      if (++spins % SPINS_PER_CHECK === 0) {
        if (performance.now() > end) return false;
        // Hot, but not greedy: another runnable process on this core (the server) goes first.
        this.libc.schedYield();
      }
    }
    return true;
  }

  /** Futex waits of at most `WAIT_SLICE_MS`, the event loop running between them, until the reply or a failure. */
  private async sleepUntilReply(seq: number): Promise<void> {
    const word = REPLY_SEQ_AT / 4;
    const deadline = performance.now() + this.timeoutMs;
    const timeout = new BigInt64Array(2);
    for (;;) {
      const sliceEnd = Math.min(performance.now() + WAIT_SLICE_MS, deadline);
      for (;;) {
        const current = Atomics.load(this.words, word);
        if (current === seq) return;
        const left = sliceEnd - performance.now();
        if (left <= 0) break;
        const ns = Math.ceil(left * 1e6);
        timeout[0] = BigInt(Math.floor(ns / 1e9));
        timeout[1] = BigInt(ns % 1e9);
        const woke = this.libc.futex(this.mapping.address + REPLY_SEQ_AT, FUTEX_WAIT, current, timeout, 0, 0);
        // A signal: let its handler run now (Ctrl-C), not after the slice.
        if (woke === -1 && this.libc.errno() === EINTR) break;
      }
      await yieldToEventLoop();
      lastYield = performance.now();
      if (this.failure) throw this.failure;
      if (Atomics.load(this.words, word) === seq) return;
      if (performance.now() >= deadline) {
        throw Object.assign(new Error(`no reply within ${this.timeoutMs} ms`), { code: "EAGAIN" });
      }
    }
  }

  private writeRequest(frames: ArrayBufferView[]): void {
    let area = this.u32[REQUEST_AREA_AT / 4];
    const needed = messageBytes(frames);
    if (needed > this.u32[REQUEST_CAPACITY_AT / 4]) {
      const [offset, capacity] = this.grow(needed);
      this.u32[REQUEST_AREA_AT / 4] = offset;
      this.u32[REQUEST_CAPACITY_AT / 4] = capacity;
      area = offset;
    }
    this.u32[area / 4] = frames.length;
    let at = roundUp(4 + 8 * frames.length, 8);
    frames.forEach((frame, k) => {
      this.u32[(area + 4 + 8 * k) / 4] = at;
      this.u32[(area + 8 + 8 * k) / 4] = frame.byteLength;
      this.bytes.set(new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength), area + at);
      at = roundUp(at + frame.byteLength, 8);
    });
  }

  private readReply(): Buffer[] {
    const area = this.u32[REPLY_AREA_AT / 4];
    const capacity = this.u32[REPLY_CAPACITY_AT / 4];
    if (area + capacity > this.mapping.length) this.remap();
    if (area + capacity > this.mapping.length) {
      throw new Error(
        `shm reply area [${area}, ${area + capacity}) lies beyond the file's ${this.mapping.length} bytes`,
      );
    }
    const count = this.u32[area / 4];
    if (4 + 8 * count > capacity) throw new Error(`shm reply of ${count} frames does not fit its area`);
    const frames: Buffer[] = [];
    for (let k = 0; k < count; k++) {
      const at = this.u32[(area + 4 + 8 * k) / 4];
      const length = this.u32[(area + 8 + 8 * k) / 4];
      if (at + length > capacity) throw new Error(`shm reply frame ${k} lies beyond its area`);
      // A view, valid until the next request: the reply is decoded and copied out before that.
      frames.push(Buffer.from(this.bytes.buffer, this.bytes.byteOffset + area + at, length));
    }
    return frames;
  }

  /** A new area of at least twice `needed` bytes at the end of the file: [offset, capacity]. */
  private grow(needed: number): [number, number] {
    const offset = roundUp(fstatSync(this.fd).size, PAGE);
    const capacity = roundUp(2 * needed, PAGE);
    if (offset + capacity > MAX_FILE_BYTES) {
      throw new Error(`a request of ${needed} bytes does not fit in the shm transport's 4 GiB file`);
    }
    // Pages allocated now: on a full /dev/shm an error here, where a bare ftruncate (tmpfs reserves
    // nothing) would end the first process to touch a missing page with SIGBUS.
    const error = this.libc.fallocate(this.fd, 0, offset + capacity);
    if (error !== 0) {
      throw new Error(
        `the shm transport cannot grow ${this.endpoint} to ${offset + capacity} bytes (errno ${error})`,
      );
    }
    this.remap();
    return [offset, capacity];
  }

  /** Maps the whole file again after it grew (either side may have grown it). */
  private remap(): void {
    const mapping = this.map(fstatSync(this.fd).size);
    this.retired.push(this.mapping);
    this.mapping = mapping;
    this.bytes = new Uint8Array(this.libc.view(mapping.address, mapping.length));
    this.u32 = new Uint32Array(this.bytes.buffer);
    this.words = new Int32Array(this.bytes.buffer);
  }

  private map(length: number): Mapping {
    const address = this.libc.mmap(null, length, PROT_READ_WRITE, MAP_SHARED, this.fd, 0);
    if (address === -1) throw new Error(`mmap of ${this.endpoint} failed (errno ${this.libc.errno()})`);
    return { address, length };
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    for (const { address, length } of [...this.retired, this.mapping]) this.libc.munmap(address, length);
    closeSync(this.fd);
  }
}
