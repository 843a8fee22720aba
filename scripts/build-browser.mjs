#!/usr/bin/env node
// Bundles src/browser/index.ts into dist-browser/rlts.js (ESM, minified, for browsers) and prints its
// gzipped size. Fails when the bundle would need a Node built-in: a page has no fs, path or process.
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const entry = path.join(root, "src/browser/index.ts");
// The policy code imports the full `@tensorflow/tfjs`; a page needs only its core, layers and cpu backend.
const tfjsForBrowsers = path.join(root, "src/browser/tfjs.ts");
const outfile = path.join(root, "dist-browser/rlts.js");

mkdirSync(path.dirname(outfile), { recursive: true });
const result = await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  format: "esm",
  platform: "browser",
  alias: { "@tensorflow/tfjs": tfjsForBrowsers },
  target: "es2022",
  minify: true,
  sourcemap: true,
  metafile: true,
  legalComments: "linked",
  logLevel: "warning",
}).catch(() => {
  // esbuild has printed the errors (an unresolvable Node built-in among them, with its importer).
  console.error("build-browser: the browser bundle failed to build (see the errors above)");
  process.exit(1);
});

// A `require("fs")` inside try/catch does not fail esbuild: it is left as an external import that
// throws at run time in a browser. Any external import at all means something was not bundled.
// (A static `import "fs"` already failed the build above: platform "browser" cannot resolve it.)
const bundle = Object.values(result.metafile.outputs).find((output) => output.entryPoint);
const external = bundle.imports.filter((i) => i.external).map((i) => i.path);
if (external.length > 0) {
  console.error(
    `build-browser: the bundle imports modules a browser lacks (Node built-ins?): ${external.join(", ")}`,
  );
  process.exit(1);
}

const bytes = readFileSync(outfile);
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(
  `build-browser: ${path.relative(root, outfile)} ${kib(bytes.length)}, ${kib(gzipSync(bytes, { level: 9 }).length)} gzipped`,
);
