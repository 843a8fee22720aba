/**
 * The WebAssembly kernels' binaries are their `.wat` sources assembled: a kernel changed in its source
 * but not rebuilt (`npm run build:kernels`) fails here.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ESM script, without type declarations
import { assemble, binaryModule } from "../../scripts/build-kernels.mjs";

const folder = fileURLToPath(new URL("../../src/models/kernels/", import.meta.url));
const sources = readdirSync(folder).filter((file) => file.endsWith(".wat"));

describe("WebAssembly kernels", () => {
  it("has sources", () => {
    expect(sources).toContain("dense.wat");
    expect(sources).toContain("mlp_train.wat");
  });

  it.each(sources)("%s: the committed binary module is the source assembled by wabt", async (file) => {
    const name = file.slice(0, -".wat".length);
    const bytes = (await assemble(path.join(folder, file))) as Uint8Array;
    const committed = readFileSync(path.join(folder, `${name}_wasm_binary.ts`), "utf8");
    expect(committed).toBe(binaryModule(name, bytes));
  });
});
