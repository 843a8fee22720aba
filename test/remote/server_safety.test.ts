/**
 * A Gymnasium server left listening: one client session at a time, a shared key for servers started by
 * hand, no unprotected listening beyond loopback, a request size limit, refused non-finite actions, and
 * `--module` for the user's own envs. Every test talks to a real `python -m rlts_gym`.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { parseRunConfig } from "../../src/algos/index.js";
import { makeVectorEnvFrom } from "../../src/envs/make.js";
import { makeRemoteVectorEnv, type RemoteVectorEnv } from "../../src/envs/remote/index.js";
import { evaluateCheckpoint } from "../../src/scheduler/evaluate.js";
import { train } from "../../src/scheduler/trainer.js";
import { rawClient, startPythonServer } from "./python.js";

const open: RemoteVectorEnv[] = [];
const children: ChildProcess[] = [];
const scratch = mkdtempSync(path.join(tmpdir(), "rlts-server-safety-"));
afterEach(async () => {
  await Promise.all(open.splice(0).map((env) => env.close()));
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const startServer = (args: string[]) => startPythonServer(args, children);

/**
 * Runs `body` with a Python module `name` on PYTHONPATH (in the scratch folder) that registers gymnasium's
 * CartPole as `id` with a step limit of `maxSteps`: a user's env module, which a server imports by name.
 */
async function withCartPoleModule(name: string, id: string, maxSteps: number, body: () => Promise<void>) {
  writeFileSync(
    path.join(scratch, `${name}.py`),
    `import gymnasium\ngymnasium.register(id="${id}", entry_point="gymnasium.envs.classic_control:CartPoleEnv", max_episode_steps=${maxSteps})\n`,
  );
  const previous = process.env.PYTHONPATH;
  process.env.PYTHONPATH = scratch;
  try {
    await body();
  } finally {
    if (previous === undefined) delete process.env.PYTHONPATH;
    else process.env.PYTHONPATH = previous;
  }
}

async function connect(opts: Parameters<typeof makeRemoteVectorEnv>[0]): Promise<RemoteVectorEnv> {
  const env = await makeRemoteVectorEnv({ timeoutMs: 10_000, ...opts });
  open.push(env);
  return env;
}

