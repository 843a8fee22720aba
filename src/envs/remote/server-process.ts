/**
 * Starts `python -m rlts_gym` as a child process and keeps track of it.
 *
 * The server prints `RLTS_GYM_READY <endpoint>` once its socket is bound; the client connects only then
 * (so tcp can bind port `*` and report the port it got). The child gets `--parent-pid` and exits by itself
 * if this process is killed; on a normal exit, one `process.on("exit")` handler kills every live server.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Transport } from "./protocol.js";

const SETUP_HINT =
  "run `npm run setup:python` (or point RLTS_PYTHON / the `python` option at a Python with gymnasium)";
/** Bytes of the server's output kept for error messages. */
const OUTPUT_TAIL_BYTES = 4000;

export interface ServerOptions {
  id: string;
  numEnvs: number;
  kwargs: Record<string, unknown>;
  maxEpisodeSteps?: number;
  python?: string;
  transport: Transport;
  /** How long to wait for the ready line. */
  timeoutMs: number;
  /** Python modules to import before making the env (`--module`). */
  modules: string[];
  /** gymnasium.wrappers applied on the server, first to last (`--wrappers`). */
  wrappers: GymnasiumWrapper[];
}

/** A wrapper from `gymnasium.wrappers` by class name, with its keyword arguments. */
export interface GymnasiumWrapper {
  name: string;
  kwargs?: Record<string, unknown>;
}

/** The directory holding `python/rlts_gym`, found upwards from this file (works from src/ and dist/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "python", "rlts_gym", "__init__.py"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("rlts: cannot find python/rlts_gym above the installed rlts package");
    dir = parent;
  }
  return dir;
}

/** The `python` option, else `RLTS_PYTHON`, else the project's venv made by `npm run setup:python`. */
export function resolvePython(option?: string): string {
  const chosen = option ?? process.env.RLTS_PYTHON;
  if (chosen) return chosen;
  const venv = join(packageRoot(), "python", ".venv");
  const python =
    process.platform === "win32" ? join(venv, "Scripts", "python.exe") : join(venv, "bin", "python");
  if (!existsSync(python)) throw new Error(`rlts remote envs: ${python} does not exist; ${SETUP_HINT}`);
  return python;
}

const liveServers = new Set<ServerProcess>();
let exitHookInstalled = false;

/**
 * On exit: every server still running gets SIGTERM, and its socket folder or shm file is removed here too.
 * The server removes it itself on every way out, but one that is killed, or slower to exit than this
 * process, cannot.
 */
function killLiveServersOnExit(): void {
  for (const server of liveServers) server.terminateOnExit();
}

export class ServerProcess {
  /** Rejects once the child has exited (also after a clean close); callers race requests against it. */
  readonly exited: Promise<never>;
  private output = "";
  private exitError?: Error;

