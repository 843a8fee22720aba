/**
 * `env_runners.placement: ray` on a real multi-host cluster (netns_cluster.ts): a Ray head here and two
 * worker nodes in network namespaces of their own. `rlts train` runs as a user runs it, its runners are
 * Ray actors on the worker nodes, and everything they exchange with the learner crosses the bridge.
 */
import { type ChildProcess, execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { root, runCli, startCli } from "../cli/run_cli.js";
import { clusterUnavailable, type NetnsCluster, rayBin, startNetnsCluster } from "./netns_cluster.js";

const output = mkdtempSync(path.join(tmpdir(), "rlts-ray-runs-"));
afterAll(() => rmSync(output, { recursive: true, force: true }));
const unavailable = clusterUnavailable();
let cluster: NetnsCluster;

/** The newest modification time under `dir` (of files ending in `extension`). */
function newest(dir: string, extension: string): number {
  let time = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(extension)) {
      time = Math.max(time, statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return time;
}

/** The nodes run `rlts env-runner` from dist/ (as every node runs the installed rlts): build it if stale. */
function ensureBuilt(): void {
  const built = newest(path.join(root, "dist"), ".js");
  if (built < newest(path.join(root, "src"), ".ts")) {
    execFileSync("npm", ["run", "build"], { cwd: root, stdio: "ignore" });
  }
}

interface TrainRun {
  code: number | null;
  rows: Record<string, number>[];
  stderr: string;
}

/** `rlts train config` on Ray env runners, with `sets` (`key=value`) on top. */
function rayTrainArgs(config: string, sets: string[]): string[] {
  const all = ["env_runners.placement=ray", "checkpoint.frequency=0", `output=${output}`, ...sets];
  return ["train", config, ...all.flatMap((set) => ["--set", set])];
}

/** `rlts train config --json` on the cluster; `during(row, child)` sees each iteration row as it comes. */
function train(
  config: string,
  sets: string[],
  during: (row: Record<string, number>, child: ChildProcess) => void = () => {},
): Promise<TrainRun> {
  const child = startCli([
    ...rayTrainArgs(config, [`env_runners.ray.address=${cluster.address}`, ...sets]),
    "--json",
  ]);
  const rows: Record<string, number>[] = [];
  let stderr = "";
  let pending = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.includes('"training_iteration"') || line.startsWith('{"done"')) continue;
      const row = JSON.parse(line) as Record<string, number>;
      rows.push(row);
      during(row, child);
    }
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, rows, stderr })));
}

const RETURN = "env_runners/episode_return_mean";

/** No env-runner or rlts_gym process is left on any worker node, and no actor of a run is alive. */
function expectNothingLeft(): void {
  for (let i = 0; i < cluster.workers.length; i++) {
    expect(cluster.processesIn(i).filter((args) => /env-runner|rlts_gym|rlts_ray/.test(args))).toEqual([]);
  }
  expect(aliveRltsActors()).toEqual([]);
}

/** The run's actors alive on the cluster, as `ray list actors` reports them. */
function aliveRltsActors(): string[] {
  const listing = execFileSync(
    rayBin,
    [
      "list",
      "actors",
      "--address",
      cluster.dashboard,
      "--filter",
      "state=ALIVE",
      "--format",
      "json",
      "--limit",
      "1000",
    ],
    { encoding: "utf8" },
  );
  // With none at all, `ray list` says so in words rather than printing [].
  if (listing.startsWith("No resource")) return [];
  return (JSON.parse(listing) as { name: string }[])
    .map((a) => a.name)
    .filter((name) => name?.startsWith("rlts-"));
}

