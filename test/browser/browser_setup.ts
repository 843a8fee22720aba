/** What the browser tests need before they start: the bundle, and Chromium to load it. */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** Debian's Chromium (scripts/setup-browser.sh installs it), or RLTS_CHROMIUM. */
export const CHROMIUM = process.env.RLTS_CHROMIUM ?? "/usr/bin/chromium";
/** Without these, Chromium in a closed network floods the log with refused connections. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The newest modification time of a file under `dir`. */
function newestMtime(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .reduce(
      (newest, entry) => Math.max(newest, statSync(path.join(entry.parentPath, entry.name)).mtimeMs),
      0,
    );
}

/** Builds dist-browser/rlts.js when it is missing or older than a source file, so tests never run a stale bundle. */
export function ensureBrowserBundle(): void {
  const bundle = path.join(ROOT, "dist-browser/rlts.js");
  if (existsSync(bundle) && statSync(bundle).mtimeMs >= newestMtime(path.join(ROOT, "src"))) return;
  const build = spawnSync(process.execPath, [path.join(ROOT, "scripts/build-browser.mjs")], {
    encoding: "utf8",
  });
  if (build.status !== 0)
    throw new Error(`building the browser bundle failed:\n${build.stdout}${build.stderr}`);
}

export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `the browser tests need Chromium at ${CHROMIUM} (npm run setup:browser, or set RLTS_CHROMIUM)`,
    );
  }
}
