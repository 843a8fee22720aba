/**
 * rlts as a library: `import { PPO, makeEnv, registerEnv, train } from "rlts"`.
 * The CLI (`rlts train <config.yaml>`) is a thin layer over `train` below.
 */

export { A2C } from "./algos/a2c/a2c.js";
export { type A2CConfig, type A2CRunConfig, a2cConfigSchema } from "./algos/a2c/config.js";
export { Algorithm, type AlgorithmState } from "./algos/algorithm.js";
export { CheckpointError, readCheckpoint } from "./algos/checkpoint.js";
export { type DQNConfig, type DQNRunConfig, dqnConfigSchema } from "./algos/dqn/config.js";
export { DQN } from "./algos/dqn/dqn.js";
export {
  ALGORITHMS,
  type AlgorithmName,
  createAlgorithm,
  loadRunConfig,
  parseRunConfig,
  type RunConfig,
} from "./algos/index.js";
export { type PPOConfig, type PPORunConfig, ppoConfigSchema } from "./algos/ppo/config.js";
export { ppoLoss, ppoLossWithGradients } from "./algos/ppo/loss.js";
export { PPO } from "./algos/ppo/ppo.js";
export type { AlgorithmDefinition } from "./algos/registry.js";
export { type SACConfig, type SACRunConfig, sacConfigSchema } from "./algos/sac/config.js";
export { SAC } from "./algos/sac/sac.js";
export { NStepAccumulator } from "./buffers/nstep.js";
export { PrioritizedReplayBuffer, ReplayBuffer } from "./buffers/replay.js";
export { ConfigError } from "./config/load.js";
export { runConfigSchemaFor } from "./config/schema.js";
export { CatchEnv, type CatchKwargs } from "./envs/catch.js";
export * from "./envs/index.js";
export { makeVectorEnvFrom } from "./envs/make.js";
export * from "./envs/remote/index.js";
export { Adam, type OptimizerState } from "./learner/adam.js";
export { type BackendChoice, type BackendName, selectBackend } from "./learner/backend.js";
export type { Learner, LearnerSource } from "./learner/learner.js";
export { createLearnerActor, type LearnerActor } from "./learner/learner_actor.js";
export { plotRuns } from "./logging/plot.js";
export { ProgressLogger, type ProgressMode } from "./logging/progress.js";
export { EventFileWriter } from "./logging/tfevents.js";
export {
  type ModuleHead,
  type ModuleRequest,
  type ModuleSpec,
  moduleSpecFor,
  type PartHead,
} from "./models/catalog.js";
export { ModuleInference } from "./models/inference.js";
export {
  GreedyPolicy,
  loadPolicy,
  PolicyFormatError,
  type PolicyMetadata,
  urlPolicyLoader,
} from "./models/policy.js";
export { loadPolicyFromDir } from "./models/policy_node.js";
export { ActorCritic, QNetwork, RLModule } from "./models/rl_module.js";
export { EnvRunnerActorGroup } from "./rollout/actor_group.js";
export { EnvRunner, type EnvRunnerConfig } from "./rollout/env_runner.js";
export { type EnvRunnerGroup, LocalEnvRunnerGroup } from "./rollout/env_runner_group.js";
export { createEnvRunnerGroup } from "./rollout/placement.js";
export { evaluateCheckpoint } from "./scheduler/evaluate.js";
export { type TrainOptions, type TrainSummary, train } from "./scheduler/trainer.js";
export { ObjectStore } from "./store/object_store.js";
export { createRng, type Rng } from "./utils/rng.js";
