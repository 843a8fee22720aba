import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { PPO } from "../../src/algos/ppo/ppo.js";
import { registerEnv } from "../../src/envs/registry.js";
import type { StepResult } from "../../src/envs/types.js";
import { Adam } from "../../src/learner/adam.js";
import { selectBackend } from "../../src/learner/backend.js";
import { WalkEnv } from "../envs/toy-envs.js";

/** WalkEnv whose 5th step returns NaN in the reward (`where: reward`) or the observation. */
class PoisonedWalk extends WalkEnv {
  constructor(private readonly where: "reward" | "observation") {
    super();
  }

  override step(action: unknown): StepResult<Float32Array> {
    const [obs, reward, terminated, truncated, info] = super.step(action);
    if (this.steps !== 5) return [obs, reward, terminated, truncated, info];
    if (this.where === "reward") return [obs, Number.NaN, terminated, truncated, info];
    return [Float32Array.of(obs[0], Number.POSITIVE_INFINITY), reward, terminated, truncated, info];
  }
}
registerEnv("test/NaNReward-v0", () => new PoisonedWalk("reward"), { maxEpisodeSteps: 50 });
registerEnv("test/InfObservation-v0", () => new PoisonedWalk("observation"), { maxEpisodeSteps: 50 });

/** NaN and Inf never reach the loss: an env that returns one is an error naming it and the step. */
describe("non-finite values", () => {
  it.each([
    ["test/NaNReward-v0", /env test\/NaNReward-v0 \(env runner 0, sub-env \d, vector step 5\): reward NaN/],
    [
      "test/InfObservation-v0",
      /env test\/InfObservation-v0 \(env runner 0, sub-env \d, vector step 5\): observation element 1 = Infinity/,
    ],
  ])("%s: training stops with the env, the sub-env and the step", async (id, message) => {
    const ppo = await PPO.create({
      env: { id },
      env_runners: { num_envs_per_env_runner: 2 },
      ppo: { train_batch_size: 64, minibatch_size: 32 },
    });
    try {
      await expect(ppo.train()).rejects.toThrow(message);
    } finally {
      await ppo.stop();
    }
  });

  it("Adam refuses a non-finite gradient and leaves the weights as they were", async () => {
    await selectBackend("cpu");
    const weights = tf.variable(tf.tensor1d([1, 2, 3]));
    const module = {
      variables: [weights],
      getFlatWeights: () => weights.dataSync() as Float32Array,
      setFlatWeights: (flat: Float32Array) => weights.assign(tf.tensor1d(flat)),
      dispose: () => weights.dispose(),
    };
    const adam = new Adam(module, { adamEpsilon: 1e-8, gradClip: null });
    expect(() => adam.step(tf.tensor1d([0.1, Number.NaN, 0.2]), 1e-3)).toThrow(
      /learners\/grad_norm is NaN: the loss or its inputs are not finite/,
    );
    expect(Array.from(weights.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(adam.getFlatWeights())).toEqual([1, 2, 3]);
    module.dispose();
  });
});
