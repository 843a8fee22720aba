import { runConfigSchema } from "/work/main/src/config/schema.js";
import { PPO } from "/work/main/src/algos/ppo/ppo.js";
const [envId, target, maxSteps, seed, json] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]), process.argv[6]];
const extra = JSON.parse(json);
const config = runConfigSchema.parse({ algo: "PPO", seed, env: { id: envId }, learner: { backend: "wasm" }, ...extra });
const ppo = await PPO.create(config);
const t0 = performance.now();
let m: Record<string, number> = {};
let learn = 0, sample = 0;
while (true) {
  m = await ppo.train();
  learn += m["timers/learn_ms"]; sample += m["timers/sample_ms"];
  if (m["env_runners/episode_return_mean"] >= target || m.num_env_steps_sampled_lifetime >= maxSteps) break;
}
console.log(JSON.stringify({ envId, seed, reached: m["env_runners/episode_return_mean"] >= target, ret: +m["env_runners/episode_return_mean"].toFixed(1), steps: m.num_env_steps_sampled_lifetime, wall_s: +((performance.now() - t0) / 1000).toFixed(1), learn_s: +(learn/1000).toFixed(1), sample_s: +(sample/1000).toFixed(1) }));
await ppo.stop();
