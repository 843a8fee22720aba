import type { RunConfig } from "../config/schema.js";
import { createEnvRunnerGroup } from "../rollout/threaded_group.js";
import type { Algorithm } from "./algorithm.js";
import { DQN } from "./dqn/dqn.js";
import { PPO } from "./ppo/ppo.js";

/** The algorithm the config names, with its env runners (worker threads when `num_env_runners` > 0). */
export async function createAlgorithm(config: RunConfig): Promise<Algorithm> {
  switch (config.algo) {
    case "PPO":
      return PPO.create(config, { runnerGroup: await createEnvRunnerGroup(config) });
    case "DQN":
      return DQN.create(config);
  }
}
