/**
 * Gymnasium's wrappers (gymnasium/wrappers/*.py, v1.4) on the synchronous `Env` API.
 *
 * A `Wrapper` forwards everything to the env it wraps; each wrapper overrides only what it changes.
 * `PassiveEnvChecker` is the boundary `makeEnv` puts around every registered env: Gymnasium's
 * OrderEnforcing and PassiveEnvChecker in one layer, plus a check of every action, because a wrong action
 * from a TypeScript caller should fail here with a clear message, not as NaN physics many steps later.
 */
import {
  checkResetResult,
  checkStepResult,
  compileContains,
  EnvCheckError,
  envName,
  spaceProblem,
} from "./checker.js";
import {
  Box,
  Dict,
  Discrete,
  describeValue,
  MultiBinary,
  MultiDiscrete,
  type Space,
  Tuple,
} from "./spaces.js";
import type { Env, EnvMetadata, EnvSpec, Info, RenderFrame, ResetOptions, StepResult } from "./types.js";

export class Wrapper<Obs = unknown, Act = unknown> implements Env<Obs, Act> {
  constructor(readonly env: Env) {}

  get observationSpace(): Space<Obs> {
    return this.env.observationSpace as Space<Obs>;
  }

  get actionSpace(): Space<Act> {
    return this.env.actionSpace as Space<Act>;
  }

  get metadata(): EnvMetadata {
    return this.env.metadata;
  }

  get spec(): EnvSpec | undefined {
    return this.env.spec;
  }

  set spec(spec: EnvSpec | undefined) {
    this.env.spec = spec;
  }

  get renderMode(): string | undefined {
    return this.env.renderMode;
  }

  /** The innermost env, under every wrapper. */
  get unwrapped(): Env {
    return this.env instanceof Wrapper ? this.env.unwrapped : this.env;
  }

  reset(opts?: ResetOptions): [Obs, Info] {
    return this.env.reset(opts) as [Obs, Info];
  }

  step(action: Act): StepResult<Obs> {
    return this.env.step(action) as StepResult<Obs>;
  }

  render(): RenderFrame {
    return this.env.render();
  }

  close(): void {
    this.env.close();
  }

  /** Gymnasium's repr, e.g. `TimeLimit<PassiveEnvChecker<CartPoleEnv<CartPole-v1>>>`. */
  toString(): string {
    const inner =
      this.env instanceof Wrapper ? String(this.env) : `${this.env.constructor.name}<${envName(this.env)}>`;
    return `${this.constructor.name}<${inner}>`;
  }
}

/** The outermost wrapper of class `type` around `env`, e.g. to read a NormalizeObservation's statistics. */
export function findWrapper<W extends Wrapper>(
  env: Env,
  type: abstract new (...args: never[]) => W,
): W | undefined {
  for (let e: Env = env; e instanceof Wrapper; e = e.env) if (e instanceof type) return e;
  return undefined;
}

/**
 * The registry's boundary around an env: `step`/`render` before `reset` is an error (OrderEnforcing); every
 * action is checked against the action space (a `RangeError` naming the env, the space and the value); an
 * exception inside the env's `reset`/`step` is rethrown naming the env and the step, with the original as
 * `cause`; the first reset and step results are checked like Gymnasium's passive checker.
 */
export class PassiveEnvChecker<Obs = unknown, Act = unknown> extends Wrapper<Obs, Act> {
  private readonly actionInSpace: (x: unknown) => boolean;
  private hasReset = false;
  private checkedStep = false;
  /** Steps since the last reset, for error messages. */
  private episodeStep = 0;

  constructor(env: Env<Obs, Act>) {
    super(env);
    this.actionInSpace = compileContains(env.actionSpace);
  }

  override reset(opts?: ResetOptions): [Obs, Info] {
    let result: [unknown, Info];
    try {
      result = this.env.reset(opts);
    } catch (error) {
      throw this.envError("reset()", error);
    }
    if (!this.hasReset) checkResetResult(this.env, result);
    this.hasReset = true;
    this.episodeStep = 0;
    return result as [Obs, Info];
  }

  override step(action: Act): StepResult<Obs> {
    if (!this.hasReset) {
      throw new EnvCheckError(envName(this), "step() was called before reset(); call reset() first");
    }
    if (!this.actionInSpace(action)) {
      const problem = spaceProblem(this.actionSpace, action);
      throw new RangeError(
        `${envName(this)}: action ${describeValue(action)} is not in the action space ${this.actionSpace}: ${problem}`,
      );
    }
    this.episodeStep++;
    let result: StepResult<unknown>;
    try {
      result = this.env.step(action);
    } catch (error) {
      // The message is built only here: describing the action on every step would cost more than the step.
      throw this.envError(`step(${describeValue(action)}) at step ${this.episodeStep} of the episode`, error);
    }
    if (!this.checkedStep) {
      checkStepResult(this.env, result);
      this.checkedStep = true;
    }
    return result as StepResult<Obs>;
  }

