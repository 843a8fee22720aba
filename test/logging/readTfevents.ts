/** Runs TensorBoard's own reader (scripts/read_tfevents.py in the project's Python venv) on a run dir. */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

const PYTHON = "python/.venv/bin/python";

export interface TensorBoardView {
  file_version: number;
  scalars: Record<string, { step: number; wall_time: number; value: number | string }[]>;
  histograms: Record<
    string,
    {
      step: number;
      min: number;
      max: number;
      num: number;
      sum: number;
      sum_squares: number;
      bucket_limit: (number | string)[];
      bucket: number[];
    }[]
  >;
  histogram_tensors: Record<string, { step: number; buckets: [number, number, number][] }[]>;
  texts: Record<string, { step: number; plugin_name: string; text: string }[]>;
}

export function readWithTensorBoard(runDir: string): TensorBoardView {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run scripts/setup-python.sh`);
  return JSON.parse(execFileSync(PYTHON, ["scripts/read_tfevents.py", runDir], { encoding: "utf8" }));
}

/** The reader writes non-finite floats as strings; this turns them back into numbers. */
export function jsonNumber(x: number | string): number {
  return typeof x === "number" ? x : Number(x);
}
