/**
 * A real multi-host Ray cluster on this machine, for the placement-ray tests: a head node in this
 * network namespace and worker nodes in namespaces of their own, joined by a bridge on a private /24
 * the fixture makes and removes (veth pairs; nothing routes beyond the bridge). A runner on a worker
 * node shares nothing with the learner's loopback: every byte between them crosses the bridge.
 *
 * Needs root (network namespaces) and Ray in python/.venv (npm run setup:python installs it).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");
const venvBin = join(root, "python", ".venv", "bin");
export const rayBin = join(venvBin, "ray");

export interface WorkerNode {
  namespace: string;
  ip: string;
  process: ChildProcess;
}

export interface NetnsCluster {
  /** `host:port` of the head's GCS. */
  address: string;
  /** The head's dashboard (what `ray list actors` asks). */
  dashboard: string;
  workers: WorkerNode[];
  /** Kills worker `i`'s raylet, as a node that crashes: its actors and their processes die with it. */
  killRaylet(i: number): void;
  /** Command lines of the live processes in worker `i`'s namespace. */
  processesIn(i: number): string[];
  stop(): Promise<void>;
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Whether this machine can make the cluster (root, `ip`, Ray in the venv); the reason if not. */
export function clusterUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "network namespaces need root";
  if (!existsSync(rayBin)) return `${rayBin} is missing: run \`npm run setup:python\``;
  return null;
}

function waitForLine(child: ChildProcess, pattern: RegExp, what: string, timeoutMs = 90_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(
      () => reject(new Error(`${what}: not up within ${timeoutMs / 1000} s:\n${output}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (pattern.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (code ${code}):\n${output}`));
    });
  });
}

/** PIDs of the live (not zombie) processes in a namespace, with their command lines. */
function namespaceProcesses(namespace: string): { pid: number; args: string }[] {
  let pids: string;
  try {
    pids = execFileSync("ip", ["netns", "pids", namespace], { encoding: "utf8" });
  } catch {
    return [];
  }
  return pids
    .split("\n")
    .filter(Boolean)
    .flatMap((text) => {
      const pid = Number(text);
      try {
        const status = readFileSync(`/proc/${pid}/status`, "utf8");
        if (/^State:\s+Z/m.test(status)) return [];
        const args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
        return [{ pid, args }];
      } catch {
        return [];
      }
    });
}

export async function startNetnsCluster(options: {
  workers: number;
  cpusPerWorker: number;
}): Promise<NetnsCluster> {
  const id = `r${process.pid % 10000}`;
  const subnet = `10.213.${(process.pid % 200) + 20}`;
  const bridge = `${id}br`;
  const headIp = `${subnet}.1`;
  const port = 6400 + (process.pid % 500);
  const tempDir = mkdtempSync(join(tmpdir(), "raycluster-"));
  const rayEnv = {
    ...process.env,
    PATH: `${venvBin}:${process.env.PATH}`,
    RAY_USAGE_STATS_ENABLED: "0",
    // A lost node is declared dead after about 5-10 s instead of 30 (not faster: a node that is only
    // busy, on this 2-core machine, must not be declared dead).
    RAY_health_check_period_ms: "1000",
    RAY_health_check_timeout_ms: "2000",
    RAY_health_check_failure_threshold: "5",
  };
  const namespaces: string[] = [];
  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const child of children) child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 3000));
    for (const namespace of namespaces) {
      for (const { pid } of namespaceProcesses(namespace)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      try {
        ip("netns", "del", namespace);
      } catch {}
    }
    for (const child of children) child.kill("SIGKILL");
    try {
      ip("link", "del", bridge);
    } catch {}
    rmSync(tempDir, { recursive: true, force: true });
  };
  try {
    ip("link", "add", bridge, "type", "bridge");
    ip("addr", "add", `${headIp}/24`, "dev", bridge);
    ip("link", "set", bridge, "up");
    const head = spawn(
      rayBin,
      [
        "start",
        "--head",
        "--block",
        `--node-ip-address=${headIp}`,
        `--port=${port}`,
        "--num-cpus=0",
        "--include-dashboard=true",
        `--dashboard-host=${headIp}`,
        `--temp-dir=${tempDir}`,
        "--disable-usage-stats",
      ],
      { env: rayEnv, stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(head);
    await waitForLine(head, /Ray runtime started/, "the Ray head");
    const workers: WorkerNode[] = [];
    for (let i = 1; i <= options.workers; i++) {
      const namespace = `${id}w${i}`;
      const veth = `${id}v${i}`;
      const workerIp = `${subnet}.${i + 1}`;
      ip("netns", "add", namespace);
      namespaces.push(namespace);
      ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace);
      ip("link", "set", veth, "master", bridge, "up");
      ip("netns", "exec", namespace, "ip", "addr", "add", `${workerIp}/24`, "dev", "eth0");
      ip("netns", "exec", namespace, "ip", "link", "set", "eth0", "up");
      ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up");
      const worker = spawn(
        "ip",
        [
          "netns",
          "exec",
          namespace,
          rayBin,
          "start",
          "--block",
          `--address=${headIp}:${port}`,
          `--node-ip-address=${workerIp}`,
          `--num-cpus=${options.cpusPerWorker}`,
          "--disable-usage-stats",
        ],
        { env: rayEnv, stdio: ["ignore", "pipe", "pipe"] },
      );
      children.push(worker);
      workers.push({ namespace, ip: workerIp, process: worker });
      // One at a time: nodes joining at once time out on a busy 2-core machine.
      await waitForLine(worker, /Ray runtime started/, `Ray worker ${namespace}`);
    }
    return {
      address: `${headIp}:${port}`,
      dashboard: `http://${headIp}:8265`,
      workers,
      killRaylet(i) {
        const raylet = namespaceProcesses(workers[i].namespace).find((p) => /\/raylet\/raylet /.test(p.args));
        if (!raylet) throw new Error(`no raylet in ${workers[i].namespace}`);
        process.kill(raylet.pid, "SIGKILL");
      },
      processesIn: (i) => namespaceProcesses(workers[i].namespace).map((p) => p.args),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