  override render(): RenderFrame {
    if (!this.hasReset) {
      throw new EnvCheckError(envName(this), "render() was called before reset(); call reset() first");
    }
    return this.env.render();
  }

  /** An exception from the env, rethrown with the env id and the call; the original is the cause. */
  private envError(call: string, error: unknown): Error {
    const message = error instanceof Error ? error.message : String(error);
    return new Error(`${envName(this)}: ${call} threw: ${message}`, { cause: error });
  }
}

/** Truncates an episode after `maxEpisodeSteps` steps (Gymnasium's TimeLimit). */
export class TimeLimit<Obs = unknown, Act = unknown> extends Wrapper<Obs, Act> {
  private elapsedSteps = 0;

  constructor(
    env: Env<Obs, Act>,
    readonly maxEpisodeSteps: number,
  ) {
    super(env);
    if (!Number.isInteger(maxEpisodeSteps) || maxEpisodeSteps <= 0) {
      throw new RangeError(`TimeLimit: maxEpisodeSteps must be a positive integer, got ${maxEpisodeSteps}`);
    }
  }

  override get spec(): EnvSpec | undefined {
    const spec = this.env.spec;
    return spec && { ...spec, maxEpisodeSteps: this.maxEpisodeSteps };
  }

  override set spec(spec: EnvSpec | undefined) {
    this.env.spec = spec;
  }

  override reset(opts?: ResetOptions): [Obs, Info] {
    this.elapsedSteps = 0;
    return super.reset(opts);
  }

  override step(action: Act): StepResult<Obs> {
    const result = super.step(action);
    this.elapsedSteps++;
    if (this.elapsedSteps >= this.maxEpisodeSteps) result[3] = true;
    return result;
  }
}

/** Adds `info.episode = {r, l, t}` when an episode ends (return, length, seconds) and keeps the last ones. */
export class RecordEpisodeStatistics<Obs = unknown, Act = unknown> extends Wrapper<Obs, Act> {
  episodeCount = 0;
  readonly returnQueue: number[] = [];
  readonly lengthQueue: number[] = [];
  readonly timeQueue: number[] = [];
  private episodeStartTime = performance.now();
  private episodeReturn = 0;
  private episodeLength = 0;

  constructor(
    env: Env<Obs, Act>,
    readonly bufferLength = 100,
    readonly statsKey = "episode",
  ) {
    super(env);
  }

  override reset(opts?: ResetOptions): [Obs, Info] {
    const result = super.reset(opts);
    this.episodeStartTime = performance.now();
    this.episodeReturn = 0;
    this.episodeLength = 0;
    return result;
  }

  override step(action: Act): StepResult<Obs> {
    const result = super.step(action);
    const [, reward, terminated, truncated, info] = result;
    this.episodeReturn += reward;
    this.episodeLength++;
    if (terminated || truncated) {
      if (this.statsKey in info) {
        throw new EnvCheckError(
          envName(this),
          `info already has the key "${this.statsKey}" RecordEpisodeStatistics writes`,
        );
      }
      // Seconds rounded to microseconds, as Gymnasium's round(perf_counter() - start, 6).
      const seconds = Math.round((performance.now() - this.episodeStartTime) * 1000) / 1e6;
      info[this.statsKey] = { r: this.episodeReturn, l: this.episodeLength, t: seconds };
      for (const [queue, value] of [
        [this.returnQueue, this.episodeReturn],
        [this.lengthQueue, this.episodeLength],
        [this.timeQueue, seconds],
      ] as const) {
        queue.push(value);
        if (queue.length > this.bufferLength) queue.shift();
      }
      this.episodeCount++;
      this.episodeStartTime = performance.now();
    }
    return result;
  }
}

/** Saved state of a `RunningMeanStd`, JSON-serialisable for checkpoints. */
export interface RunningMeanStdState {
  mean: number[];
  var: number[];
  count: number;
}

/**
 * Running mean and variance per dimension, merged batch by batch with the parallel algorithm
 * (Chan et al.), exactly as Gymnasium's `RunningMeanStd` (start: mean 0, var 1, count 1e-4).
 */
export class RunningMeanStd {
  mean: Float64Array;
  var: Float64Array;
  count = 1e-4;
  private readonly batchMean: Float64Array;
  private readonly batchVar: Float64Array;

  constructor(readonly dim: number) {
    this.mean = new Float64Array(dim);
    this.var = new Float64Array(dim).fill(1);
    this.batchMean = new Float64Array(dim);
    this.batchVar = new Float64Array(dim);
  }

