/**
 * The Ray agent (`python -m rlts_ray`) as rlts sees it: a child process spoken to in JSON lines. The
 * first line is the run's settings; then each request (`endpoint` of runner i, `stop_process` of runner
 * i) gets a reply with its id, and the agent reports each actor death as an event. Closing it (or rlts
 * exiting, which closes its stdin) makes the agent kill every actor of the run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { packageRoot, resolvePython } from "../../envs/remote/server-process.js";
import { EnvRunnerError } from "../restarts.js";

export interface RayAgentSettings {
  address: string;
  namespace: string;
  run_id: string;
  runtime_env: Record<string, unknown>;
  num_env_runners: number;
  num_cpus_per_env_runner: number;
  max_restarts: number;
  /** `node`: actors host `rlts env-runner` processes; `gym`: actors serve a Gymnasium vector env. */
  kind: "node" | "gym";
  node_command?: string[];
  gym?: Record<string, unknown>;
  curve_secret_key: string;
  timeout_s: number;
}

/** Where an actor's runner listens, and the actor process behind it (a restarted actor has another). */
export interface ActorEndpoint {
  endpoint: string;
  actor_pid: number;
  node_ip: string;
}

type DeathListener = (index: number, actorPid: number, cause: string) => void;

const INSTALL_HINT =
  "install it with `python/.venv/bin/pip install -r python/requirements-ray.txt` (npm run setup:python does)";
/** How long the agent may take to kill the run's actors before it is killed. */
const CLOSE_GRACE_MS = 20_000;

export class RayAgent {
  /** Rejects when the agent exits on its own: every runner is unreachable then. */
  readonly exited: Promise<never>;
  private readonly pending = new Map<
    number,
    { resolve: (v: ActorEndpoint) => void; reject: (e: Error) => void }
  >();
  private readonly deathListeners = new Set<DeathListener>();
  private nextId = 1;
  private closing = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly nodes: string[],
    lines: AsyncIterator<string>,
    exited: Promise<never>,
  ) {
    this.exited = exited;
    exited.catch((error: Error) => {
      for (const { reject } of this.pending.values()) reject(error);
      this.pending.clear();
    });
    void this.readEvents(lines);
  }

  /** Starts the agent and waits until the cluster has placed the run's placement group. */
  static async start(settings: RayAgentSettings, python?: string): Promise<RayAgent> {
    const root = packageRoot();
    const interpreter = resolvePython(python);
    const child = spawn(interpreter, ["-m", "rlts_ray"], {
      stdio: ["pipe", "pipe", "inherit"],
      // Its own process group: a Ctrl-C in the terminal is rlts's to handle (finish the iteration, then
      // close the agent); the agent ends on `shutdown`, or when its stdin closes with rlts.
      detached: true,
      env: {
        ...process.env,
        PYTHONPATH: [join(root, "python"), process.env.PYTHONPATH].filter(Boolean).join(":"),
        PYTHONUNBUFFERED: "1",
        RAY_USAGE_STATS_ENABLED: "0",
      },
    });
    const exited = new Promise<never>((_, reject) => {
      child.once("error", (error) =>
        reject(new Error(`cannot start the Ray agent (${interpreter}): ${error.message}`)),
      );
      child.once("exit", (code, signal) =>
        reject(new Error(`the Ray agent exited (${signal ?? `code ${code}`})`)),
      );
    });
    exited.catch(() => {});
    child.stdin!.on("error", () => {});
    child.stdin!.write(`${JSON.stringify(settings)}\n`);
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const first = await Promise.race([lines.next(), exited]).catch((error: Error) => {
      throw new EnvRunnerError(`env_runners.placement ray: ${error.message}`);
    });
    const event = first.done
      ? null
      : (JSON.parse(first.value) as { event: string; message?: string; nodes?: string[] });
    if (event?.event !== "ready") {
      child.kill("SIGKILL");
      const message = event?.message ?? "it exited before connecting";
      throw new EnvRunnerError(
        message.startsWith("Ray is not installed")
          ? `env_runners.placement ray: Ray is not installed in ${interpreter}; ${INSTALL_HINT}`
          : `env_runners.placement ray: ${message}`,
      );
    }
    return new RayAgent(child, event.nodes ?? [], lines, exited);
  }

  /** Runner `index`'s endpoint: its actor is made on first use, and waited for while Ray restarts it. */
  endpoint(index: number): Promise<ActorEndpoint> {
    return this.request("endpoint", index);
  }

  /** Ends runner `index`'s env-runner process (stuck, or replaced); the next `endpoint` starts another. */
  async stopProcess(index: number): Promise<void> {
    await this.request("stop_process", index);
  }

  onDeath(listener: DeathListener): () => void {
    this.deathListeners.add(listener);
    return () => this.deathListeners.delete(listener);
  }

  /** Kills every actor of the run (the agent does, then exits), waiting for it to finish. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin!.end(`${JSON.stringify({ cmd: "shutdown" })}\n`);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), CLOSE_GRACE_MS);
    await this.exited.catch(() => {});
    clearTimeout(timer);
  }

  private request(cmd: string, index: number): Promise<ActorEndpoint> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.closing) return reject(new Error(`env runner ${index}: the Ray agent is closing`));
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, cmd, index })}\n`);
    });
  }

  private async readEvents(lines: AsyncIterator<string>): Promise<void> {
    for (;;) {
      const line = await lines.next().catch(() => ({ done: true as const, value: undefined }));
      if (line.done) return;
      const message = JSON.parse(line.value) as Record<string, unknown>;
      if (message.event === "died") {
        for (const listener of this.deathListeners) {
          listener(message.index as number, message.actor_pid as number, message.cause as string);
        }
        continue;
      }
      const pending = this.pending.get(message.id as number);
      if (!pending) continue;
      this.pending.delete(message.id as number);
      if (typeof message.error === "string") pending.reject(new EnvRunnerError(message.error));
      else pending.resolve(message as unknown as ActorEndpoint);
    }
  }
}
