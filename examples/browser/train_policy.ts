/**
 * Trains the demo's CartPole-v1 policy and writes it to examples/browser/policy/ in the export format:
 *   npx tsx examples/browser/train_policy.ts
 * rl-zoo's PPO settings for CartPole (as test/algos/ppo_learning.test.ts); training stops once the greedy
 * policy scores at least 495 over 20 evaluation episodes (CartPole-v1 is solved at 475; 500 is the maximum).
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PPO } from "../../src/algos/ppo/ppo.js";
import { runConfigSchema } from "../../src/config/schema.js";
import { makeEnv } from "../../src/envs/registry.js";
import type { PolicyMetadata } from "../../src/models/policy.js";
import { saveLayersModel } from "../../src/scheduler/checkpoint.js";

const ENV_ID = "CartPole-v1";
const TARGET_GREEDY_RETURN = 495;
const MAX_ENV_STEPS = 300_000;
const outDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "policy");

const config = runConfigSchema.parse({
  algo: "PPO",
  seed: 0,
  env: { id: ENV_ID },
  learner: { backend: "wasm" },
  env_runners: { num_envs_per_env_runner: 8 },
  ppo: {
    train_batch_size: 256,
    minibatch_size: 128,
    num_epochs: 10,
    lambda: 0.8,
    gamma: 0.98,
    lr: [
      [0, 1e-3],
      [MAX_ENV_STEPS, 0],
    ],
  },
});

const ppo = await PPO.create(config);
let greedyReturn = 0;
for (;;) {
  const metrics = await ppo.train();
  const steps = metrics.num_env_steps_sampled_lifetime;
  const trainReturn = metrics["env_runners/episode_return_mean"];
  // Greedy evaluation is costly (up to 10k steps): only once the sampled episodes are near the maximum.
  if (trainReturn >= 450)
    greedyReturn = (await ppo.evaluate(20))["evaluation/env_runners/episode_return_mean"];
  console.log(`steps ${steps}  return ${trainReturn.toFixed(1)}  greedy ${greedyReturn.toFixed(1)}`);
  if (greedyReturn >= TARGET_GREEDY_RETURN) break;
  if (steps >= MAX_ENV_STEPS)
    throw new Error(`no greedy return of ${TARGET_GREEDY_RETURN} within ${MAX_ENV_STEPS} steps`);
}

const env = makeEnv(ENV_ID);
const metadata: PolicyMetadata = {
  format: "rlts-policy",
  version: 1,
  algo: "PPO",
  envId: ENV_ID,
  observationSpace: env.observationSpace.toJSON(),
  actionSpace: env.actionSpace.toJSON(),
  actionHead: { kind: "categorical", n: 2 },
  observationNormalization: null,
};
await saveLayersModel(ppo.policyModel, outDir);
await writeFile(path.join(outDir, "policy.json"), `${JSON.stringify(metadata, null, 2)}\n`);
await ppo.stop();
console.log(`wrote ${outDir} (greedy return ${greedyReturn})`);
