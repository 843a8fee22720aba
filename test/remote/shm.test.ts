/**
 * The shm transport against the real server: the default for spawned servers here, its file in /dev/shm
 * gone as soon as both sides mapped it (and on every way out), messages larger than the file's areas, an
 * event loop that keeps running while a step is pending, and servers that die.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { RemoteEnvError } from "../../src/envs/remote/index.js";
import { ServerProcess } from "../../src/envs/remote/server-process.js";
import {
  bindOf,
  closedAfterEachTest,
  exitOf,
  isRunning,
  referenceRollout,
  rows,
  startPythonServer,
  venvPython,
  waitUntil,
} from "./python.js";

const { vectorEnv, children } = closedAfterEachTest();

const shmPath = () => `/dev/shm/rlts-gym-test-${process.pid}-${Math.random().toString(16).slice(2)}`;

describe("the shm transport", () => {
  it("is what a spawned server gets by default; its file is gone once both sides have mapped it", async () => {
    const env = await vectorEnv({ id: "CartPole-v1", numEnvs: 2 });
    const pid = env.serverPid!;
    const bind = bindOf(pid);
    expect(bind).toMatch(/^shm:\/\/\/dev\/shm\/rlts-gym-\d+-[0-9a-f]+$/);
    const path = bind.slice("shm://".length);
    expect(existsSync(path)).toBe(false);
    await env.reset({ seed: 0 });
    await env.step(Int32Array.of(0, 1));
    await env.close();
    expect(isRunning(pid)).toBe(false);
    expect(existsSync(path)).toBe(false);
    await expect(env.step(Int32Array.of(0, 1))).rejects.toThrow(/CartPole-v1 is closed/);
  });

  it("carries a request and a reply larger than the file's areas (the file grows), and goes on stepping right", async () => {
    const env = await vectorEnv({ id: "CartPole-v1", numEnvs: 3, transport: "shm" });
    // A request of 300 KB (the request area starts at 64 KiB): CartPole ignores options it does not know.
    await env.reset({ seed: 1, options: { padding: "x".repeat(300_000) } });
    // A reply of 400 KB (the reply area starts near 64 KiB): the server's error quotes the refused options.
    const err = await env.reset({ options: "y".repeat(400_000) as never }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteEnvError);
    expect((err as RemoteEnvError).message).toMatch(
      /^CartPole-v1: reset raised ProtocolError: .*options must be an object or null, got "y{400000}"/,
    );
    // Both sides now use the larger areas: a seeded rollout still equals gymnasium's.
    const actions = Array.from({ length: 30 }, (_, t) => [[t % 2], [1], [0]]);
    const ref = referenceRollout({ id: "CartPole-v1", numEnvs: 3, seed: 5, actions });
    const { observations } = await env.reset({ seed: 5 });
    expect(rows(observations, 3)).toEqual(ref.reset);
    for (const [t, actionRows] of actions.entries()) {
      const r = await env.step(Int32Array.from(actionRows.flat()));
      expect(rows(r.observations, 3), `obs at step ${t}`).toEqual(ref.steps[t].obs);
      for (const [i, obs] of Object.entries(ref.steps[t].final_obs)) {
        expect(rows(r.finalObservations, 3)[Number(i)]).toEqual(obs);
      }
    }
  });

  /** Timer ticks (every 5 ms) while `run` runs, and the longest gap between two. */
  async function ticksDuring(run: () => Promise<void>): Promise<{ ticks: number; longestGap: number }> {
    const ticks: number[] = [];
    const started = performance.now();
    const timer = setInterval(() => ticks.push(performance.now()), 5);
    try {
      await run();
    } finally {
      clearInterval(timer);
    }
    const times = [started, ...ticks, performance.now()];
    return { ticks: ticks.length, longestGap: Math.max(...times.slice(1).map((t, k) => t - times[k])) };
  }

  it("keeps the event loop running while a step is pending (timers fire, no long block)", async () => {
    const env = await vectorEnv({ id: "rlts_gym/Slow-v0", kwargs: { delay_s: 1 }, transport: "shm" });
    await env.reset();
    const { ticks, longestGap } = await ticksDuring(async () => {
      await env.step(Float32Array.of(0));
    });
    expect(ticks).toBeGreaterThan(20);
    // A blocking wait lasts at most 20 ms; a noisy machine may add to it, never a second.
    expect(longestGap).toBeLessThan(200);
  });

  it("keeps the event loop running through a loop of fast steps (replies caught spinning)", async () => {
    const env = await vectorEnv({ id: "CartPole-v1", numEnvs: 1, transport: "shm" });
    await env.reset({ seed: 0 });
    const { ticks, longestGap } = await ticksDuring(async () => {
      for (let t = 0; t < 8000; t++) await env.step(Int32Array.of(t % 2));
    });
    expect(ticks).toBeGreaterThan(5);
    expect(longestGap).toBeLessThan(200);
  });

  it("a server killed before its client mapped the file leaves no file", async () => {
    venvPython();
    const [server, endpoint] = await ServerProcess.start({
      id: "CartPole-v1",
      numEnvs: 1,
      kwargs: {},
      transport: "shm",
      timeoutMs: 30_000,
      modules: [],
      wrappers: [],
    });
    const path = endpoint.slice("shm://".length);
    expect(existsSync(path)).toBe(true);
    process.kill(server.pid!, "SIGKILL");
    await server.exited.catch(() => {});
    expect(existsSync(path)).toBe(false);
  });

  it("a server killed during a step fails the step at once and leaves no file", async () => {
    const env = await vectorEnv({ id: "rlts_gym/Slow-v0", kwargs: { delay_s: 20 }, transport: "shm" });
    const path = bindOf(env.serverPid!).slice("shm://".length);
    await env.reset();
    const pending = env.step(Float32Array.of(0));
    setTimeout(() => process.kill(env.serverPid!, "SIGKILL"), 300);
    const started = Date.now();
    await expect(pending).rejects.toThrow(
      /^rlts_gym server for rlts_gym\/Slow-v0 \(pid \d+\) was killed by signal SIGKILL/,
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expect(existsSync(path)).toBe(false);
  });

  it("a server started by hand removes its file on SIGTERM, and when its parent dies", async () => {
    venvPython();
    const path = shmPath();
    const started = await startPythonServer(
      ["--env", "CartPole-v1", "--bind", `shm://${path}`, "--parent-pid", String(process.pid)],
      children,
    );
    expect(started.endpoint).toBe(`shm://${path}`);
    expect(existsSync(path)).toBe(true);
    started.child.kill("SIGTERM");
    expect(await exitOf(started.child)).toBe(0);
    expect(existsSync(path)).toBe(false);

    const parent = spawn("sleep", ["60"]);
    children.push(parent);
    const orphanPath = shmPath();
    const orphan = await startPythonServer(
      ["--env", "CartPole-v1", "--bind", `shm://${orphanPath}`, "--parent-pid", String(parent.pid)],
      children,
    );
    expect(existsSync(orphanPath)).toBe(true);
    parent.kill("SIGKILL");
    expect(await exitOf(orphan.child)).toBe(0);
    expect(await waitUntil(() => !existsSync(orphanPath), 1000)).toBe(true);
  });

  // A tmpfs of one page stands for a full /dev/shm: mounting one needs root.
  it.skipIf(process.getuid?.() !== 0)(
    "a full /dev/shm is one clear line from the server, which leaves no file behind",
    async () => {
      venvPython();
      const mount = mkdtempSync(path.join(tmpdir(), "rlts-full-shm-"));
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=4k", "tmpfs", mount]);
      try {
        const result = await startPythonServer(
          ["--env", "CartPole-v1", "--bind", `shm://${mount}/file`, "--parent-pid", String(process.pid)],
          children,
        );
        expect(result.code).toBe(2);
        expect(result.stderr.trim().split("\n").at(-1)).toMatch(
          /^rlts_gym: cannot serve on shm:\/\/.*: shm transport: cannot make .* bytes long: No space left on device$/,
        );
        expect(readdirSync(mount)).toEqual([]);
      } finally {
        // Lazily: a server that (wrongly) started still holds the file until afterEach kills it.
        execFileSync("umount", ["-l", mount]);
        rmSync(mount, { recursive: true, force: true });
      }
    },
  );

  it("the server refuses shm:// without --parent-pid (nobody else could connect)", async () => {
    venvPython();
    const result = await startPythonServer(
      ["--env", "CartPole-v1", "--bind", `shm://${shmPath()}`],
      children,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /--bind shm:\/\/… serves the process that spawned the server: give --parent-pid/,
    );
  });
});
