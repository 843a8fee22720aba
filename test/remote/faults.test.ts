/**
 * What goes wrong with a remote env, against real servers: Python exceptions, timeouts, a killed server,
 * a protocol mismatch, a missing Python, and servers that must not outlive their client.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path, { dirname } from "node:path";
import { describe, expect, it } from "vitest";
import { Request } from "zeromq";
import { ppoRunConfigSchema } from "../../src/algos/ppo/config.js";
import { PPO } from "../../src/algos/ppo/ppo.js";
import { makeRemoteVectorEnv, PROTOCOL_VERSION, RemoteEnvError } from "../../src/envs/remote/index.js";
import { EnvRunnerActorGroup } from "../../src/rollout/actor_group.js";
import { onPolicyRunnerConfig } from "../../src/rollout/env_runner.js";
import {
  bindOf,
  closedAfterEachTest,
  exitOf,
  isRunning,
  pythonEnv,
  root,
  venvPython,
  waitUntil,
} from "./python.js";

const { vectorEnv, children } = closedAfterEachTest();

/** Starts `python -m rlts_gym` by hand and resolves with its endpoint once it is ready. */
async function startServer(args: string[]): Promise<[ChildProcess, string]> {
  const child = spawn(venvPython(), ["-m", "rlts_gym", ...args], {
    cwd: root,
    env: pythonEnv(),
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  const endpoint = await new Promise<string>((resolve, reject) => {
    let seen = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /RLTS_GYM_READY (\S+)/.exec(seen);
      if (match) resolve(match[1]);
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code} before it was ready`)));
  });
  return [child, endpoint];
}

describe("remote env faults", () => {
  it("a Python exception in step becomes a RemoteEnvError with type, message and traceback; the env stays usable", async () => {
    const env = await vectorEnv({ id: "rlts_gym/Raises-v0", numEnvs: 2, kwargs: { raise_at: 3 } });
    await env.reset({ seed: 0 });
    await env.step(Int32Array.of(0, 1));
    await env.step(Int32Array.of(0, 1));
    const err = await env.step(Int32Array.of(0, 1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteEnvError);
    const remote = err as RemoteEnvError;
    expect(remote.pythonType).toBe("ValueError");
    expect(remote.message).toMatch(
      /^rlts_gym\/Raises-v0: step raised ValueError in sub-env 0: Raises-v0: deliberate failure at step 3 \(at fixtures\.py:\d+ in step\)$/,
    );
    expect(remote.subEnv).toBe(0);
    expect(remote.traceback).toMatch(/fixtures\.py", line \d+, in step/);
    await env.reset({ seed: 0 });
    await env.step(Int32Array.of(1, 1));
  });

  it.each(["shm", "ipc"] as const)(
    "a request that outlives timeoutMs fails naming the command and timeout, and closes the env (%s)",
    async (transport) => {
      const env = await vectorEnv({
        id: "rlts_gym/Slow-v0",
        kwargs: { delay_s: 3 },
        timeoutMs: 1500,
        transport,
      });
      await env.reset();
      const pid = env.serverPid!;
      const started = Date.now();
      await expect(env.step(Float32Array.of(0.5))).rejects.toThrow(
        new RegExp(
          `rlts_gym/Slow-v0: no reply to "step" from ${transport}://\\S+ within 1500 ms; the connection is closed`,
        ),
      );
      expect(Date.now() - started).toBeLessThan(2900);
      await expect(env.reset()).rejects.toThrow(/no reply to "step" from \S+ within 1500 ms/);
      expect(await waitUntil(() => !isRunning(pid), 5000)).toBe(true);
    },
  );

  it.each(["shm", "ipc"] as const)(
    "a server killed during a step rejects the pending step with the env id and the signal (%s)",
    async (transport) => {
      const env = await vectorEnv({ id: "rlts_gym/Slow-v0", kwargs: { delay_s: 20 }, transport });
      await env.reset();
      const pending = env.step(Float32Array.of(0));
      setTimeout(() => process.kill(env.serverPid!, "SIGKILL"), 300);
      const started = Date.now();
      await expect(pending).rejects.toThrow(
        /rlts_gym server for rlts_gym\/Slow-v0 \(pid \d+\) was killed by signal SIGKILL/,
      );
      expect(Date.now() - started).toBeLessThan(5000);
    },
  );

  it.each(["shm", "ipc"] as const)(
    "a server killed between steps fails the next step the same way (%s)",
    async (transport) => {
      const env = await vectorEnv({ id: "CartPole-v1", numEnvs: 4, transport });
      await env.reset({ seed: 1 });
      await env.step(new Int32Array(4));
      process.kill(env.serverPid!, "SIGKILL");
      await expect(env.step(new Int32Array(4))).rejects.toThrow(
        /server for CartPole-v1 .*killed by signal SIGKILL/,
      );
      await expect(env.step(new Int32Array(4))).rejects.toThrow(/SIGKILL/);
    },
  );

  it("the server refuses another protocol version, naming both; a client on the address still works", async () => {
    const [child, endpoint] = await startServer([
      "--env",
      "CartPole-v1",
      "--num-envs",
      "2",
      "--bind",
      "tcp://127.0.0.1:*",
    ]);
    const socket = new Request({ linger: 0, receiveTimeout: 10_000 });
    socket.connect(endpoint);
    await socket.send(JSON.stringify({ cmd: "hello", protocol: 999 }));
    const [reply] = await socket.receive();
    socket.close();
    const { error } = JSON.parse(reply.toString());
    expect(error.type).toBe("ProtocolError");
    expect(error.message).toMatch(
      new RegExp(`client speaks rlts_gym protocol 999, this server speaks protocol ${PROTOCOL_VERSION}`),
    );

    await expect(makeRemoteVectorEnv({ id: "CartPole-v1", address: endpoint, numEnvs: 3 })).rejects.toThrow(
      /asked for 3 envs, the server at tcp:\/\/127\.0\.0\.1:\d+ has 2/,
    );
    // A config naming another env is refused, not trained on the server's env.
    await expect(makeRemoteVectorEnv({ id: "Acrobot-v1", address: endpoint })).rejects.toThrow(
      /the server at tcp:\/\/127\.0\.0\.1:\d+ serves "CartPole-v1", not "Acrobot-v1"/,
    );
    // A bad seed is refused before any env is reset, and the server goes on serving.
    const raw = new Request({ linger: 0, receiveTimeout: 10_000 });
    raw.connect(endpoint);
    const request = async (header: Record<string, unknown>) => {
      await raw.send(JSON.stringify({ protocol: PROTOCOL_VERSION, ...header }));
      return JSON.parse((await raw.receive())[0].toString());
    };
    const { session } = await request({ cmd: "hello" });
    const refused = await request({ cmd: "reset", session, seed: 1.5 });
    expect(refused.error.message).toMatch(/seed must be a non-negative integer or null, got 1.5/);
    await request({ cmd: "close", session });
    raw.close();
    const env = await vectorEnv({ id: "CartPole-v1", address: endpoint });
    expect(env.serverPid).toBeUndefined();
    await env.reset({ seed: 0 });
    await env.step(Int32Array.of(0, 1));
    await env.close();
    // Started by hand, it serves the next client after a close; SIGTERM ends it.
    expect(child.exitCode).toBeNull();
    child.kill("SIGTERM");
    expect(await exitOf(child)).toBe(0);
  });

  it("close leaves no process and no socket file behind (ipc)", async () => {
    const env = await vectorEnv({ id: "CartPole-v1", numEnvs: 2, transport: "ipc" });
    const pid = env.serverPid!;
    const socketFile = bindOf(pid).replace("ipc://", "");
    expect(existsSync(socketFile)).toBe(true);
    await env.close();
    expect(isRunning(pid)).toBe(false);
    expect(existsSync(dirname(socketFile))).toBe(false);
    await env.close();
    await expect(env.step(new Int32Array(2))).rejects.toThrow(/CartPole-v1 is closed/);
  });

  it("a client that exits without closing its env leaves no socket folder, even if its server cannot clean up (ipc)", async () => {
    venvPython();
    // A client process that makes a remote env, prints its socket, and exits at once.
    const script = [
      'const { makeRemoteVectorEnv } = await import("./src/envs/remote/index.ts");',
      'const env = await makeRemoteVectorEnv({ id: "CartPole-v1", transport: "ipc" });',
      'const cmdline = "/proc/" + env.serverPid + "/cmdline";',
      'const args = (await import("node:fs")).readFileSync(cmdline, "utf8").split("\\0");',
      'console.log(JSON.stringify({ pid: env.serverPid, bind: args[args.indexOf("--bind") + 1] }));',
      // A server that cannot clean up after itself in time (stopped here; killed or slow elsewhere).
      'process.kill(env.serverPid, "SIGSTOP");',
      "process.exit(0);",
    ].join("\n");
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    expect(await exitOf(child)).toBe(0);
    const { pid, bind } = JSON.parse(out.trim().split("\n").at(-1)!) as { pid: number; bind: string };
    expect(bind).toMatch(/^ipc:\/\//);
    try {
      expect(existsSync(dirname(bind.replace("ipc://", "")))).toBe(false);
    } finally {
      // Resumed, it takes the SIGTERM its client sent on exit.
      process.kill(pid, "SIGCONT");
    }
    expect(await waitUntil(() => !isRunning(pid), 5000)).toBe(true);
  });

  it("a server whose parent dies exits by itself, removing its socket folder", async () => {
    const parent = spawn("sleep", ["60"]);
    children.push(parent);
    // The folder rlts makes for a server's ipc socket: nobody else is left to remove it.
    const folder = mkdtempSync(path.join(tmpdir(), "rlts-gym-"));
    const [server] = await startServer([
      "--env",
      "CartPole-v1",
      "--bind",
      `ipc://${path.join(folder, "env.sock")}`,
      "--parent-pid",
      String(parent.pid),
    ]);
    parent.kill("SIGKILL");
    const started = Date.now();
    expect(await exitOf(server)).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(existsSync(folder)).toBe(false);
  });

  it("SIGTERM stops a server cleanly and removes its ipc socket", async () => {
    const socketPath = `/tmp/rlts-gym-test-${process.pid}.sock`;
    const [server] = await startServer(["--env", "CartPole-v1", "--bind", `ipc://${socketPath}`]);
    expect(existsSync(socketPath)).toBe(true);
    server.kill("SIGTERM");
    expect(await exitOf(server)).toBe(0);
    expect(existsSync(socketPath)).toBe(false);
  });

  it("bad setups fail with clear errors", async () => {
    await expect(makeRemoteVectorEnv({ id: "CartPole-v1", python: "/nonexistent/python3" })).rejects.toThrow(
      /cannot start \/nonexistent\/python3 .*npm run setup:python/,
    );
    venvPython();
    await expect(makeRemoteVectorEnv({ id: "NoSuchEnv-v9" })).rejects.toThrow(
      /rlts_gym server for NoSuchEnv-v9 \(pid \d+\) exited with code 2[\s\S]*cannot make 'NoSuchEnv-v9': NameNotFound/,
    );
    await expect(makeRemoteVectorEnv({ id: "CartPole-v1", numEnvs: 0 })).rejects.toThrow(
      /numEnvs must be an integer >= 1, got 0/,
    );
    const env = await vectorEnv({ id: "CartPole-v1", numEnvs: 2 });
    await env.reset();
    await expect(env.step(new Int32Array(3))).rejects.toThrow(
      /step expects 2 action values \(2 envs x 1 for Discrete\(2\)\), got 3/,
    );
    await expect(env.step(Float32Array.of(0.5, 1))).rejects.toThrow(
      /action 0.5 of sub-env 0 is not an integer/,
    );
    await expect(env.step(Int32Array.of(0, 7))).rejects.toThrow(
      /action \[7\] of sub-env 1 is not in Discrete\(2\)/,
    );
  });
});