  /**
   * @param leftovers what to remove once the server is gone (its ipc socket's folder, its shm file), for
   * a server that was killed or is slower to exit than this process; the server removes them itself too.
   */
  private constructor(
    readonly id: string,
    readonly child: ChildProcess,
    private readonly leftovers: string | undefined,
  ) {
    const collect = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString("utf8")).slice(-OUTPUT_TAIL_BYTES);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    this.exited = new Promise<never>((_, reject) => {
      child.once("exit", (code, signal) => {
        this.exitError = this.describeExit(code, signal);
        this.release();
        reject(this.exitError);
      });
      child.once("error", (err) => {
        this.exitError = new Error(
          `rlts remote env ${id}: cannot start ${child.spawnfile} (${err.message}); ${SETUP_HINT}`,
        );
        this.release();
        reject(this.exitError);
      });
    });
    // Nobody has to await `exited`; its rejection is handled by whoever races against it.
    this.exited.catch(() => {});
  }

  static async start(opts: ServerOptions): Promise<[ServerProcess, string]> {
    const python = resolvePython(opts.python);
    const root = packageRoot();
    let leftovers: string | undefined;
    let bind = "tcp://127.0.0.1:*";
    if (opts.transport === "ipc") {
      leftovers = mkdtempSync(join(tmpdir(), "rlts-gym-"));
      bind = `ipc://${join(leftovers, "env.sock")}`;
    } else if (opts.transport === "shm") {
      // The server makes the file (exclusively) once its envs are made; the client unlinks it once mapped.
      leftovers = join("/dev/shm", `rlts-gym-${process.pid}-${randomBytes(6).toString("hex")}`);
      bind = `shm://${leftovers}`;
    }
    const args = ["-m", "rlts_gym", "--env", opts.id, "--num-envs", String(opts.numEnvs), "--bind", bind];
    args.push("--kwargs", JSON.stringify(opts.kwargs), "--parent-pid", String(process.pid));
    if (opts.maxEpisodeSteps !== undefined) args.push("--max-episode-steps", String(opts.maxEpisodeSteps));
    for (const module of opts.modules) args.push("--module", module);
    if (opts.wrappers.length > 0) args.push("--wrappers", JSON.stringify(opts.wrappers));
    // python/ first on the path, so a Python that has gymnasium but not rlts_gym installed still works.
    const pythonPath = [join(root, "python"), process.env.PYTHONPATH].filter(Boolean).join(":");
    const child = spawn(python, args, {
      // Its own process group: a Ctrl-C at the terminal reaches rlts, which finishes the iteration and then
      // closes the server, instead of killing the server under a running step. `--parent-pid` still ends
      // it if rlts dies.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PYTHONPATH: pythonPath, PYTHONUNBUFFERED: "1" },
    });
    const server = new ServerProcess(opts.id, child, leftovers);
    liveServers.add(server);
    if (!exitHookInstalled) {
      process.on("exit", killLiveServersOnExit);
      exitHookInstalled = true;
    }
    try {
      const endpoint = await Promise.race([server.readyLine(opts.timeoutMs), server.exited]);
      // From here on a forgotten env must not keep Node alive; the exit hook still kills the server.
      child.unref();
      for (const stream of [child.stdout, child.stderr])
        (stream as unknown as { unref?: () => void })?.unref?.();
      return [server, endpoint];
    } catch (err) {
      await server.kill();
      throw err;
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The reason the server is gone, or undefined while it runs. */
  get failure(): Error | undefined {
    return this.exitError;
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves once it has exited. */
  async kill(graceMs = 2000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null || this.exitError) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited.catch(() => {});
    clearTimeout(timer);
  }

  /** Waits for the child to exit by itself (after `close`), killing it after `graceMs`. */
  async waitForExit(graceMs: number): Promise<void> {
    if (this.exitError) return;
    const timer = setTimeout(() => void this.kill(), graceMs);
    await this.exited.catch(() => {});
    clearTimeout(timer);
  }

  private readyLine(timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      let seen = "";
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `rlts remote env ${this.id}: the server did not start within ${timeoutMs} ms${this.tail()}`,
            ),
          ),
        timeoutMs,
      );
      const onData = (chunk: Buffer) => {
        seen += chunk.toString("utf8");
        const match = /RLTS_GYM_READY (\S+)/.exec(seen);
        if (!match) return;
        clearTimeout(timer);
        this.child.stdout?.off("data", onData);
        resolve(match[1]);
      };
      this.child.stdout?.on("data", onData);
      this.exited.catch(() => clearTimeout(timer));
    });
  }

  private tail(): string {
    const text = this.output.trim();
    return text ? `; its last output:\n${text}` : "";
  }

  private describeExit(code: number | null, signal: NodeJS.Signals | null): Error {
    const how = signal ? `was killed by signal ${signal}` : `exited with code ${code}`;
    const hint = /No module named|ModuleNotFoundError/.test(this.output) ? `\n${SETUP_HINT}` : "";
    return new Error(`rlts_gym server for ${this.id} (pid ${this.child.pid}) ${how}${this.tail()}${hint}`);
  }

  /** `killLiveServersOnExit`'s part: synchronous, as an exit hook must be. */
  terminateOnExit(): void {
    this.child.kill("SIGTERM");
    if (this.leftovers) rmSync(this.leftovers, { recursive: true, force: true });
  }

  private release(): void {
    liveServers.delete(this);
    if (this.leftovers) rmSync(this.leftovers, { recursive: true, force: true });
  }
}
