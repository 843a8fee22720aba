/**
 * Writes untrained policy folders in the export format (the network from `ActorCritic`, saved with the
 * checkpoint code's `saveLayersModel`), for tests that need a policy of a given shape.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { makeEnv } from "../../src/envs/registry.js";
import { type Box, Discrete } from "../../src/envs/spaces.js";
import { ActorCritic, initialFlatWeights, type PolicySpec } from "../../src/models/network.js";
import type { ObservationNormalization, PolicyMetadata } from "../../src/models/policy.js";
import { saveLayersModel } from "../../src/scheduler/checkpoint.js";

export interface RandomPolicyOptions {
  envId: string;
  seed: number;
  /** Scales the initial weights, so outputs are large enough to exercise clipping and ties are unlikely. */
  weightScale?: number;
  observationNormalization?: ObservationNormalization | null;
}

/** Saves a random actor for `envId` into `dir`; returns its flat weights and spec (for a reference forward pass). */
export async function writeRandomPolicy(
  dir: string,
  { envId, seed, weightScale = 1, observationNormalization = null }: RandomPolicyOptions,
): Promise<{ spec: PolicySpec; weights: Float32Array; metadata: PolicyMetadata }> {
  const env = makeEnv(envId);
  const { observationSpace, actionSpace } = env;
  const action =
    actionSpace instanceof Discrete
      ? { kind: "categorical" as const, n: actionSpace.n }
      : { kind: "gaussian" as const, dim: (actionSpace as Box).size };
  const spec: PolicySpec = {
    observationSpace: observationSpace.toJSON(),
    actionSpace: actionSpace.toJSON(),
    obsDim: observationSpace.flatDim,
    action,
    hiddens: [16, 16],
    activation: "tanh",
    vfShareLayers: false,
    initialLogStd: 0,
  };
  const weights = initialFlatWeights(spec, seed).map((w) => w * weightScale);
  const network = new ActorCritic(spec, weights);
  await saveLayersModel(network.actor, dir);
  network.dispose();
  const metadata: PolicyMetadata = {
    format: "rlts-policy",
    version: 1,
    algo: "PPO",
    envId,
    observationSpace: observationSpace.toJSON(),
    actionSpace: actionSpace.toJSON(),
    actionHead: action,
    observationNormalization,
  };
  await writeFile(path.join(dir, "policy.json"), JSON.stringify(metadata));
  env.close();
  return { spec, weights, metadata };
}
