/**
 * `SyncVectorEnv`: N envs stepped one after another in this thread, results written into preallocated
 * typed arrays (Gymnasium's SyncVectorEnv with `AutoresetMode.SAME_STEP`).
 *
 * The hot path allocates nothing of its own: each sub-env gets a preallocated action holder that row i of
 * the action buffer is copied into (Discrete actions are plain numbers; a Tuple's or Dict's holder is an
 * array or object of its parts' holders, refilled every step: `actionRowReader`), observations are flattened
 * straight into the shared buffers, and the same result object is returned every step. `stepSync` /
 * `resetSync` are the real work; `step` / `reset` wrap them for the async `VectorEnv` interface.
 */
import { makeEnv } from "./registry.js";
import { actionLayout, actionRowReader, Discrete, describeValue, type Space } from "./spaces.js";
import type { Env, ResetOptions, VectorEnv, VectorResetResult, VectorStepResult } from "./types.js";

/** Rethrows an error from sub-env `index` with the index in front, keeping its class and the original as cause. */
function subEnvError(index: number, error: unknown): Error {
  const message = `SyncVectorEnv sub-env ${index}: ${error instanceof Error ? error.message : String(error)}`;
  if (error instanceof RangeError) return new RangeError(message, { cause: error });
  if (error instanceof TypeError) return new TypeError(message, { cause: error });
  return new Error(message, { cause: error });
}

export class SyncVectorEnv implements VectorEnv {
  readonly envs: Env[];
  readonly numEnvs: number;
  readonly singleObservationSpace: Space;
  readonly singleActionSpace: Space;
  readonly obsDim: number;
  readonly actionDim: number;
  private readonly stepResult: VectorStepResult;
  private readonly resetResult: VectorResetResult;
  /** Per sub-env reader of its action row into its own action holder; empty for Discrete, whose action is a number. */
  private readonly actionReaders: ((actions: ArrayLike<number>, row: number) => unknown)[];
  private readonly discreteActions: boolean;
  private needsReset = true;
  private closed = false;

  constructor(envFactories: readonly (() => Env)[]) {
    if (envFactories.length === 0) throw new RangeError("SyncVectorEnv: needs at least one env factory");
    this.envs = envFactories.map((create) => create());
    this.numEnvs = this.envs.length;
    this.singleObservationSpace = this.envs[0].observationSpace;
    this.singleActionSpace = this.envs[0].actionSpace;
    // Like Gymnasium's _check_spaces: the batch buffers assume one layout for every sub-env.
    const expected = JSON.stringify([this.singleObservationSpace.toJSON(), this.singleActionSpace.toJSON()]);
    this.envs.forEach((env, i) => {
      if (JSON.stringify([env.observationSpace.toJSON(), env.actionSpace.toJSON()]) !== expected) {
        throw new TypeError(
          `SyncVectorEnv: sub-env ${i} has spaces ${env.observationSpace} / ${env.actionSpace}, sub-env 0 has ${this.singleObservationSpace} / ${this.singleActionSpace}`,
        );
      }
    });
    this.obsDim = this.singleObservationSpace.flatDim;
    this.actionDim = actionLayout(this.singleActionSpace).dim;
    this.discreteActions = this.singleActionSpace instanceof Discrete;
    this.actionReaders = this.discreteActions
      ? []
      : this.envs.map(() => actionRowReader(this.singleActionSpace));
    const n = this.numEnvs;
    this.resetResult = { observations: new Float32Array(n * this.obsDim), infos: new Array(n).fill({}) };
    this.stepResult = {
      observations: this.resetResult.observations,
      rewards: new Float64Array(n),
      terminated: new Uint8Array(n),
      truncated: new Uint8Array(n),
      finalObservations: new Float32Array(n * this.obsDim),
      infos: new Array(n).fill({}),
    };
  }

