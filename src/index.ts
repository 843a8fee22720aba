/**
 * rlts as a library: `import { PPO, makeEnv, registerEnv, train } from "rlts"`.
 * The CLI (`rlts train <config.yaml>`) is a thin layer over `train` below.
 */

export type { Algorithm, AlgorithmState } from "./algos/algorithm.js";
export { DQNConfig, dqnConfigSchema } from "./algos/dqn/config.js";
export { DQN } from "./algos/dqn/dqn.js";
export { NStepAccumulator } from "./algos/dqn/nstep.js";
export { PrioritizedReplayBuffer, ReplayBuffer } from "./algos/dqn/replay.js";
export { createAlgorithm } from "./algos/index.js";
export { type PPOConfig, ppoConfigSchema } from "./algos/ppo/config.js";
export { ppoLoss, ppoLossWithGradients } from "./algos/ppo/loss.js";
export { PPO, type PPOState } from "./algos/ppo/ppo.js";
export { ConfigError, loadRunConfig, parseRunConfig } from "./config/load.js";
export { type RunConfig, type RunConfigInput, runConfigSchema } from "./config/schema.js";
export * from "./envs/index.js";
export { makeVectorEnvFrom } from "./envs/make.js";
export * from "./envs/remote/index.js";
export { type BackendChoice, type BackendName, selectBackend } from "./learner/backend.js";
export { Learner, type OptimizerState } from "./learner/learner.js";
export { createPPOLearnerActor, type PPOLearnerActor } from "./learner/learner_actor.js";
export { plotRuns } from "./logging/plot.js";
export { ProgressLogger, type ProgressMode } from "./logging/progress.js";
export { EventFileWriter } from "./logging/tfevents.js";
export { PolicyInference } from "./models/inference.js";
export { ActorCritic, type PolicySpec, policySpecFor } from "./models/network.js";
export {
  GreedyPolicy,
  loadPolicy,
  PolicyFormatError,
  type PolicyMetadata,
  urlPolicyLoader,
} from "./models/policy.js";
export { loadPolicyFromDir } from "./models/policy_node.js";
export { EnvRunner } from "./rollout/env_runner.js";
export { type EnvRunnerGroup, LocalEnvRunnerGroup } from "./rollout/env_runner_group.js";
export { computeGae } from "./rollout/gae.js";
export { createEnvRunnerGroup, ThreadedEnvRunnerGroup } from "./rollout/threaded_group.js";
export { CheckpointError, readCheckpoint, writeCheckpoint } from "./scheduler/checkpoint.js";
export { evaluateCheckpoint } from "./scheduler/evaluate.js";
export { type TrainOptions, type TrainSummary, train } from "./scheduler/trainer.js";
export { ObjectStore } from "./store/object_store.js";
export { createRng, type Rng } from "./utils/rng.js";
