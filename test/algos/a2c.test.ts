import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { a2cLoss, a2cLossWithGradients } from "../../src/algos/a2c/loss.js";
import { createAlgorithm, loadRunConfig } from "../../src/algos/index.js";
import { Box, Dict, Discrete, MultiBinary, MultiDiscrete, type Space, Tuple } from "../../src/envs/spaces.js";
import { selectBackend } from "../../src/learner/backend.js";
import { initialWeights, moduleSpecFor } from "../../src/models/catalog.js";
import { ActorCritic } from "../../src/models/rl_module.js";
import { randomObsAndActions } from "../fixtures/random_batch.js";

/**
 * A2C's hand-derived gradient (`a2cLossWithGradients` + `ActorCritic.forwardWithBackward`) against tfjs
 * autodiff through `forward` and the readable `a2cLoss`, and the shipped CartPole config reaching 475.
 */
const batch = 40;

function gradients(actionSpace: Space, vfShareLayers: boolean) {
  const model = {
    hiddens: [16, 8],
    activation: "tanh" as const,
    vf_share_layers: vfShareLayers,
    initial_log_std: -0.2,
  };
  const spec = moduleSpecFor(new Box(-5, 5, [4]), actionSpace, { type: "actor_critic", model });
  const module = new ActorCritic(spec, initialWeights(spec, 3));
  const { obs, actions, random } = randomObsAndActions(spec, batch, 5);
  const advantages = tf.tensor1d(random(batch));
  const returns = tf.tensor1d(random(batch));
  const coeffs = { vfLossCoeff: 0.5, entropyCoeff: 0.01 };
  const { grads } = tf.variableGrads(() => {
    const { policyOut, values } = module.forward(obs);
    return a2cLoss({ dist: module.distribution(policyOut), actions, advantages, values, returns, ...coeffs });
  }, module.variables);
  const reference = tf.concat(module.variables.map((v) => tf.reshape(grads[v.name], [-1]))).dataSync();
  const { policyOut, values, backward } = module.forwardWithBackward(obs);
  const loss = a2cLossWithGradients({
    dist: module.distribution(policyOut),
    actions,
    advantages,
    values,
    returns,
    ...coeffs,
  });
  const handDerived = backward(loss.dPolicyOut, loss.dValues, loss.dLogStd).dataSync();
  module.dispose();
  return { reference, handDerived };
}

describe("A2C", () => {
  afterAll(() => tf.disposeVariables());

  it.each([
    ["categorical, separate trunks", new Discrete(3), false],
    ["Gaussian, shared trunk", new Box(-1, 1, [2]), true],
    [
      "composite Dict{Discrete, Box, MultiBinary}, separate trunks",
      new Dict({ pick: new Discrete(3, 1), force: new Box(-1, 1, [2]), bits: new MultiBinary(2) }),
      false,
    ],
    [
      "composite Tuple{MultiDiscrete, Box}, shared trunk",
      new Tuple([new MultiDiscrete([2, 3]), new Box(-1, 1, [1])]),
      true,
    ],
  ])("hand-derived loss gradient equals autodiff through a2cLoss (%s)", async (_name, space, shared) => {
    await selectBackend("cpu");
    const { reference, handDerived } = gradients(space, shared);
    expect(handDerived.length).toBe(reference.length);
    let worst = 0;
    for (let i = 0; i < reference.length; i++)
      worst = Math.max(worst, Math.abs(handDerived[i] - reference[i]));
    expect(worst).toBeLessThan(1e-5);
    expect(Math.max(...Array.from(reference, Math.abs))).toBeGreaterThan(1e-3);
  });

  it("configs/a2c-cartpole.yaml reaches a mean return of 475 (seed 0)", { timeout: 120_000 }, async () => {
    const a2c = await createAlgorithm(loadRunConfig("configs/a2c-cartpole.yaml"));
    try {
      let result: Record<string, number> = {};
      while ((result.num_env_steps_sampled_lifetime ?? 0) < 200_000) {
        result = await a2c.train();
        if (result["env_runners/episode_return_mean"] >= 475) break;
      }
      expect(result["env_runners/episode_return_mean"]).toBeGreaterThanOrEqual(475);
    } finally {
      await a2c.stop();
    }
  });
});
