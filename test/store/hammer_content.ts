/** What the object-store hammer threads are told, what they report, and the content they write and check. */
import type { StoreHandle } from "../../src/store/object_store.js";

export interface HammerJob {
  role: "writer" | "reader";
  handle: StoreHandle;
  durationMs: number;
}

export interface HammerReport {
  operations: number;
  /** Reads whose content did not match their version (must stay 0). */
  badReads: number;
  /** Reads that returned an older version than the previous read (must stay 0). */
  backwardReads: number;
  distinctVersions: number;
  lastVersion: number;
}

/** Element i of version v: distinct for every (v, i) below 2^24, so a torn copy cannot pass. */
export function hammerValue(version: number, index: number): number {
  return (version * 7919 + index) % 16_777_216;
}

/** True when `data` is exactly version `version`; the last element is a checksum of the rest. */
export function isIntact(data: Float32Array, version: number): boolean {
  let sum = 0;
  for (let i = 0; i < data.length - 1; i++) {
    if (data[i] !== hammerValue(version, i)) return false;
    sum = (sum + data[i]) % 16_777_216;
  }
  return data[data.length - 1] === sum;
}

export function fill(data: Float32Array, version: number): void {
  let sum = 0;
  for (let i = 0; i < data.length - 1; i++) {
    data[i] = hammerValue(version, i);
    sum = (sum + data[i]) % 16_777_216;
  }
  data[data.length - 1] = sum;
}
