/**
 * Starting a worker thread from a module that sits next to the caller, both from the built `dist/`
 * (plain `.js`) and from TypeScript sources (vitest, tsx), where the worker is a `.ts` file that Node
 * can only load with tsx's loader registered in the new thread.
 */
import { Worker, type WorkerOptions } from "node:worker_threads";

/** `./<name>.js` next to `callerUrl` (an `import.meta.url`), or `./<name>.ts` when the caller is a `.ts` source. */
export function siblingModule(callerUrl: string, name: string): URL {
  const extension = new URL(callerUrl).pathname.endsWith(".ts") ? ".ts" : ".js";
  return new URL(`./${name}${extension}`, callerUrl);
}

/** tsx's ESM API, resolved from this package rather than the process's cwd. */
function tsxApiUrl(): string {
  try {
    return import.meta.resolve("tsx/esm/api");
  } catch (cause) {
    throw new Error("running a .ts worker needs the dev dependency tsx (or build with `npm run build`)", {
      cause,
    });
  }
}

/**
 * `new Worker(moduleUrl)`, registering tsx in the thread first when the module is TypeScript. Node 20
 * loads a worker's entry module before hooks from `execArgv: ["--import", "tsx"]` apply, so a tiny
 * bootstrap registers tsx and then imports the entry.
 */
export function startWorkerThread(moduleUrl: URL, options: WorkerOptions = {}): Worker {
  if (!moduleUrl.pathname.endsWith(".ts")) return new Worker(moduleUrl, options);
  const bootstrap = `import(${JSON.stringify(tsxApiUrl())}).then(({ register }) => {
    register();
    return import(${JSON.stringify(moduleUrl.href)});
  });`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/**
 * Rejects once `thread` is gone, by an uncaught error or an exit, with an error naming it `name`: race a
 * call to the thread against it and no call waits on a dead thread. A thread ended on purpose (stop,
 * replacement) rejects it with nobody listening, which is not an error.
 */
export function whenThreadDies(thread: Worker, name: string): Promise<never> {
  const died = new Promise<never>((_, reject) => {
    thread.once("error", (error) => reject(new Error(`${name} crashed: ${error.message}`, { cause: error })));
    thread.once("exit", (code) => reject(new Error(`${name} exited (code ${code})`)));
  });
  died.catch(() => {});
  return died;
}