describe("runner threads with a failing Gymnasium env", () => {
  /** Python servers that are children of this process. */
  function servers(): number {
    const out = execFileSync("ps", ["--ppid", String(process.pid), "-o", "args="], { encoding: "utf8" });
    return out.split("\n").filter((line) => line.includes("rlts_gym")).length;
  }

  it("closes each failed runner's server, and stops after the same error three times", {
    timeout: 60_000,
  }, async () => {
    venvPython();
    const before = servers();
    const config = ppoRunConfigSchema.parse({
      env: { id: "rlts_gym/Raises-v0", backend: "gymnasium", kwargs: { raise_at: 5 } },
      env_runners: { num_env_runners: 1, num_envs_per_env_runner: 2 },
      ppo: { train_batch_size: 32, minibatch_size: 16 },
    });
    const group = await EnvRunnerActorGroup.create(onPolicyRunnerConfig(config, config.ppo));
    try {
      await expect(group.sample()).rejects.toThrow(/3 times in a row .*deliberate failure at step 5/);
      expect(group.numWorkerRestarts).toBe(2);
    } finally {
      await group.stop();
    }
    // Every replaced runner's server was closed, not only the last runner's.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(servers()).toBe(before);
  });
});

describe("a Python env server that dies under a main-thread runner", () => {
  it("is replaced like a dead runner thread, and training goes on", { timeout: 60_000 }, async () => {
    venvPython();
    const ppo = await PPO.create({
      env: { id: "CartPole-v1", backend: "gymnasium" },
      env_runners: { num_env_runners: 0, num_envs_per_env_runner: 2 },
      learner: { backend: "cpu" },
      ppo: { train_batch_size: 64, minibatch_size: 32, num_epochs: 1 },
    });
    try {
      await ppo.train();
      const [pid] = execFileSync("ps", ["--ppid", String(process.pid), "-o", "pid=,args="], {
        encoding: "utf8",
      })
        .split("\n")
        .filter((line) => line.includes("rlts_gym"))
        .map((line) => Number(line.trim().split(/\s+/)[0]));
      process.kill(pid, "SIGKILL");
      const result = await ppo.train();
      expect(result["fault/num_worker_restarts"]).toBe(1);
      expect(result.num_env_steps_sampled_lifetime).toBe(128);
    } finally {
      await ppo.stop();
    }
  });
});
