#!/usr/bin/env node
// The `rlts` command. It runs the compiled CLI in dist/ (`npm run build`, which `npm ci` runs via `prepare`).
import { existsSync } from "node:fs";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(main)) {
  console.error("rlts: dist/ is missing; run `npm run build` in the rlts package first");
  process.exit(1);
}
const { runCli } = await import(main.href);
await runCli(process.argv);
