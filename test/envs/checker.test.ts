import { describe, expect, it } from "vitest";
import { checkEnv, EnvCheckError } from "../../src/envs/checker.js";
import { makeEnv, registerEnv } from "../../src/envs/registry.js";
import { Box } from "../../src/envs/spaces.js";
import type { Info, ResetOptions, StepResult } from "../../src/envs/types.js";
import { WalkEnv } from "./toy-envs.js";

/** Each broken env breaks exactly one rule of the API; the check must name the env and that rule. */
const BROKEN_ENVS: [string, () => WalkEnv, RegExp][] = [
  [
    "an observation outside the space",
    () =>
      new (class OutOfBoundsEnv extends WalkEnv {
        override reset(opts?: ResetOptions): [Float32Array, Info] {
          const [obs, info] = super.reset(opts);
          obs[0] = 50;
          return [obs, info];
        }
      })(),
    /^OutOfBoundsEnv: the observation from reset\(\{seed: 123\}\) is not in Box\(-10, 10, \(2,\), float32\): element 0 = 50 is above high 10$/,
  ],
  [
    "an observation of the wrong dtype",
    () =>
      new (class Float64ObsEnv extends WalkEnv {
        override reset(opts?: ResetOptions): [Float32Array, Info] {
          const [obs, info] = super.reset(opts);
          return [Float64Array.from(obs) as unknown as Float32Array, info];
        }
      })(),
    /^Float64ObsEnv: .*expected a Float32Array \(dtype float32\), got Float64Array$/,
  ],
  [
    "an observation of the wrong shape",
    () =>
      new (class ShortObsEnv extends WalkEnv {
        override step(action: unknown): StepResult<Float32Array> {
          const result = super.step(action);
          result[0] = result[0].subarray(0, 1);
          return result;
        }
      })(),
    /^ShortObsEnv: the observation from step\(.*\) is not in .*: expected 2 numbers, got 1$/,
  ],
  [
    "a non-finite observation inside infinite bounds",
    () =>
      new (class InfiniteObsEnv extends WalkEnv {
        override readonly observationSpace = new Box(
          Number.NEGATIVE_INFINITY,
          Number.POSITIVE_INFINITY,
          [2],
        ) as never;
        override step(action: unknown): StepResult<Float32Array> {
          const result = super.step(action);
          result[0][1] = Number.POSITIVE_INFINITY;
          return result;
        }
      })(),
    /^InfiniteObsEnv: the observation from step.*element 1 is Infinity$/,
  ],
  [
    "a NaN reward",
    () =>
      new (class NaNRewardEnv extends WalkEnv {
        override step(action: unknown): StepResult<Float32Array> {
          const result = super.step(action);
          result[1] = Number.NaN;
          return result;
        }
      })(),
    /^NaNRewardEnv: the reward from step\(.*\) must be a finite number, got "NaN"$/,
  ],
  [
    "a terminated flag that is not a boolean",
    () =>
      new (class NumericFlagEnv extends WalkEnv {
        override step(action: unknown): StepResult<Float32Array> {
          const result = super.step(action);
          (result as unknown[])[2] = 0;
          return result;
        }
      })(),
    /^NumericFlagEnv: terminated from step\(.*\) must be a boolean, got 0$/,
  ],
  [
    "an info that is not an object",
    () =>
      new (class NullInfoEnv extends WalkEnv {
        override reset(opts?: ResetOptions): [Float32Array, Info] {
          return [super.reset(opts)[0], null as unknown as Info];
        }
      })(),
    /^NullInfoEnv: the info from reset\(\{seed: 123\}\) must be an object, got null$/,
  ],
  [
    "a four-element step result",
    () =>
      new (class OldApiEnv extends WalkEnv {
        override step(action: unknown): StepResult<Float32Array> {
          const [obs, reward, terminated, , info] = super.step(action);
          return [obs, reward, terminated, info] as unknown as StepResult<Float32Array>;
        }
      })(),
    /^OldApiEnv: step\(.*\) must return \[obs, reward, terminated, truncated, info\]/,
  ],
  [
    "a reset that ignores its seed",
    () =>
      new (class UnseededEnv extends WalkEnv {
        override reset(opts?: ResetOptions): [Float32Array, Info] {
          return super.reset({ ...opts, seed: undefined });
        }
      })(),
    /^UnseededEnv: reset\(\{seed: 123\}\) twice gave different observations/,
  ],
  [
    "a reset that uses a fixed seed whatever it is given",
    () =>
      new (class FixedSeedEnv extends WalkEnv {
        override reset(opts?: ResetOptions): [Float32Array, Info] {
          return super.reset({ ...opts, seed: 7 });
        }
      })(),
    /^FixedSeedEnv: reset\(\) after reset\(\{seed: 123\}\) gave different|^FixedSeedEnv: reset gave the same observation for seeds 123, 456, 789, 2024: reset ignores its seed/,
  ],
  [
    "a step that is not deterministic given the seed",
    () =>
      new (class EntropyStepEnv extends WalkEnv {
        override step(action: unknown): StepResult<Float32Array> {
          const result = super.step(action);
          result[1] += Math.random();
          return result;
        }
      })(),
    /^EntropyStepEnv: after reset\(\{seed: 123\}\), the same action gave different observations, rewards or terminations$/,
  ],
  [
    "an observation buffer reused between calls",
    () =>
      new (class ReusedObsEnv extends WalkEnv {
        private readonly buffer = new Float32Array(2);
        override reset(opts?: ResetOptions): [Float32Array, Info] {
          const [obs, info] = super.reset(opts);
          this.buffer.set(obs);
          return [this.buffer, info];
        }
      })(),
    /^ReusedObsEnv: the observations from reset\(\{seed: 123\}\) and the next reset\(\) share memory/,
  ],
  [
    "a render mode the metadata does not list",
    () => new WalkEnv({ renderMode: "rgb_array" }),
    /^WalkEnv: renderMode "rgb_array" is not in metadata.renderModes \["ansi"\]$/,
  ],
  [
    "a render that returns the wrong type",
    () =>
      new (class NumberRenderEnv extends WalkEnv {
        override render(): string {
          return 42 as unknown as string;
        }
      })({ renderMode: "ansi" }),
    /^NumberRenderEnv: render\(\) in mode "ansi" must return a string, got 42$/,
  ],
  [
    "a close that throws the second time",
    () =>
      new (class CloseOnceEnv extends WalkEnv {
        private isClosed = false;
        override close(): void {
          if (this.isClosed) throw new Error("already closed");
          this.isClosed = true;
        }
      })(),
    /^CloseOnceEnv: close\(\) on a closed env must be allowed, but it threw: Error: already closed$/,
  ],
  [
    "an action space that is not a Space",
    () =>
      new (class PlainSpaceEnv extends WalkEnv {
        override readonly actionSpace = { n: 2 } as never;
      })(),
    /^PlainSpaceEnv: actionSpace must be a Space \(Box, Discrete, \.\.\.\), got \{"n":2\}$/,
  ],
];

