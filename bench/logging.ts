/**
 * What monitoring costs per training iteration, and whether the packages we use for it are fast enough.
 *
 *   npx tsx bench/logging.ts
 *
 * 1. One iteration's worth of logging with EventFileWriter: 15 scalars + 3 histograms of 4000 values
 *    + flush(), in microseconds, next to a PPO CartPole iteration (50–300 ms; the budget is 1%).
 * 2. CRC-32C: the hand-written table loop in src/logging/tfevents.ts vs @aws-crypto/crc32c.
 * 3. Event encoding: protobufjs (reflection, as tfevents.ts uses) vs a hand-written encoder of the
 *    same bytes (kept here only as the baseline).
 * Each figure is the median of several timed rounds; ratios are taken within this one process, because
 * the machine is shared and absolute times are noisy.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32c as awsCrc32c } from "@aws-crypto/crc32c";
import {
  crc32c,
  type EventFields,
  EventFileWriter,
  encodeEvent,
  type HistogramProto,
  histogramProto,
} from "../src/logging/tfevents.js";
import { createRng, normal } from "../src/utils/rng.js";

/** Median over `rounds` of the mean time of `fn` in microseconds, each round `reps` calls long. */
function medianMicros(fn: () => void, reps: number, rounds = 7): number {
  for (let i = 0; i < reps; i++) fn(); // warm-up: let V8 optimise before timing
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) fn();
    times.push(Number(process.hrtime.bigint() - start) / 1000 / reps);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(rounds / 2)];
}

// --- A hand-written protobuf encoder for Event{wall_time, step, summary{value{tag, simple_value|histo}}}.
class Bytes {
  buf = Buffer.allocUnsafe(1024);
  len = 0;
  ensure(n: number) {
    if (this.len + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(bigger, 0, 0, this.len);
    this.buf = bigger;
  }
  varint(v: number) {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }
  double(field: number, v: number) {
    this.varint((field << 3) | 1);
    this.ensure(8);
    this.len = this.buf.writeDoubleLE(v, this.len);
  }
  float(field: number, v: number) {
    this.varint((field << 3) | 5);
    this.ensure(4);
    this.len = this.buf.writeFloatLE(v, this.len);
  }
  bytes(field: number, b: Uint8Array) {
    this.varint((field << 3) | 2);
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  packedDoubles(field: number, values: number[]) {
    this.varint((field << 3) | 2);
    this.varint(values.length * 8);
    this.ensure(values.length * 8);
    for (const v of values) this.len = this.buf.writeDoubleLE(v, this.len);
  }
  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function handEncodeHistogram(h: HistogramProto): Uint8Array {
  const out = new Bytes();
  out.double(1, h.min);
  out.double(2, h.max);
  out.double(3, h.num);
  out.double(4, h.sum);
  out.double(5, h.sumSquares);
  out.packedDoubles(6, h.bucketLimit);
  out.packedDoubles(7, h.bucket);
  return out.finish();
}

function handEncodeEvent(
  wallTime: number,
  step: number,
  tag: string,
  value: number | HistogramProto,
): Uint8Array {
  const summaryValue = new Bytes();
  summaryValue.bytes(1, Buffer.from(tag));
  if (typeof value === "number") summaryValue.float(2, value);
  else summaryValue.bytes(5, handEncodeHistogram(value));
  const summary = new Bytes();
  summary.bytes(1, summaryValue.finish());
  const event = new Bytes();
  event.double(1, wallTime);
  event.varint(2 << 3);
  event.varint(step);
  event.bytes(5, summary.finish());
  return event.finish();
}

// --- One iteration's data
const rng = createRng(0);
const scalarTags = Array.from({ length: 15 }, (_, i) => `learners/metric_${i}`);
const histogramValues = [0, 1, 2].map(() => Float32Array.from({ length: 4000 }, () => normal(rng)));
const histogram = histogramProto(histogramValues[0]);
const scalarEvent: EventFields = {
  wallTime: 1.7e9,
  step: 123456,
  summary: { value: [{ tag: "loss", simpleValue: 0.5 }] },
};
const histogramEvent: EventFields = {
  wallTime: 1.7e9,
  step: 123456,
  summary: { value: [{ tag: "adv", histo: histogram }] },
};

// Both encoders must produce the same bytes, or the comparison means nothing.
for (const [event, value] of [
  [scalarEvent, 0.5],
  [histogramEvent, histogram],
] as const) {
  const tag = event.summary!.value[0].tag;
  if (!Buffer.from(encodeEvent(event)).equals(Buffer.from(handEncodeEvent(1.7e9, 123456, tag, value)))) {
    throw new Error(`bench: hand-written encoder differs from protobufjs for ${tag}`);
  }
}
const histogramBytes = encodeEvent(histogramEvent);

const logdir = mkdtempSync(join(tmpdir(), "rlts-bench-logging-"));
try {
  const writer = new EventFileWriter(logdir);
  let step = 0;
  const iteration = () => {
    step++;
    for (const tag of scalarTags) writer.addScalar(tag, step * 0.001, step);
    for (const [i, values] of histogramValues.entries())
      writer.addHistogram(`learners/histogram_${i}`, values, step);
    writer.flush();
  };
  const perIteration = medianMicros(iteration, 50);
  const scalarsOnly = medianMicros(() => {
    step++;
    for (const tag of scalarTags) writer.addScalar(tag, step * 0.001, step);
    writer.flush();
  }, 200);
  writer.close();

  const binning = medianMicros(() => histogramProto(histogramValues[0]), 200);
  const crcMine = medianMicros(() => crc32c(histogramBytes), 500);
  const crcAws = medianMicros(() => awsCrc32c(histogramBytes), 500);
  const encScalarPbjs = medianMicros(() => encodeEvent(scalarEvent), 5000);
  const encScalarHand = medianMicros(() => handEncodeEvent(1.7e9, 123456, "loss", 0.5), 5000);
  const encHistPbjs = medianMicros(() => encodeEvent(histogramEvent), 1000);
  const encHistHand = medianMicros(() => handEncodeEvent(1.7e9, 123456, "adv", histogram), 1000);

  const f = (x: number) => x.toFixed(1).padStart(8);
  console.log(`one iteration (15 scalars + 3 histograms x 4000 + flush): ${f(perIteration)} us`);
  console.log(`  = ${((perIteration / 50_000) * 100).toFixed(2)}% of a 50 ms PPO CartPole iteration`);
  console.log(`  15 scalars + flush only:                              ${f(scalarsOnly)} us`);
  console.log(`  bucketing one histogram of 4000 values:                ${f(binning)} us`);
  console.log(`CRC-32C of a histogram event (${histogramBytes.length} bytes):`);
  console.log(
    `  hand-written ${f(crcMine)} us   @aws-crypto/crc32c ${f(crcAws)} us   (${(crcAws / crcMine).toFixed(1)}x)`,
  );
  console.log("Event encoding, protobufjs vs hand-written:");
  console.log(
    `  scalar    ${f(encScalarPbjs)} us vs ${f(encScalarHand)} us (${(encScalarPbjs / encScalarHand).toFixed(2)}x)`,
  );
  console.log(
    `  histogram ${f(encHistPbjs)} us vs ${f(encHistHand)} us (${(encHistPbjs / encHistHand).toFixed(2)}x)`,
  );
} finally {
  rmSync(logdir, { recursive: true, force: true });
}