describe("placement ray without a cluster, or without Ray", () => {
  /** The last stderr line of a PPO run with 2 Ray runners and `sets`, which must fail. */
  async function failure(sets: string[]): Promise<string> {
    const result = await runCli(
      rayTrainArgs("configs/ppo-cartpole.yaml", ["env_runners.num_env_runners=2", ...sets]),
    );
    expect(result.code).toBe(1);
    return result.stderr.trim().split("\n").at(-1) ?? "";
  }

  it("a cluster address where nothing answers is one clear error, at once", async () => {
    const started = Date.now();
    expect(await failure(["env_runners.ray.address=127.0.0.1:9"])).toMatch(
      /^rlts: env_runners.placement ray: cannot use the Ray cluster at 127.0.0.1:9: RuntimeError: nothing answers at 127.0.0.1:9 \(Connection refused\); start the cluster/,
    );
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("a Python that does not exist is one clear error", async () => {
    expect(await failure(["env_runners.ray.python=/nonexistent/python3"])).toMatch(
      /^rlts: env_runners.placement ray: cannot start the Ray agent \(\/nonexistent\/python3\): spawn \/nonexistent\/python3 ENOENT$/,
    );
  });

  it("is one clear error saying how to install it", async () => {
    expect(await failure(["env_runners.ray.python=/usr/bin/python3"])).toMatch(
      /^rlts: env_runners.placement ray: Ray is not installed in \/usr\/bin\/python3; install it with .*requirements-ray.txt/,
    );
  });
});

describe.skipIf(unavailable !== null)(
  `placement ray on a head and two worker nodes${unavailable ? ` (skipped: ${unavailable})` : ""}`,
  () => {
    beforeAll(async () => {
      ensureBuilt();
      cluster = await startNetnsCluster({ workers: 2, cpusPerWorker: 4 });
    }, 180_000);

    afterAll(() => cluster?.stop(), 60_000);

    it("PPO CartPole with 4 Ray env runners reaches 475, one runner on each node at least", async () => {
      const seen = new Set<number>();
      const run = await train(
        "configs/ppo-cartpole.yaml",
        ["env_runners.num_env_runners=4", "env_runners.num_envs_per_env_runner=2"],
        () => {
          for (let i = 0; i < cluster.workers.length; i++) {
            if (cluster.processesIn(i).some((args) => args.includes("env-runner"))) seen.add(i);
          }
        },
      );
      expect(run.code, run.stderr).toBe(0);
      expect(run.rows.at(-1)?.[RETURN]).toBeGreaterThanOrEqual(475);
      expect([...seen].sort()).toEqual([0, 1]);
      expectNothingLeft();
    }, 300_000);

    it("DQN CartPole (async sampling) with 2 Ray env runners reaches 475", async () => {
      const run = await train("configs/dqn-cartpole.yaml", [
        "env_runners.num_env_runners=2",
        "evaluation.interval=0",
      ]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.rows.at(-1)?.[RETURN]).toBeGreaterThanOrEqual(475);
      expectNothingLeft();
    }, 400_000);

    it("SAC Pendulum (async sampling, the fused step) with 2 Ray env runners: the greedy policy reaches -200", async () => {
      // One gradient step per env step sampled (the zoo's ratio; with async runners a fragment is no longer one step).
      const run = await train("configs/sac-pendulum.yaml", [
        "env_runners.num_env_runners=2",
        "sac.training_intensity=256",
      ]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.rows.at(-1)?.["evaluation/env_runners/episode_return_mean"]).toBeGreaterThanOrEqual(-200);
      expectNothingLeft();
    }, 300_000);

    it("gymnasium backend: each Ray actor serves its vector env, runner threads here step it", async () => {
      const run = await train("configs/ppo-cartpole-gymnasium.yaml", [
        "env_runners.num_env_runners=2",
        "env_runners.num_envs_per_env_runner=4",
        "stop.training_iteration=15",
      ]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.rows).toHaveLength(15);
      expect(run.rows.at(-1)?.[RETURN]).toBeGreaterThan(run.rows[0][RETURN]);
      expectNothingLeft();
    }, 300_000);

    it("a learner killed outright leaves no runner behind: its actors and processes end within seconds", async () => {
      const run = await train(
        "configs/ppo-cartpole.yaml",
        ["env_runners.num_env_runners=2"],
        (row, child) => {
          if (row.training_iteration === 5) child.kill("SIGKILL");
        },
      );
      expect(run.code).toBe(null);
      const deadline = Date.now() + 20_000;
      let left: string[] = [];
      while (Date.now() < deadline) {
        left = cluster.workers
          .flatMap((_, i) => cluster.processesIn(i))
          .filter((args) => args.includes("env-runner"));
        if (left.length === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect(left).toEqual([]);
      expect(aliveRltsActors()).toEqual([]);
    }, 300_000);

    it("Ctrl-C stops after the iteration, and every actor and runner process ends", async () => {
      const run = await train(
        "configs/dqn-cartpole.yaml",
        ["env_runners.num_env_runners=2"],
        (row, child) => {
          if (row.training_iteration === 5) child.kill("SIGINT");
        },
      );
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toMatch(/stopped after \d+ iterations \(interrupted\)/);
      expectNothingLeft();
    }, 300_000);

    it("a runner that cannot start is one clear line, and leaves nothing behind", async () => {
      const run = await train("configs/ppo-cartpole.yaml", [
        "env_runners.num_env_runners=2",
        "env.kwargs.bogus=1",
      ]);
      expect(run.code).toBe(1);
      expect(run.stderr.trim().split("\n").at(-1)).toMatch(/^rlts: CartPole-v1: unknown kwarg "bogus"/);
      expectNothingLeft();
    }, 300_000);

    it("a lost node: its runners restart on the other, training reaches 475, nothing is left", async () => {
      let killed = false;
      const run = await train(
        "configs/ppo-cartpole.yaml",
        ["env_runners.num_env_runners=4", "env_runners.num_envs_per_env_runner=2"],
        (row) => {
          if (!killed && row.training_iteration === 20) {
            killed = true;
            cluster.killRaylet(0);
          }
        },
      );
      expect(run.code, run.stderr).toBe(0);
      expect(killed).toBe(true);
      expect(run.rows.at(-1)?.[RETURN]).toBeGreaterThanOrEqual(475);
      expect(run.rows.at(-1)?.["fault/num_worker_restarts"]).toBeGreaterThanOrEqual(1);
      expect(run.stderr).toMatch(/rollout worker \d failed \(.*\); restarting it/);
      expectNothingLeft();
    }, 400_000);
  },
);
