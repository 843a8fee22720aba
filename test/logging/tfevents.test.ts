import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  crc32c,
  EventFileWriter,
  encodeEvent,
  histogramProto,
  maskedCrc32c,
  tfRecord,
} from "../../src/logging/tfevents.js";
import { createRng, normal } from "../../src/utils/rng.js";
import { jsonNumber, readWithTensorBoard } from "./readTfevents.js";

const tmpRoot = mkdtempSync(join(tmpdir(), "rlts-tfevents-"));
afterAll(() => rmSync(tmpRoot, { recursive: true, force: true }));

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

describe("TFRecord framing, byte-exact against TensorBoard's golden records", () => {
  // tensorboard/data/server/tf_record.rs `test_success`: an event file holding
  // tf.summary.scalar("accuracy", 0.99, step=77), dumped with xxd (FORMATS.md §1.1).
  const versionPayload = Buffer.concat([
    hex("09 00 00 80 38 99 d6 d7 41 1a 0d"),
    Buffer.from("brain.Event:2"),
  ]);
  const versionRecord = Buffer.concat([
    hex("18 00 00 00 00 00 00 00  a3 7f 4b 22"),
    versionPayload,
    hex("12 4b 36 ab"),
  ]);
  const accuracyPayload = Buffer.concat([
    hex("09 c4 05 b7 3d 99 d6 d7 41  10 4d  2a 25  0a 23 0a 08"),
    Buffer.from("accuracy"),
    hex("42 0a 08 01 12 00 22 04 a4 70 7d 3f 4a 0b 0a 09 0a 07"),
    Buffer.from("scalars"),
  ]);
  const accuracyRecord = Buffer.concat([
    hex("32 00 00 00 00 00 00 00  24 19 56 ec"),
    accuracyPayload,
    hex("a5 5b 64 33"),
  ]);

  it("computes CRC-32C and its TFRecord mask", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(maskedCrc32c(hex("18 00 00 00 00 00 00 00"))).toBe(0x224b7fa3);
    expect(maskedCrc32c(versionPayload)).toBe(0xab364b12);
    expect(maskedCrc32c(hex("32 00 00 00 00 00 00 00"))).toBe(0xec561924);
    expect(maskedCrc32c(accuracyPayload)).toBe(0x33645ba5);
  });

  it("frames both golden records byte for byte", () => {
    expect(tfRecord(versionPayload).equals(versionRecord)).toBe(true);
    expect(tfRecord(accuracyPayload).equals(accuracyRecord)).toBe(true);
  });

  it("encodes the file_version event byte for byte", () => {
    const wallTime = versionPayload.readDoubleLE(1);
    expect(Buffer.from(encodeEvent({ wallTime, fileVersion: "brain.Event:2" })).equals(versionPayload)).toBe(
      true,
    );
  });

  it("encodes a simple_value scalar event like TensorFlow's protobuf does", () => {
    // FORMATS.md §1.1 extra vector; Python's protobuf serialises the same Event to these bytes.
    const event = { wallTime: 1.0, step: 5, summary: { value: [{ tag: "loss", simpleValue: 0.5 }] } };
    const record = hex(
      "1a00000000000000 129bd82d 09000000000000f03f 1005 2a0d 0a0b 0a046c6f7373 150000003f 1e6d8ff9",
    );
    expect(tfRecord(encodeEvent(event)).equals(record)).toBe(true);
  });
});

describe("EventFileWriter read back by TensorBoard's EventAccumulator", () => {
  const logdir = join(tmpRoot, "run");
  const scalars: Record<string, [step: number, value: number][]> = {
    "learners/policy_loss": [
      [0, -1.5],
      [1, 0.1],
      [2, -0],
      [3, 1e-30],
      [4, 1.4e-45], // the smallest float32 subnormal
      [5, 3.4e38],
      [2 ** 40, -123456.789], // a step beyond 32 bits
    ],
    "env_runners/episode_return_mean": [
      [1000, 22.5],
      [2000, 480.25],
    ],
    // A scalar that is 0 all along (no worker restarts) must still be a TensorBoard scalar.
    "fault/num_worker_restarts": [
      [1, 0],
      [2, 0],
    ],
    "edge/non_finite": [
      [0, Number.NaN],
      [1, Number.POSITIVE_INFINITY],
      [2, 1e39], // overflows float32
    ],
  };
  const rng = createRng(7);
  const advantages = Float32Array.from({ length: 4000 }, () => 3 * normal(rng) - 0.5);
  const evenlySpaced = Array.from({ length: 100 }, (_, i) => i);
  const configText = "## config\n```yaml\nlr: 0.0003  # é → ✓\n```";

  const writer = new EventFileWriter(logdir, { filenameSuffix: ".train" });
  for (const [tag, points] of Object.entries(scalars)) {
    for (const [step, value] of points) writer.addScalar(tag, value, step, 1_700_000_000 + step / 1000);
  }
  writer.addHistogram("learners/advantages", advantages, 7);
  writer.addHistogram("learners/advantages", [1, 1, 1], 8);
  writer.addHistogram("uniform", evenlySpaced, 0, { bins: 10 });
  writer.addText("config", configText, 0);
  writer.flush();
  writer.close();
  const seen = readWithTensorBoard(logdir);

  it("names the file like TensorBoard's writer", () => {
    const names = readdirSync(logdir);
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(
      new RegExp(`^events\\.out\\.tfevents\\.\\d{10}\\..+\\.${process.pid}\\.\\d+\\.train$`),
    );
    expect(seen.file_version).toBe(2);
  });

  it("keeps every scalar with its exact step and float32 value", () => {
    expect(Object.keys(seen.scalars).sort()).toEqual(Object.keys(scalars).sort());
    for (const [tag, points] of Object.entries(scalars)) {
      const read = seen.scalars[tag];
      expect(read.map((e) => e.step)).toEqual(points.map(([step]) => step));
      read.forEach((e, i) => {
        expect(jsonNumber(e.value)).toBe(Math.fround(points[i][1]));
        expect(e.wall_time).toBe(1_700_000_000 + points[i][0] / 1000);
      });
    }
  });

  it("keeps the histogram's count, min, max, sum and buckets", () => {
    const [first, second] = seen.histograms["learners/advantages"];
    let sum = 0;
    let sumSquares = 0;
    for (const v of advantages) {
      sum += v;
      sumSquares += v * v;
    }
    expect(first).toMatchObject({ step: 7, num: 4000, sum, sum_squares: sumSquares });
    expect(first.min).toBe(Math.min(...advantages));
    expect(first.max).toBe(Math.max(...advantages));
    expect(first.bucket.reduce((a, b) => a + b, 0)).toBe(4000);
    expect(second).toMatchObject({ step: 8, num: 3, min: 1, max: 1, sum: 3 });

    // What the Histograms dashboard draws: [left, right, count] rows from min to max.
    const [drawn] = seen.histogram_tensors["learners/advantages"];
    expect(drawn.buckets.reduce((a, [, , count]) => a + count, 0)).toBe(4000);
    expect(drawn.buckets[0][0]).toBe(first.min);
    expect(drawn.buckets[drawn.buckets.length - 1][1]).toBe(first.max);
    for (const [left, right] of drawn.buckets) expect(left).toBeLessThanOrEqual(right);
  });

  it("puts equal-width bins between min and max when bins is given", () => {
    const [uniform] = seen.histograms.uniform;
    expect(uniform.bucket).toEqual(new Array(10).fill(10));
    for (const [i, limit] of uniform.bucket_limit.entries())
      expect(jsonNumber(limit)).toBeCloseTo(9.9 * (i + 1), 12);
  });

  it("stores text as a text-plugin string tensor", () => {
    expect(seen.texts.config).toEqual([{ step: 0, plugin_name: "text", text: configText }]);
  });
});

