import { closeSync, fsyncSync, openSync, writeFileSync } from "node:fs";

/** Writes `file` and fsyncs it, so a rename that follows never exposes a half-written file after a crash. */
export function writeFileDurably(file: string, data: string | Uint8Array): void {
  writeFileSync(file, data);
  const fd = openSync(file, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