describe("checkEnv catches broken envs", () => {
  it.each(BROKEN_ENVS)("%s", (_what, create, message) => {
    let caught: unknown;
    try {
      checkEnv(create());
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(EnvCheckError);
    expect((caught as Error).message).toMatch(message);
  });
});

describe("checkEnv passes correct envs", () => {
  it("the toy env, Discrete and Box actions, with its warnings", () => {
    expect(checkEnv(new WalkEnv({ renderMode: "ansi" }))).toEqual([]);
    expect(checkEnv(new WalkEnv({ continuous: true }))).toEqual([]);
  });

  it("a registered env under its wrappers is named by its id", () => {
    registerEnv("test/CheckedWalk-v0", (kwargs) => new WalkEnv(kwargs), { maxEpisodeSteps: 20 });
    expect(checkEnv(makeEnv("test/CheckedWalk-v0"))).toEqual([]);
    const broken = makeEnv("test/CheckedWalk-v0", { renderMode: "human" });
    expect(() => checkEnv(broken)).toThrow(/^test\/CheckedWalk-v0: renderMode "human" is not in/);
  });

  it("a fixed start state passes when declared", () => {
    class FixedStartEnv extends WalkEnv {
      override reset(opts?: ResetOptions): [Float32Array, Info] {
        super.reset(opts);
        this.position = 0;
        return [Float32Array.of(0, 0), {}];
      }
    }
    expect(() => checkEnv(new FixedStartEnv())).toThrow(/reset ignores its seed/);
    expect(checkEnv(new FixedStartEnv(), { fixedStartState: true })).toEqual([]);
  });

  it("warns about infinite bounds and an unnormalised action Box", () => {
    class WideEnv extends WalkEnv {
      override readonly observationSpace = new Box(
        Number.NEGATIVE_INFINITY,
        Number.POSITIVE_INFINITY,
        [2],
      ) as never;
      override readonly actionSpace = new Box(-2, 2, [1]);
    }
    expect(checkEnv(new WideEnv({ continuous: true }))).toEqual([
      "WideEnv: for Box action spaces a symmetric, normalised range ([-1, 1] or [0, 1]) is recommended",
      "WideEnv: a Box observation space minimum is -infinity; this is probably too low",
      "WideEnv: a Box observation space maximum is infinity; this is probably too high",
    ]);
  });
});

describe("the built-in classic-control envs pass checkEnv", () => {
  it.each(["CartPole-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Acrobot-v1", "Pendulum-v1"])(
    "%s",
    (id) => {
      for (const renderMode of [undefined, "ansi", "rgb_array"]) {
        const kwargs = renderMode === undefined ? {} : { render_mode: renderMode };
        expect(() => checkEnv(makeEnv(id, kwargs))).not.toThrow();
      }
    },
  );
});
