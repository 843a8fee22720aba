/** Shared by the remote-env tests: the project's venv Python and the plain-gymnasium reference rollout. */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach } from "vitest";
import { Request } from "zeromq";
import { makeRemoteVectorEnv, PROTOCOL_VERSION, type RemoteVectorEnv } from "../../src/envs/remote/index.js";

export const root = join(import.meta.dirname, "..", "..");

/** The venv's python; a missing venv fails the test with the command that makes it (nothing is skipped). */
export function venvPython(): string {
  const python = join(root, "python", ".venv", "bin", "python");
  if (!existsSync(python)) throw new Error(`${python} is missing: run \`npm run setup:python\` first`);
  return python;
}

/**
 * For a test file: the vector envs made through `vectorEnv` are closed, and the processes pushed to
 * `children` killed, after each test.
 */
export function closedAfterEachTest(): {
  vectorEnv: (opts: Parameters<typeof makeRemoteVectorEnv>[0]) => Promise<RemoteVectorEnv>;
  children: ChildProcess[];
} {
  const open: RemoteVectorEnv[] = [];
  const children: ChildProcess[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((env) => env.close()));
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
  });
  return {
    async vectorEnv(opts) {
      venvPython();
      const env = await makeRemoteVectorEnv(opts);
      open.push(env);
      return env;
    },
    children,
  };
}

/** The `--bind` a running server was started with. */
export function bindOf(pid: number): string {
  const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  return args[args.indexOf("--bind") + 1];
}

/** The child's exit code, once it has exited (null when a signal ended it). */
export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

/** Whether `condition` holds within `ms` (polled every 20 ms). */
export async function waitUntil(condition: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!condition() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return condition();
}

export interface ReferenceSpec {
  id: string;
  numEnvs: number;
  seed: number;
  /** One row per step, one action row (a list) per sub-env. */
  actions: number[][][];
  kwargs?: Record<string, unknown>;
  maxEpisodeSteps?: number;
}

export interface ReferenceStep {
  obs: number[][];
  reward: number[];
  terminated: number[];
  truncated: number[];
  final_obs: Record<string, number[]>;
}

export interface Reference {
  obs_flatdim: number;
  reset: number[][];
  steps: ReferenceStep[];
}

/** The same rollout stepped by gymnasium in Python (python/tests/reference_rollout.py). */
export function referenceRollout(spec: ReferenceSpec): Reference {
  const arg = JSON.stringify({
    id: spec.id,
    num_envs: spec.numEnvs,
    seed: spec.seed,
    actions: spec.actions,
    kwargs: spec.kwargs ?? {},
    max_episode_steps: spec.maxEpisodeSteps ?? null,
  });
  const script = join(root, "python", "tests", "reference_rollout.py");
  return JSON.parse(
    execFileSync(venvPython(), [script, arg], { encoding: "utf8", env: pythonEnv() }),
  ) as Reference;
}

/**
 * The environment for a Python child: this checkout's python/ first on the path, so the tests exercise
 * its rlts_gym even where the venv has another checkout's installed (an editable install).
 */
export function pythonEnv(): NodeJS.ProcessEnv {
  const path = [join(root, "python"), process.env.PYTHONPATH].filter(Boolean).join(":");
  return { ...process.env, PYTHONPATH: path };
}

/** Rows `[n, dim]` of a flat Float32Array as plain arrays, for `toEqual` against reference JSON. */
export function rows(flat: Float32Array, n: number): number[][] {
  const dim = flat.length / n;
  return Array.from({ length: n }, (_, i) => Array.from(flat.subarray(i * dim, (i + 1) * dim)));
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * `python -m rlts_gym args`, by hand (added to `children`, for the caller to kill): resolves with the
 * endpoint once ready, or the exit code and stderr.
 */
export function startPythonServer(
  args: string[],
  children: ChildProcess[],
): Promise<{ child: ChildProcess; endpoint?: string; code?: number; stderr: string }> {
  const child = spawn(venvPython(), ["-m", "rlts_gym", ...args], {
    cwd: root,
    env: pythonEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => {
    let seen = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /RLTS_GYM_READY (\S+)/.exec(seen);
      if (match) resolve({ child, endpoint: match[1], stderr });
    });
    child.once("exit", (code) => resolve({ child, code: code ?? -1, stderr }));
  });
}

/** A REQ socket speaking the protocol by hand; replies come back as their JSON header. */
export function rawClient(endpoint: string, receiveTimeout = 10_000) {
  const socket = new Request({ linger: 0, receiveTimeout });
  socket.connect(endpoint);
  return {
    async request(header: Record<string, unknown>, frames: Buffer[] = []) {
      await socket.send([JSON.stringify({ protocol: PROTOCOL_VERSION, ...header }), ...frames]);
      return JSON.parse((await socket.receive())[0].toString());
    },
    close: () => socket.close(),
  };
}
