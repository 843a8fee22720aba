/**
 * What every classic-control env does the same way: kwargs checking, `render_mode`, the seeded
 * generator behind `reset({seed})`, and the `render()` dispatch. The physics lives in each env's file.
 */
import { createRng, type Rng } from "../../utils/rng.js";
import type { Box, Space, TypedArray } from "../spaces.js";
import type {
  Env,
  EnvMetadata,
  EnvSpec,
  Info,
  RenderFrame,
  ResetOptions,
  RgbArray,
  StepResult,
} from "../types.js";
import { CLASSIC_RENDER_MODES, checkKwargs, warn } from "./utils.js";

/** Observations are `Float32Array`s (Gymnasium's float32 Box); the `Env` type says TypedArray, as `Box` does. */
export abstract class ClassicControlEnv<Act> implements Env<TypedArray, Act> {
  abstract readonly observationSpace: Box;
  abstract readonly actionSpace: Space<Act>;
  readonly metadata: EnvMetadata;
  spec?: EnvSpec;
  readonly renderMode?: string;
  /** The physical state, as Gymnasium's `env.unwrapped.state`; null before the first reset. */
  abstract state: Float64Array | Float32Array | null;
  /** Gymnasium's `np_random`: restarted by `reset({seed})`, continued by `reset()`. */
  protected rng: Rng = createRng();

  /**
   * @param id the registered id, for messages
   * @param kwargs the caller's kwargs, checked against `accepted` (each accepted key with its default)
   */
  constructor(
    readonly id: string,
    renderFps: number,
    kwargs: Record<string, unknown>,
    accepted: Record<string, unknown>,
  ) {
    checkKwargs(id, kwargs, { render_mode: undefined, ...accepted });
    this.renderMode = kwargs.render_mode as string | undefined;
    this.metadata = { renderModes: CLASSIC_RENDER_MODES, renderFps };
  }

  abstract reset(opts?: ResetOptions): [Float32Array, Info];
  abstract step(action: Act): StepResult<Float32Array>;
  protected abstract renderAnsi(state: ArrayLike<number>): string;
  protected abstract renderRgbArray(state: ArrayLike<number>): RgbArray;

  /** As `super().reset(seed=seed)` in Gymnasium: a seed restarts the generator; none keeps its stream. */
  protected seedRng(seed: number | undefined): void {
    if (seed === undefined) return;
    if (!Number.isInteger(seed) || seed < 0) {
      throw new RangeError(`${this.id}: reset seed must be a non-negative integer, got ${seed}`);
    }
    this.rng = createRng(seed);
  }

  render(): RenderFrame {
    if (this.renderMode === undefined) {
      warn(
        `${this.id}: render() was called without a render_mode; create the env with render_mode "ansi" or "rgb_array"`,
      );
      return undefined;
    }
    if (this.state === null) return undefined;
    return this.renderMode === "ansi" ? this.renderAnsi(this.state) : this.renderRgbArray(this.state);
  }

  close(): void {}
}
