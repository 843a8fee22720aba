/**
 * `rlts serve-demo`: a small static file server on 127.0.0.1 for the browser demo. It serves
 *   /            examples/browser/ (the page),
 *   /rlts.js     the browser bundle (dist-browser/, from `node scripts/build-browser.mjs`),
 *   /policy/     the exported policy folder given on the command line.
 * The page needs HTTP rather than file:// because browsers refuse ES modules and fetch() from files.
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { POLICY_FILES } from "../models/policy.js";

/** The package root: this file is src/cli/serve_demo.ts, or dist/cli/serve_demo.js once built. */
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DEMO_PAGE_DIR = path.join(PACKAGE_ROOT, "examples/browser");
const BROWSER_BUNDLE_DIR = path.join(PACKAGE_ROOT, "dist-browser");

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".png": "image/png",
  ".bin": "application/octet-stream",
  ".txt": "text/plain; charset=utf-8",
};

export interface DemoServer {
  /** e.g. http://127.0.0.1:8080/ */
  url: string;
  port: number;
  close(): Promise<void>;
}

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => null))?.isFile() ?? false;
}

/** The file a URL path names, or null when it lies outside every mounted folder. */
function resolveFile(urlPath: string, exportDir: string): string | null {
  const mounts: [prefix: string, dir: string][] = [
    ["/policy/", exportDir],
    ["/rlts.js", BROWSER_BUNDLE_DIR],
    ["/", DEMO_PAGE_DIR],
  ];
  for (const [prefix, dir] of mounts) {
    if (!urlPath.startsWith(prefix)) continue;
    // "/rlts.js" and "/rlts.js.map" map to files of the same name in dist-browser/.
    const rest = prefix === "/rlts.js" ? urlPath.slice(1) : urlPath.slice(prefix.length);
    const file = path.resolve(dir, rest === "" ? "index.html" : rest);
    // Refuse "/../" tricks: the resolved file must stay inside its folder.
    return file.startsWith(dir + path.sep) ? file : null;
  }
  return null;
}

/** Serves the demo page, the bundle and the policy in `exportDir` until `close()`; `port` 0 picks a free one. */
export async function serveDemo(
  exportDir: string,
  { port = 8080 }: { port?: number } = {},
): Promise<DemoServer> {
  const policyDir = path.resolve(exportDir);
  for (const name of [POLICY_FILES.model, POLICY_FILES.weights, POLICY_FILES.metadata]) {
    if (!(await isFile(path.join(policyDir, name)))) {
      throw new Error(
        `serve-demo: ${policyDir} is not an exported policy (no ${name}); make one with \`rlts export <run dir> <out dir>\``,
      );
    }
  }
  if (!(await isFile(path.join(BROWSER_BUNDLE_DIR, "rlts.js")))) {
    throw new Error(
      `serve-demo: the browser bundle ${BROWSER_BUNDLE_DIR}/rlts.js is missing; run \`node scripts/build-browser.mjs\``,
    );
  }

  const server: Server = createServer(async (request, response) => {
    let urlPath: string;
    try {
      urlPath = decodeURIComponent(new URL(request.url ?? "/", "http://localhost").pathname);
    } catch {
      response.writeHead(400, { "content-type": "text/plain; charset=utf-8" }).end("malformed URL\n");
      return;
    }
    const file =
      request.method === "GET" || request.method === "HEAD" ? resolveFile(urlPath, policyDir) : null;
    if (file === null || !(await isFile(file))) {
      response.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end(`not found: ${urlPath}\n`);
      return;
    }
    response.writeHead(200, {
      "content-type": CONTENT_TYPES[path.extname(file)] ?? "application/octet-stream",
      // A re-exported policy or rebuilt bundle must show on reload.
      "cache-control": "no-store",
    });
    if (request.method === "HEAD") response.end();
    else
      createReadStream(file)
        .on("error", () => response.destroy())
        .pipe(response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new Error(`serve-demo: port ${port} is in use; pick another with --port`)
          : error,
      ),
    );
    server.listen(port, "127.0.0.1", resolve);
  });
  const actualPort = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actualPort}/`,
    port: actualPort,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
