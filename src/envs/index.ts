/** The envs layer: spaces, the Env/VectorEnv API, the registry, wrappers, the sync vector env and the checker. */
export {
  type CheckEnvOptions,
  checkEnv,
  EnvCheckError,
  envName,
  spaceProblem,
} from "./checker.js";
export * from "./classic/index.js";
export {
  type EnvFactory,
  type EnvRegistration,
  envRegistration,
  listEnvs,
  type MakeEnvOptions,
  makeEnv,
  parseKwargs,
  type RegisterOptions,
  registerEnv,
} from "./registry.js";
export * from "./spaces.js";
export type * from "./types.js";
export { type MakeVectorEnvOptions, makeVectorEnv, SyncVectorEnv } from "./vector.js";
export {
  ClipAction,
  FlattenObservation,
  findWrapper,
  flattenSpace,
  NormalizeObservation,
  NormalizeReward,
  PassiveEnvChecker,
  RecordEpisodeStatistics,
  RunningMeanStd,
  type RunningMeanStdState,
  TimeLimit,
  TransformObservation,
  Wrapper,
} from "./wrappers.js";
