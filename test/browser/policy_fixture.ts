/**
 * Writes untrained policy folders in the export format (the network from `policyLayersModel`, saved with
 * `saveLayersModel`), for tests that need a policy of a given shape.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { makeEnv } from "../../src/envs/registry.js";
import {
  initialWeights,
  type ModuleRequest,
  type ModuleSpec,
  moduleSpecFor,
} from "../../src/models/catalog.js";
import { policyActionHead, policyLayersModel } from "../../src/models/export.js";
import type { ObservationNormalization, PolicyMetadata } from "../../src/models/policy.js";
import { saveLayersModel } from "../../src/models/policy_node.js";

export interface RandomPolicyOptions {
  envId: string;
  seed: number;
  /** Scales the initial weights, so outputs are large enough to exercise clipping and ties are unlikely. */
  weightScale?: number;
  observationNormalization?: ObservationNormalization | null;
  /**
   * `actor_critic` (PPO's module, the default), a dueling Q module (DQN's, Discrete actions only) or a
   * squashed-Gaussian actor (SAC's, bounded Box actions only).
   */
  module?: "actor_critic" | "dueling_q" | "squashed_gaussian";
}

const MODEL = { hiddens: [16, 16], activation: "tanh", vf_share_layers: false, initial_log_std: 0 } as const;

/** Saves a random policy for `envId` into `dir`; returns its flat weights and spec (for a reference forward pass). */
export async function writeRandomPolicy(
  dir: string,
  {
    envId,
    seed,
    weightScale = 1,
    observationNormalization = null,
    module = "actor_critic",
  }: RandomPolicyOptions,
): Promise<{ spec: ModuleSpec; weights: Float32Array; metadata: PolicyMetadata }> {
  const env = makeEnv(envId);
  const { observationSpace, actionSpace } = env;
  const model = { ...MODEL, hiddens: [...MODEL.hiddens] };
  const requests: Record<typeof module, ModuleRequest> = {
    actor_critic: { type: "actor_critic", model },
    dueling_q: { type: "q", model, headHiddens: [8], dueling: true },
    squashed_gaussian: { type: "squashed_gaussian_actor", model, noiseCorrelation: 0 },
  };
  const request = requests[module];
  const spec = moduleSpecFor(observationSpace, actionSpace, request);
  const weights = initialWeights(spec, seed).map((w) => w * weightScale);
  const network = policyLayersModel(spec, weights);
  await saveLayersModel(network, dir);
  network.dispose();
  const actionHead = policyActionHead(spec.head);
  const metadata: PolicyMetadata = {
    format: "rlts-policy",
    version: 1,
    algo: { actor_critic: "PPO", dueling_q: "DQN", squashed_gaussian: "SAC" }[module],
    envId,
    observationSpace: observationSpace.toJSON(),
    actionSpace: actionSpace.toJSON(),
    actionHead,
    observationNormalization,
  };
  await writeFile(path.join(dir, "policy.json"), JSON.stringify(metadata));
  env.close();
  return { spec, weights, metadata };
}
