import { describe, expect, it } from "vitest";
import { siblingModule, startWorkerThread } from "../../src/rollout/worker_thread.js";
import { ObjectStore } from "../../src/store/object_store.js";
import { fill, type HammerJob, type HammerReport, isIntact } from "./hammer_content.js";

function runHammerThread(job: HammerJob): Promise<HammerReport> {
  const worker = startWorkerThread(siblingModule(import.meta.url, "hammer_worker"), { workerData: job });
  return new Promise((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`hammer thread exited with ${code} before reporting`)));
  });
}

describe("ObjectStore", () => {
  it("numbers versions, returns the newest, and copies out", () => {
    const store = new ObjectStore();
    store.create("w", 3);
    expect(store.get("w")).toBeUndefined();
    expect(store.put("w", Float32Array.of(1, 2, 3))).toBe(1);
    expect(store.put("w", Float32Array.of(4, 5, 6))).toBe(2);
    expect(store.put("w", Float32Array.of(7, 8, 9))).toBe(3);
    const into = new Float32Array(3);
    const read = store.get("w", { into });
    expect(read?.version).toBe(3);
    expect(read?.data).toBe(into);
    expect([...into]).toEqual([7, 8, 9]);
    store.put("w", Float32Array.of(0, 0, 0));
    expect([...into]).toEqual([7, 8, 9]); // the copy is the caller's, untouched by later puts
    expect(store.get("w", { minVersion: 5 })).toBeUndefined();
    expect(store.get("w", { minVersion: 4 })?.version).toBe(4);
    expect(store.latestVersion("w")).toBe(4);
  });

  it("cycles through all slots without mixing versions", () => {
    const store = new ObjectStore();
    store.create("w", 5);
    for (let version = 1; version <= 10; version++) {
      const data = new Float32Array(5);
      fill(data, version);
      store.put("w", data);
      const read = store.get("w");
      expect(read?.version).toBe(version);
      expect(isIntact(read!.data, version)).toBe(true);
    }
  });

  it("rejects bad input with errors that name the entry", () => {
    const store = new ObjectStore();
    store.create("weights", 4);
    expect(() => store.put("weights", new Float32Array(5))).toThrow(/"weights".*got 5 numbers.*holds 4/);
    expect(() => store.get("weights", { into: new Float32Array(2) })).toThrow(/'into' buffer holds 2/);
    expect(() => store.get("nope")).toThrow(/no entry "nope" \(entries: weights\)/);
    expect(() => store.create("weights", 8)).toThrow(/already exists with length 4/);
    expect(() => store.create("bad", 0)).toThrow(/positive integer/);
    store.create("weights", 4); // same size again is fine
  });

  it("waitForVersion resolves when another thread puts, and times out with a clear error", async () => {
    const store = new ObjectStore();
    store.create("weights", 64);
    const writer = runHammerThread({ role: "writer", handle: store.handle(), durationMs: 300 });
    await expect(store.waitForVersion("weights", 5, 20_000)).resolves.toBeGreaterThanOrEqual(5);
    await writer;
    const newest = store.latestVersion("weights");
    await expect(store.waitForVersion("weights", newest + 1, 50)).rejects.toThrow(
      new RegExp(`"weights", ${newest + 1}\\): timed out after 50 ms, newest is ${newest}`),
    );
  });

  it("never shows a torn write to readers racing a writer for a second", async () => {
    const store = new ObjectStore();
    store.create("weights", 4097);
    const handle = store.handle();
    const durationMs = 1000;
    const [writer, ...readers] = await Promise.all([
      runHammerThread({ role: "writer", handle, durationMs }),
      ...[1, 2, 3].map(() => runHammerThread({ role: "reader", handle, durationMs })),
    ]);
    expect(writer.distinctVersions).toBeGreaterThan(100);
    expect(store.get("weights")?.version).toBe(writer.lastVersion);
    for (const reader of readers) {
      expect(reader.badReads).toBe(0);
      expect(reader.backwardReads).toBe(0);
      expect(reader.operations).toBeGreaterThan(100);
      expect(reader.distinctVersions).toBeGreaterThan(10); // they really raced the writer
    }
  });
});
