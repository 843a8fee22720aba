/**
 * The object store: named, versioned `Float32Array`s in `SharedArrayBuffer`s, shared between the
 * learner (one writer per entry) and rollout worker threads (many readers).
 *
 * Each entry keeps `SLOTS` copies of its data. A `put` writes the slot after the newest one, so readers
 * copying the newest version are not disturbed by the writer; each slot carries a sequence counter (a
 * seqlock: odd while being written) that a reader checks before and after its copy, and a reader that
 * raced a writer simply copies again. Readers always copy out into their own buffer: they never keep a
 * view that a later `put` overwrites, and they never block the writer.
 *
 * The buffers travel to workers inside `handle()` (structured clone shares a `SharedArrayBuffer`, it
 * does not copy it); `ObjectStore.fromHandle()` in the worker sees the same memory.
 */

/** Three slots: a reader is disturbed only if the writer completes two more versions during one copy. */
const SLOTS = 3;

// Layout of an entry's Int32 header.
const LATEST_VERSION = 0; // newest complete version, 0 = nothing put yet; waiters sleep on this word
const LATEST_SLOT = 1;
const WRITER_LOCK = 2; // 1 while a put is in progress (one writer at a time, from any thread)
const SLOT_SEQ = 3; // SLOTS words: even = stable, odd = being written
const SLOT_VERSION = SLOT_SEQ + SLOTS; // SLOTS words: the version held by each slot
const HEADER_WORDS = SLOT_VERSION + SLOTS;

/** The shareable form of one entry: post it to a worker, the buffers stay shared. */
export interface EntryHandle {
  length: number;
  header: SharedArrayBuffer;
  data: SharedArrayBuffer;
}

/** The shareable form of a whole store (`workerData`, or a `postMessage` payload). */
export interface StoreHandle {
  entries: Record<string, EntryHandle>;
}

export interface StoreRead {
  version: number;
  data: Float32Array;
}

export interface GetOptions {
  /** Return `undefined` unless the newest version is at least this. */
  minVersion?: number;
  /** Copy into this buffer (length must match the entry) instead of allocating a new one. */
  into?: Float32Array;
}

interface Entry {
  handle: EntryHandle;
  header: Int32Array;
  slots: Float32Array[];
}