  /** Resets every sub-env; with a seed, sub-env i gets `seed + i`. */
  resetSync(opts: ResetOptions = {}): VectorResetResult {
    this.assertOpen();
    const { seed, options } = opts;
    const { observations, infos } = this.resetResult;
    for (let i = 0; i < this.numEnvs; i++) {
      try {
        const [obs, info] = this.envs[i].reset({ seed: seed === undefined ? undefined : seed + i, options });
        this.singleObservationSpace.flatten(obs, observations, i * this.obsDim);
        infos[i] = info;
      } catch (error) {
        throw subEnvError(i, error);
      }
    }
    this.needsReset = false;
    return this.resetResult;
  }

  /**
   * Steps every sub-env with its row of `actions`; a sub-env whose episode ended is reset in the same call
   * (its row of `observations` is the new episode's first observation, `finalObservations` and `infos`
   * hold the finished episode's last observation and info).
   */
  stepSync(actions: Float32Array | Int32Array): VectorStepResult {
    this.assertOpen();
    if (this.needsReset)
      throw new Error("SyncVectorEnv: step() was called before reset(); call reset() first");
    if (actions?.length !== this.numEnvs * this.actionDim) {
      throw new RangeError(
        `SyncVectorEnv: expected ${this.numEnvs} envs x ${this.actionDim} action numbers = ${this.numEnvs * this.actionDim}, got ${describeValue(actions)}`,
      );
    }
    const { obsDim, singleObservationSpace: space } = this;
    const { observations, rewards, terminated, truncated, finalObservations, infos } = this.stepResult;
    for (let i = 0; i < this.numEnvs; i++) {
      try {
        const env = this.envs[i];
        const [obs, reward, isTerminated, isTruncated, info] = env.step(
          this.discreteActions ? actions[i] : this.actionReaders[i](actions, i),
        );
        rewards[i] = reward;
        terminated[i] = isTerminated ? 1 : 0;
        truncated[i] = isTruncated ? 1 : 0;
        infos[i] = info;
        if (isTerminated || isTruncated) {
          space.flatten(obs, finalObservations, i * obsDim);
          const [resetObs] = env.reset();
          space.flatten(resetObs, observations, i * obsDim);
        } else {
          space.flatten(obs, observations, i * obsDim);
        }
      } catch (error) {
        throw subEnvError(i, error);
      }
    }
    return this.stepResult;
  }

  async reset(opts?: ResetOptions): Promise<VectorResetResult> {
    return this.resetSync(opts);
  }

  async step(actions: Float32Array | Int32Array): Promise<VectorStepResult> {
    return this.stepSync(actions);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const env of this.envs) env.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("SyncVectorEnv: the vector env is closed");
  }
}

export interface MakeVectorEnvOptions {
  /** Passed to every sub-env's factory (over the registered defaults). */
  kwargs?: Record<string, unknown>;
  /** Applied to each sub-env after `makeEnv`, first to last (Gymnasium's `make_vec(wrappers=...)`). */
  wrappers?: readonly ((env: Env) => Env)[];
  /** Overrides the registered step limit. */
  maxEpisodeSteps?: number;
}

/** `numEnvs` copies of the registered env `id` in a `SyncVectorEnv` (Gymnasium's `make_vec`, sync mode). */
export function makeVectorEnv(
  id: string,
  numEnvs: number,
  options: MakeVectorEnvOptions = {},
): SyncVectorEnv {
  if (!Number.isInteger(numEnvs) || numEnvs < 1) {
    throw new RangeError(`makeVectorEnv("${id}"): numEnvs must be a positive integer, got ${numEnvs}`);
  }
  const { kwargs = {}, wrappers = [], maxEpisodeSteps } = options;
  const create = () => wrappers.reduce((env, wrap) => wrap(env), makeEnv(id, kwargs, { maxEpisodeSteps }));
  return new SyncVectorEnv(Array.from({ length: numEnvs }, () => create));
}
