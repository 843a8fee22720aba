/** Where `env_runners` puts the runners: the env runner group for its `placement`. */
import { envRunnerPlacement } from "../config/schema.js";
import { EnvRunnerActorGroup } from "./actor_group.js";
import { createRayLauncher } from "./cluster/ray_launcher.js";
import type { CollectSpec, EnvRunnerConfig, SampleOf } from "./env_runner.js";
import { type EnvRunnerGroup, type EpsilonsFor, LocalEnvRunnerGroup } from "./env_runner_group.js";
import { threadLauncher } from "./thread_launcher.js";

/**
 * The group `env_runners` asks for: the calling thread for `placement: main` (num_env_runners 0),
 * worker threads for `threads`, Ray actors on a cluster for `ray`.
 */
export async function createEnvRunnerGroup<C extends CollectSpec>(
  config: EnvRunnerConfig<C>,
  epsilonsFor?: EpsilonsFor,
): Promise<EnvRunnerGroup<SampleOf<C>>> {
  const placement = envRunnerPlacement(config.env_runners);
  if (placement === "main") return LocalEnvRunnerGroup.create(config, epsilonsFor);
  const launcher = placement === "ray" ? await createRayLauncher(config) : threadLauncher;
  return EnvRunnerActorGroup.create(config, epsilonsFor, launcher);
}