// `Atomics.waitAsync` is in Node 20 but in TypeScript's ES2024 lib, one step above our `lib`.
type WaitAsync = (
  typedArray: Int32Array,
  index: number,
  value: number,
  timeout?: number,
) => { async: false; value: "not-equal" | "timed-out" } | { async: true; value: Promise<"ok" | "timed-out"> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export class ObjectStore {
  private readonly entries = new Map<string, Entry>();

  /** Rebuild a store in another thread from `handle()`; the memory is shared, not copied. */
  static fromHandle(handle: StoreHandle): ObjectStore {
    const store = new ObjectStore();
    for (const [name, entryHandle] of Object.entries(handle.entries)) store.attach(name, entryHandle);
    return store;
  }

  /** Allocates the entry `name` holding `length` float32s; its size is fixed from now on. */
  create(name: string, length: number): void {
    if (!Number.isInteger(length) || length <= 0) {
      throw new Error(`ObjectStore.create("${name}"): length must be a positive integer, got ${length}`);
    }
    const existing = this.entries.get(name);
    if (existing) {
      if (existing.handle.length === length) return;
      throw new Error(
        `ObjectStore.create("${name}", ${length}): the entry already exists with length ${existing.handle.length}`,
      );
    }
    this.attach(name, {
      length,
      header: new SharedArrayBuffer(HEADER_WORDS * Int32Array.BYTES_PER_ELEMENT),
      data: new SharedArrayBuffer(SLOTS * length * Float32Array.BYTES_PER_ELEMENT),
    });
  }

  /** Adds an entry created elsewhere (e.g. posted by the main thread after the worker started). */
  attach(name: string, handle: EntryHandle): void {
    const slots = Array.from(
      { length: SLOTS },
      (_, slot) =>
        new Float32Array(handle.data, slot * handle.length * Float32Array.BYTES_PER_ELEMENT, handle.length),
    );
    this.entries.set(name, { handle, header: new Int32Array(handle.header), slots });
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  length(name: string): number {
    return this.entry(name).handle.length;
  }

  handle(): StoreHandle {
    const entries: Record<string, EntryHandle> = {};
    for (const [name, entry] of this.entries) entries[name] = entry.handle;
    return { entries };
  }

  entryHandle(name: string): EntryHandle {
    return this.entry(name).handle;
  }

  /** The newest complete version of `name` (0 before the first `put`). */
  latestVersion(name: string): number {
    return Atomics.load(this.entry(name).header, LATEST_VERSION);
  }

  /** Publishes `data` as the next version (1, 2, 3, ...) and returns that version. */
  put(name: string, data: Float32Array): number {
    const entry = this.entry(name);
    const { header } = entry;
    if (data.length !== entry.handle.length) {
      throw new Error(
        `ObjectStore.put("${name}"): got ${data.length} numbers, the entry holds ${entry.handle.length} (fixed by create)`,
      );
    }
    while (Atomics.compareExchange(header, WRITER_LOCK, 0, 1) !== 0) Atomics.wait(header, WRITER_LOCK, 1, 1);
    try {
      const newVersion = Atomics.load(header, LATEST_VERSION) + 1;
      const slot = (Atomics.load(header, LATEST_SLOT) + 1) % SLOTS;
      Atomics.add(header, SLOT_SEQ + slot, 1); // odd: readers of this slot will retry
      entry.slots[slot].set(data);
      Atomics.store(header, SLOT_VERSION + slot, newVersion);
      Atomics.add(header, SLOT_SEQ + slot, 1); // even: stable again
      Atomics.store(header, LATEST_SLOT, slot);
      Atomics.store(header, LATEST_VERSION, newVersion);
      Atomics.notify(header, LATEST_VERSION);
      return newVersion;
    } finally {
      Atomics.store(header, WRITER_LOCK, 0);
      Atomics.notify(header, WRITER_LOCK);
    }
  }

  /**
   * Copies out the newest complete version, or returns `undefined` when nothing (or nothing at least
   * `minVersion`) has been put yet. Never returns a half-written version.
   */
  get(name: string, options: GetOptions = {}): StoreRead | undefined {
    const entry = this.entry(name);
    const { header } = entry;
    const into = options.into ?? new Float32Array(entry.handle.length);
    if (into.length !== entry.handle.length) {
      throw new Error(
        `ObjectStore.get("${name}"): the 'into' buffer holds ${into.length} numbers, the entry holds ${entry.handle.length}`,
      );
    }
    for (;;) {
      const latest = Atomics.load(header, LATEST_VERSION);
      if (latest === 0 || latest < (options.minVersion ?? 0)) return undefined;
      const slot = Atomics.load(header, LATEST_SLOT);
      const seqBefore = Atomics.load(header, SLOT_SEQ + slot);
      if (seqBefore % 2 === 1) continue; // the writer lapped us and is rewriting this slot: look again
      into.set(entry.slots[slot]);
      const version = Atomics.load(header, SLOT_VERSION + slot);
      if (Atomics.load(header, SLOT_SEQ + slot) === seqBefore) return { version, data: into };
    }
  }

  /**
   * Resolves with the newest version once it is at least `version`; rejects after `timeoutMs`. For
   * workers that must sample with exactly the weights the learner just published.
   */
  async waitForVersion(name: string, version: number, timeoutMs: number): Promise<number> {
    const { header } = this.entry(name);
    const deadline = Date.now() + timeoutMs;
    // A pending Atomics.waitAsync does not keep Node's event loop alive; this timer does, so an
    // awaited wait can never end in a silent process exit.
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      for (;;) {
        const latest = Atomics.load(header, LATEST_VERSION);
        if (latest >= version) return latest;
        const remaining = deadline - Date.now();
        if (remaining <= 0) {
          throw new Error(
            `ObjectStore.waitForVersion("${name}", ${version}): timed out after ${timeoutMs} ms, newest is ${latest}`,
          );
        }
        const waited = waitAsync(header, LATEST_VERSION, latest, remaining);
        if (waited.async) await waited.value;
      }
    } finally {
      clearInterval(keepAlive);
    }
  }

  private entry(name: string): Entry {
    const entry = this.entries.get(name);
    if (!entry) {
      const known = [...this.entries.keys()].join(", ") || "none";
      throw new Error(`ObjectStore: no entry "${name}" (entries: ${known}); create it first`);
    }
    return entry;
  }
}