  /** Merges `batchCount` rows of `dim` numbers from `rows` (row-major). */
  update(rows: ArrayLike<number>, batchCount = 1): void {
    const { dim, batchMean, batchVar } = this;
    if (rows.length !== batchCount * dim) {
      throw new RangeError(
        `RunningMeanStd: expected ${batchCount} rows of ${dim} numbers, got ${rows.length} numbers`,
      );
    }
    batchMean.fill(0);
    batchVar.fill(0);
    for (let r = 0; r < batchCount; r++) for (let d = 0; d < dim; d++) batchMean[d] += rows[r * dim + d];
    for (let d = 0; d < dim; d++) batchMean[d] /= batchCount;
    for (let r = 0; r < batchCount; r++) {
      for (let d = 0; d < dim; d++) batchVar[d] += (rows[r * dim + d] - batchMean[d]) ** 2;
    }
    for (let d = 0; d < dim; d++) batchVar[d] /= batchCount;
    this.merge(batchMean, batchVar, batchCount);
  }

  /** Merges the statistics of `count` more rows with these means and (population) variances. */
  merge(mean: ArrayLike<number>, variance: ArrayLike<number>, count: number): void {
    if (count === 0) return;
    const totalCount = this.count + count;
    for (let d = 0; d < this.dim; d++) {
      const delta = mean[d] - this.mean[d];
      const m2 =
        this.var[d] * this.count + variance[d] * count + delta * delta * ((this.count * count) / totalCount);
      this.mean[d] += (delta * count) / totalCount;
      this.var[d] = m2 / totalCount;
    }
    this.count = totalCount;
  }

  getState(): RunningMeanStdState {
    return { mean: Array.from(this.mean), var: Array.from(this.var), count: this.count };
  }

  setState(state: RunningMeanStdState): void {
    if (state.mean.length !== this.dim || state.var.length !== this.dim) {
      throw new RangeError(
        `RunningMeanStd: state has ${state.mean.length} means and ${state.var.length} variances, expected ${this.dim}`,
      );
    }
    this.mean = Float64Array.from(state.mean);
    this.var = Float64Array.from(state.var);
    this.count = state.count;
  }
}

function checkEpsilon(owner: string, epsilon: number): void {
  if (!(epsilon > 0)) throw new RangeError(`${owner}: epsilon must be > 0, got ${epsilon}`);
}

/**
 * Normalises Box observations to mean 0, variance 1 with running statistics (Gymnasium's
 * NormalizeObservation): `(obs - mean) / sqrt(var + epsilon)` as float32. Set `updateRunningMean = false`
 * to freeze the statistics (evaluation); `obsRms.getState()`/`setState()` for checkpoints.
 */
export class NormalizeObservation<Act = unknown> extends Wrapper<Float32Array, Act> {
  readonly obsRms: RunningMeanStd;
  updateRunningMean = true;
  private readonly normalizedSpace: Box;

  constructor(
    env: Env<unknown, Act>,
    readonly epsilon = 1e-8,
  ) {
    super(env);
    checkEpsilon("NormalizeObservation", epsilon);
    const space = env.observationSpace;
    if (!(space instanceof Box)) {
      throw new TypeError(
        `NormalizeObservation(${envName(env)}): needs a Box observation space, got ${space}; wrap it in FlattenObservation first`,
      );
    }
    this.normalizedSpace = new Box(
      Number.NEGATIVE_INFINITY,
      Number.POSITIVE_INFINITY,
      space.shape,
      "float32",
    );
    this.obsRms = new RunningMeanStd(space.size);
  }

  override get observationSpace(): Space<Float32Array> {
    return this.normalizedSpace as Space<Float32Array>;
  }

  override reset(opts?: ResetOptions): [Float32Array, Info] {
    const [obs, info] = this.env.reset(opts);
    return [this.normalize(obs as ArrayLike<number>), info];
  }

  override step(action: Act): StepResult<Float32Array> {
    const [obs, reward, terminated, truncated, info] = this.env.step(action);
    return [this.normalize(obs as ArrayLike<number>), reward, terminated, truncated, info];
  }

  private normalize(obs: ArrayLike<number>): Float32Array {
    if (this.updateRunningMean) this.obsRms.update(obs);
    const { mean, var: variance } = this.obsRms;
    const out = new Float32Array(obs.length);
    for (let i = 0; i < obs.length; i++) out[i] = (obs[i] - mean[i]) / Math.sqrt(variance[i] + this.epsilon);
    return out;
  }
}

/**
 * Scales rewards so that a discounted return has roughly unit variance (Gymnasium 1.x NormalizeReward):
 * the accumulator `g = g * gamma * (1 - terminated) + reward` feeds a running variance and the reward is
 * divided by `sqrt(var + epsilon)`, not centred. As in Gymnasium the accumulator survives `reset`.
 */
export class NormalizeReward<Obs = unknown, Act = unknown> extends Wrapper<Obs, Act> {
  readonly returnRms = new RunningMeanStd(1);
  updateRunningMean = true;
  discountedReward = 0;
  private readonly discountedRow = new Float64Array(1);