describe("the rlts_gym server", () => {
  it("serves one client at a time; a close ends the session, not a server started by hand", async () => {
    const { endpoint } = await startServer(["--env", "CartPole-v1", "--bind", "tcp://127.0.0.1:*"]);
    const first = await connect({ id: "CartPole-v1", address: endpoint });
    await first.reset({ seed: 0 });
    // A second client is refused while the first one's session is active: the envs are the first one's.
    await expect(connect({ id: "CartPole-v1", address: endpoint })).rejects.toThrow(
      /busy: this server serves another client/,
    );
    await first.step(Int32Array.of(1));
    await first.close();
    const second = await connect({ id: "CartPole-v1", address: endpoint });
    await second.reset({ seed: 0 });
    await second.step(Int32Array.of(0));
    // A request naming an old session is refused.
    const raw = rawClient(endpoint!);
    const stale = await raw.request({ cmd: "step", session: "0123" });
    raw.close();
    expect(stale.error.message).toMatch(/not this server's current session/);
  });

  it("a server with a key refuses clients that do not know it, and serves those that do", async () => {
    const keyFile = path.join(scratch, "key");
    writeFileSync(keyFile, "a-shared-key-of-enough-bytes\n");
    const wrongKey = path.join(scratch, "wrong-key");
    writeFileSync(wrongKey, "another-key-of-enough-bytes");
    const { endpoint } = await startServer([
      "--env",
      "CartPole-v1",
      "--bind",
      "tcp://127.0.0.1:*",
      "--key-file",
      keyFile,
    ]);
    await expect(connect({ id: "CartPole-v1", address: endpoint })).rejects.toThrow(
      /needs a shared key; set env.key_file/,
    );
    await expect(connect({ id: "CartPole-v1", address: endpoint, keyFile: wrongKey })).rejects.toThrow(
      /auth: wrong key/,
    );
    // Skipping auth gets nothing either.
    const raw = rawClient(endpoint!);
    const { session, challenge } = await raw.request({ cmd: "hello" });
    expect(challenge).toMatch(/^[0-9a-f]{32}$/);
    const refused = await raw.request({ cmd: "reset", session, seed: 0 });
    expect(refused.error.message).toMatch(/authenticate first/);
    await raw.request({ cmd: "close", session });
    raw.close();
    const env = await connect({ id: "CartPole-v1", address: endpoint, keyFile });
    const { observations } = await env.reset({ seed: 3 });
    expect(observations.length).toBe(4);
  });

  it("refuses to listen beyond loopback without a key", async () => {
    for (const bind of ["tcp://0.0.0.0:*", "tcp://*:*"]) {
      const { code, stderr, endpoint } = await startServer(["--env", "CartPole-v1", "--bind", bind]);
      expect(endpoint).toBeUndefined();
      expect(code).toBe(2);
      expect(stderr).toMatch(/listens beyond this machine: give --key-file/);
    }
  });

  it("drops an oversized request and goes on serving", async () => {
    const { endpoint } = await startServer(["--env", "CartPole-v1", "--bind", "tcp://127.0.0.1:*"]);
    const raw = rawClient(endpoint!, 1500);
    // 1 MiB where one int32 action is expected: the server disconnects the sender before reading it.
    await expect(raw.request({ cmd: "hello" }, [Buffer.alloc(1 << 20)])).rejects.toThrow();
    raw.close();
    const env = await connect({ id: "CartPole-v1", address: endpoint });
    await env.reset({ seed: 0 });
  });

  it("refuses non-finite Box actions, naming the sub-env", async () => {
    const env = await connect({ id: "Pendulum-v1", numEnvs: 2 });
    await env.reset({ seed: 0 });
    await expect(env.step(Float32Array.of(0.5, Number.NaN))).rejects.toThrow(
      /Pendulum-v1: action \[nan\] of sub-env 1 is not finite/,
    );
    await env.step(Float32Array.of(0.5, -0.5));
  });

  it("imports the user's env modules (--module) before making the env", async () => {
    await withCartPoleModule("my_rlts_envs", "MyCartPole-v0", 50, async () => {
      const env = await connect({ id: "MyCartPole-v0", modules: ["my_rlts_envs"] });
      expect(env.spec.maxEpisodeSteps).toBe(50);
    });
  });
});

describe("rlts evaluate of a Gymnasium run", () => {
  it("makes its env as training did: the run's python_modules and wrappers", {
    timeout: 60_000,
  }, async () => {
    await withCartPoleModule("my_eval_envs", "MyEvalCartPole-v0", 20, async () => {
      const { checkpoint } = await train(
        parseRunConfig({
          algo: "PPO",
          name: "eval-modules",
          output: scratch,
          env: {
            id: "MyEvalCartPole-v0",
            backend: "gymnasium",
            python_modules: ["my_eval_envs"],
            wrappers: [{ name: "TimeAwareObservation", kwargs: {} }],
          },
          ppo: { train_batch_size: 64, minibatch_size: 32, num_epochs: 1 },
          stop: { training_iteration: 1 },
        }),
        { mode: "quiet" },
      );
      const result = await evaluateCheckpoint(checkpoint!, { episodes: 2, seed: 0 });
      // The policy's input has the wrapper's extra time feature; the env's registered limit holds.
      expect(result.lengths.every((n) => n <= 20)).toBe(true);
    });
  });
});

describe("gymnasium.wrappers from the config", () => {
  it("are applied on the server, first to last", async () => {
    const stacked = await connect({
      id: "CartPole-v1",
      numEnvs: 2,
      wrappers: [
        { name: "TimeAwareObservation", kwargs: {} },
        { name: "FrameStackObservation", kwargs: { stack_size: 3 } },
      ],
    });
    // CartPole's 4 numbers plus the time, stacked 3 times.
    expect(stacked.obsDim).toBe(15);
    const { observations } = await stacked.reset({ seed: 0 });
    // Gymnasium pads the stack with the reset observation: three equal frames, each ending in time 0.
    const frames = [0, 1, 2].map((k) => Array.from(observations.subarray(5 * k, 5 * k + 5)));
    expect(frames[1]).toEqual(frames[0]);
    expect(frames[2]).toEqual(frames[0]);
    expect(frames[0][4]).toBe(0);
    const step = await stacked.step(Int32Array.of(0, 1));
    // After a step the newest frame moves on and the time is 1.
    expect(step.observations[14]).toBe(1);
    expect(Array.from(step.observations.subarray(5, 10))).toEqual(frames[0]);
  });

  it("are refused for a built-in env, which has no Python side", async () => {
    const env = parseRunConfig({
      algo: "PPO",
      env: { id: "CartPole-v1", wrappers: [{ name: "TimeAwareObservation" }] },
    }).env;
    await expect(makeVectorEnvFrom(env, 1)).rejects.toThrow(
      /env.wrappers applies to Python envs \(env.backend: gymnasium\); env CartPole-v1 is built in/,
    );
  });

  it("a name that is not a gymnasium wrapper fails the env's start, naming it", async () => {
    await expect(connect({ id: "CartPole-v1", wrappers: [{ name: "NoSuchWrapper" }] })).rejects.toThrow(
      /--wrappers\[0\]: \{"name": "NoSuchWrapper"\} does not name a class in gymnasium.wrappers/,
    );
  });
});