describe("EventFileWriter edge cases", () => {
  it("flushes a writer its owner never closed when the process exits", () => {
    const logdir = join(tmpRoot, "exit");
    const script = join(tmpRoot, "exit-writer.ts");
    const module = resolve("src/logging/tfevents.ts");
    writeFileSync(
      script,
      `import { EventFileWriter } from ${JSON.stringify(module)};\n` +
        `new EventFileWriter(${JSON.stringify(logdir)}).addScalar("unflushed", 42, 3);\nprocess.exit(0);\n`,
    );
    execFileSync(resolve("node_modules/.bin/tsx"), [script]);
    expect(readWithTensorBoard(logdir).scalars.unflushed).toMatchObject([{ step: 3, value: 42 }]);
  });

  it("rejects bad input with errors naming the tag and field", () => {
    const writer = new EventFileWriter(join(tmpRoot, "bad"));
    expect(() => writer.addScalar("loss", 1, 1.5)).toThrow(/addScalar\("loss"\): step must be an integer/);
    expect(() => writer.addScalar("", 1, 1)).toThrow(/tag must be a non-empty string/);
    expect(() => writer.addScalar("loss", "1" as unknown as number, 1)).toThrow(/value must be a number/);
    expect(() => writer.addHistogram("adv", [], 0)).toThrow(/addHistogram\("adv"\): values is empty/);
    expect(() => writer.addHistogram("adv", [1, Number.NaN], 0)).toThrow(/values\[1\] is NaN/);
    expect(() => writer.addHistogram("adv", [1], 0, { bins: 0 })).toThrow(/bins must be a positive integer/);
    writer.close();
    expect(() => writer.addText("config", "x", 0)).toThrow(/is closed/);
  });

  it("buckets values exactly like histogram.cc's upper_bound over TensorFlow's default limits", () => {
    // An independent, slow transcription of InitDefaultBucketsInner + Add + EncodeToProto.
    const positive: number[] = [];
    for (let v = 1e-12; v < 1e20; v *= 1.1) positive.push(v);
    positive.push(Number.MAX_VALUE);
    const limits = [...positive.map((v) => -v).reverse(), 0, ...positive];
    const rng = createRng(3);
    const values = [
      0,
      -0,
      1e-12,
      -1e-12,
      1e-13,
      -1e-13,
      1.1e-12,
      1e20,
      -1e25,
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
    ];
    for (let i = 0; i < 3000; i++) values.push(normal(rng) * 10 ** (30 * rng() - 15));
    values.push(...positive.slice(0, -1), ...positive.slice(0, -1).map((v) => -v)); // every limit itself
    const counts = new Array(limits.length).fill(0);
    for (const v of values) {
      const b = limits.findIndex((limit) => limit > v);
      counts[b === -1 ? limits.length - 1 : b]++; // DBL_MAX itself: C++ would index past the end; we keep it
    }
    const bucket: number[] = [];
    for (let b = 0; b < counts.length; b++) {
      if (counts[b] === 0) while (b + 1 < counts.length && counts[b + 1] === 0) b++;
      bucket.push(counts[b]);
    }
    expect(histogramProto(values).bucket).toEqual(bucket);
  });

  it("merges runs of empty TensorFlow buckets, as histogram.cc does", () => {
    const h = histogramProto([-1, 0.5, 0.5, 1000]);
    // Buckets alternate: empty run, one value, empty run, two values, empty run, one value, empty run.
    expect(h.bucket).toEqual([0, 1, 0, 2, 0, 1, 0]);
    expect(h.bucketLimit[h.bucketLimit.length - 1]).toBe(Number.MAX_VALUE);
  });
});