  constructor(
    env: Env<Obs, Act>,
    readonly gamma = 0.99,
    readonly epsilon = 1e-8,
  ) {
    super(env);
    if (!(gamma >= 0 && gamma <= 1))
      throw new RangeError(`NormalizeReward: gamma must be in [0, 1], got ${gamma}`);
    checkEpsilon("NormalizeReward", epsilon);
  }

  override step(action: Act): StepResult<Obs> {
    const result = super.step(action);
    const [, reward, terminated] = result;
    this.discountedReward = this.discountedReward * this.gamma * (terminated ? 0 : 1) + reward;
    if (this.updateRunningMean) {
      this.discountedRow[0] = this.discountedReward;
      this.returnRms.update(this.discountedRow);
    }
    result[1] = reward / Math.sqrt(this.returnRms.var[0] + this.epsilon);
    return result;
  }
}

/** Clips Box actions into the env's bounds (Gymnasium's ClipAction); the outer action space is unbounded. */
export class ClipAction<Obs = unknown> extends Wrapper<Obs, Float32Array> {
  private readonly innerSpace: Box;
  private readonly unboundedSpace: Box;
  /** The clipped action handed to the env, reused every step (the caller's array is never modified). */
  private readonly clipped: Float32Array | Float64Array;

  constructor(env: Env<Obs, unknown>) {
    super(env);
    const space = env.actionSpace;
    if (!(space instanceof Box))
      throw new TypeError(`ClipAction(${envName(env)}): needs a Box action space, got ${space}`);
    this.innerSpace = space;
    this.unboundedSpace = new Box(
      Number.NEGATIVE_INFINITY,
      Number.POSITIVE_INFINITY,
      space.shape,
      space.dtype,
    );
    this.clipped = space.zeros() as Float32Array;
  }

  override get actionSpace(): Space<Float32Array> {
    return this.unboundedSpace as Space<Float32Array>;
  }

  override step(action: Float32Array): StepResult<Obs> {
    const { low, high, size } = this.innerSpace;
    if (action?.length !== size) {
      throw new RangeError(
        `ClipAction(${envName(this)}): expected an action of ${size} numbers, got ${describeValue(action)}`,
      );
    }
    for (let i = 0; i < size; i++) this.clipped[i] = Math.min(high[i], Math.max(low[i], action[i]));
    return this.env.step(this.clipped) as StepResult<Obs>;
  }
}

/**
 * Gymnasium's `TransformObservation`: every observation (of `reset` and `step`) through `func`, which
 * must give a member of `observationSpace`.
 */
export class TransformObservation<Obs, Act = unknown> extends Wrapper<Obs, Act> {
  constructor(
    env: Env<unknown, Act>,
    private readonly func: (obs: unknown) => Obs,
    private readonly space: Space<Obs>,
  ) {
    super(env);
  }

  override get observationSpace(): Space<Obs> {
    return this.space;
  }

  override reset(opts?: ResetOptions): [Obs, Info] {
    const [obs, info] = this.env.reset(opts);
    return [this.func(obs), info];
  }

  override step(action: Act): StepResult<Obs> {
    const [obs, reward, terminated, truncated, info] = this.env.step(action);
    return [this.func(obs), reward, terminated, truncated, info];
  }
}

/** Gymnasium's `flatten_space`, as a float32 Box (our `flatten` always writes float32). */
export function flattenSpace(space: Space): Box {
  const low = new Float64Array(space.flatDim);
  const high = new Float64Array(space.flatDim);
  const fill = (s: Space, at: number): number => {
    if (s instanceof Box) {
      low.set(s.low, at);
      high.set(s.high, at);
    } else if (s instanceof Discrete || s instanceof MultiDiscrete || s instanceof MultiBinary) {
      high.fill(1, at, at + s.flatDim);
    } else if (s instanceof Tuple) {
      let inner = at;
      for (const sub of s.spaces) inner = fill(sub, inner);
    } else if (s instanceof Dict) {
      let inner = at;
      for (const k of s.keys) inner = fill((s.spaces as Record<string, Space>)[k], inner);
    } else {
      throw new TypeError(`flattenSpace: cannot flatten ${s}`);
    }
    return at + s.flatDim;
  };
  fill(space, 0);
  return new Box(low, high, [space.flatDim], "float32");
}

/** Flattens observations into one Float32Array (Gymnasium's FlattenObservation; one-hot for Discrete). */
export class FlattenObservation<Act = unknown> extends TransformObservation<Float32Array, Act> {
  constructor(env: Env<unknown, Act>) {
    const space = env.observationSpace;
    super(env, (obs) => space.flatten(obs), flattenSpace(space) as Space<Float32Array>);
  }
}
