/**
 * Image observations over the bridge: a uint8 Box's frames cross as bytes (protocol 3), arrive as the
 * env's values (0-255, the CNN scales them), equal gymnasium's rollout in Python, and train: PPO with
 * the small-grid CNN learns the pixel Catch fixture (`rlts_gym/CatchPixels-v0`) through the real server.
 */
import type { ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { createAlgorithm, parseRunConfig } from "../../src/algos/index.js";
import { makeRemoteVectorEnv, type RemoteVectorEnv } from "../../src/envs/remote/index.js";
import { rawClient, referenceRollout, rows, startPythonServer } from "./python.js";

const ID = "rlts_gym/CatchPixels-v0";
const open: RemoteVectorEnv[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((env) => env.close()));
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

describe("uint8 image observations over the bridge", () => {
  it("cross as uint8 frames, a byte per pixel", async () => {
    const { endpoint } = await startPythonServer(
      ["--env", ID, "--num-envs", "3", "--bind", "tcp://127.0.0.1:*"],
      children,
    );
    const raw = rawClient(endpoint!);
    const { session } = await raw.request({ cmd: "hello" });
    const reset = await raw.request({ cmd: "reset", session, seed: 0 });
    expect(reset.frames).toEqual([{ name: "obs", dtype: "uint8", shape: [3, 50] }]);
    const step = await raw.request({ cmd: "step", session }, [Buffer.from(Int32Array.of(0, 1, 2).buffer)]);
    expect(step.frames[0]).toEqual({ name: "obs", dtype: "uint8", shape: [3, 50] });
    await raw.request({ cmd: "close", session });
    raw.close();
  });

  it("arrive as the env's pixel values and equal gymnasium's rollout, final observations included", async () => {
    const env = await makeRemoteVectorEnv({ id: ID, numEnvs: 2 });
    open.push(env);
    const actions = Array.from({ length: 12 }, (_, t) => [[t % 3], [2]]);
    const ref = referenceRollout({ id: ID, numEnvs: 2, seed: 4, actions });
    const { observations } = await env.reset({ seed: 4 });
    expect(rows(observations, 2)).toEqual(ref.reset);
    expect(new Set(observations)).toEqual(new Set([0, 255]));
    let finished = 0;
    for (const [t, actionRows] of actions.entries()) {
      const r = await env.step(Int32Array.from(actionRows.flat()));
      expect(rows(r.observations, 2), `obs at step ${t}`).toEqual(ref.steps[t].obs);
      expect(Array.from(r.rewards)).toEqual(ref.steps[t].reward);
      for (const [i, obs] of Object.entries(ref.steps[t].final_obs)) {
        expect(rows(r.finalObservations, 2)[Number(i)]).toEqual(obs);
        finished++;
      }
    }
    expect(finished).toBe(2);
  });

  it("refuses observations whose dtype is not the uint8 space's, in one line (bytes would wrap them)", async () => {
    const env = await makeRemoteVectorEnv({ id: ID, numEnvs: 2, kwargs: { obs_dtype: "float32" } });
    open.push(env);
    await expect(env.reset({ seed: 0 })).rejects.toThrow(
      /^rlts_gym\/CatchPixels-v0: reset raised ValueError: observation dtype float32 is not the observation space's uint8 \(at server\.py:\d+ in flatten_box\)$/,
    );
  });

  it("PPO with the CNN learns the pixel Catch through the server (mean return 0.9 within 50k steps)", {
    timeout: 120_000,
  }, async () => {
    const config = parseRunConfig({
      algo: "PPO",
      seed: 0,
      env: { id: ID, backend: "gymnasium" },
      env_runners: { num_env_runners: 0, num_envs_per_env_runner: 8 },
      model: { hiddens: [64], activation: "relu" },
      ppo: {
        lr: 1e-3,
        lambda: 0.95,
        train_batch_size: 256,
        minibatch_size: 128,
        num_epochs: 4,
        entropy_coeff: 0.01,
        grad_clip: 0.5,
      },
    });
    const algo = await createAlgorithm(config);
    let metrics: Record<string, number> = {};
    try {
      do metrics = await algo.train();
      while (
        !(metrics["env_runners/episode_return_mean"] >= 0.9) &&
        metrics.num_env_steps_sampled_lifetime < 50_000
      );
    } finally {
      await algo.stop();
    }
    expect(metrics["env_runners/episode_return_mean"]).toBeGreaterThanOrEqual(0.9);
  });
});
