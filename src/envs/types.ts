/**
 * The Gymnasium 1.x environment API in TypeScript.
 *
 * `Env` is synchronous like Gymnasium's: built-in and custom envs step in microseconds and an `await` per
 * step would cost more than the step. `VectorEnv` is asynchronous, because a vector of remote envs
 * (ZeroMQ) answers later; its results live in preallocated typed arrays that are reused every step.
 */
import type { Space } from "./spaces.js";

export type Info = Record<string, unknown>;

/** `[observation, reward, terminated, truncated, info]`, as Gymnasium's `step`. */
export type StepResult<Obs> = [obs: Obs, reward: number, terminated: boolean, truncated: boolean, info: Info];

export interface ResetOptions {
  seed?: number;
  options?: Record<string, unknown>;
}

export interface EnvSpec {
  id: string;
  maxEpisodeSteps?: number;
  rewardThreshold?: number;
  kwargs: Record<string, unknown>;
}

export interface EnvMetadata {
  renderModes: string[];
  renderFps?: number;
}

/** RGB image, row-major `[height, width, 3]`. */
export interface RgbArray {
  data: Uint8Array;
  height: number;
  width: number;
}

export type RenderFrame = string | RgbArray | undefined;

export interface Env<Obs = unknown, Act = unknown> {
  readonly observationSpace: Space<Obs>;
  readonly actionSpace: Space<Act>;
  readonly metadata: EnvMetadata;
  /** Set by `makeEnv` from the registry. */
  spec?: EnvSpec;
  renderMode?: string;
  reset(opts?: ResetOptions): [Obs, Info];
  step(action: Act): StepResult<Obs>;
  render(): RenderFrame;
  close(): void;
}

/**
 * Results of one vector step. The arrays are owned by the vector env and overwritten by the next call:
 * copy what must outlive it.
 *
 * Autoreset is **same-step**: when sub-env i ends, it is reset inside the same `step`; row i of
 * `observations` is then the first observation of the new episode, and row i of `finalObservations`
 * holds the last observation of the finished one, so a learner can bootstrap a truncated episode from
 * V(final observation) and never mixes two episodes in one transition.
 */
export interface VectorStepResult {
  /** `[numEnvs * obsDim]`, flattened observations (after autoreset). */
  observations: Float32Array;
  rewards: Float64Array;
  /** 1 where the episode reached a terminal state. */
  terminated: Uint8Array;
  /** 1 where the episode was cut short (time limit). */
  truncated: Uint8Array;
  /** `[numEnvs * obsDim]`; row i is valid where terminated[i] or truncated[i]. */
  finalObservations: Float32Array;
  /** Per sub-env info of this step; for a finished sub-env, the final step's info. */
  infos: Info[];
}

export interface VectorResetResult {
  observations: Float32Array;
  infos: Info[];
}

export interface VectorEnv {
  readonly numEnvs: number;
  readonly singleObservationSpace: Space;
  readonly singleActionSpace: Space;
  /** `singleObservationSpace.flatDim`. */
  readonly obsDim: number;
  /** Numbers per action in the flat action buffer (`actionLayout(singleActionSpace).dim`). */
  readonly actionDim: number;
  /** Seeds sub-env i with `seed + i`, as Gymnasium's vector envs do. */
  reset(opts?: ResetOptions): Promise<VectorResetResult>;
  /** `actions` holds `numEnvs * actionDim` numbers: row i is sub-env i's action. */
  step(actions: Float32Array | Int32Array): Promise<VectorStepResult>;
  close(): Promise<void>;
}
