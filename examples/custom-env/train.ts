/**
 * Library use: train PPO on a custom env from your own code (run: npx tsx examples/custom-env/train.ts).
 * The same run from the command line: rlts train examples/custom-env/config.yaml
 */
import { checkEnv, makeEnv, PPO } from "rlts";
import "./my-env.js"; // registers PointToOrigin-v0

// Gymnasium's env checker, for your own env: spaces, seeding, shapes, finite values.
checkEnv(makeEnv("PointToOrigin-v0"));

// The run config's sections, as in a YAML config; PPO.create validates it and fills in the defaults.
const ppo = await PPO.create({
  seed: 1,
  env: { id: "PointToOrigin-v0", kwargs: { start: 4 } },
  env_runners: { num_envs_per_env_runner: 8 },
  ppo: { train_batch_size: 512, minibatch_size: 128, num_epochs: 4, lr: 1e-3 },
});
for (let iteration = 1; iteration <= 15; iteration++) {
  const metrics = await ppo.train();
  console.log(`iteration ${iteration}: return ${metrics["env_runners/episode_return_mean"].toFixed(2)}`);
}
console.log("greedy evaluation:", await ppo.evaluate(10));
await ppo.stop();
