import { describe, expect, it } from "vitest";
import { envRegistration, listEnvs, makeEnv, parseKwargs, registerEnv } from "../../src/envs/registry.js";
import { Box, Discrete } from "../../src/envs/spaces.js";
import type { Env } from "../../src/envs/types.js";
import { PassiveEnvChecker, TimeLimit } from "../../src/envs/wrappers.js";
import { WalkEnv } from "./toy-envs.js";

registerEnv("test/Walk-v0", (kwargs) => new WalkEnv(kwargs), { maxEpisodeSteps: 5, rewardThreshold: 3 });
registerEnv("test/WalkContinuous-v0", (kwargs) => new WalkEnv(kwargs), { kwargs: { continuous: true } });

/** An env whose step throws on its third call. */
class ThrowingEnv extends WalkEnv {
  override step(action: unknown) {
    if (this.steps === 2) throw new Error("physics exploded");
    return super.step(action);
  }
}
registerEnv("test/Throwing-v0", () => new ThrowingEnv());

describe("registerEnv", () => {
  it("refuses to re-register an id unless told to override", () => {
    expect(() => registerEnv("test/Walk-v0", () => new WalkEnv())).toThrow(
      /already registered.*override: true/,
    );
    registerEnv("test/Override-v0", () => new WalkEnv());
    registerEnv("test/Override-v0", () => new WalkEnv({ continuous: true }), { override: true });
    expect(makeEnv("test/Override-v0").actionSpace).toBeInstanceOf(Box);
  });

  it("rejects bad ids, factories and limits", () => {
    expect(() => registerEnv("has space-v0", () => new WalkEnv())).toThrow(/id must look like/);
    expect(() => registerEnv("Bad-v0", "nope" as never)).toThrow(/factory must be a function/);
    expect(() => registerEnv("Bad-v0", () => new WalkEnv(), { maxEpisodeSteps: 0 })).toThrow(
      /maxEpisodeSteps must be a positive integer, got 0/,
    );
  });

  it("listEnvs lists the registrations with their values", () => {
    const walk = listEnvs().find((r) => r.id === "test/Walk-v0");
    expect(walk).toMatchObject({ maxEpisodeSteps: 5, rewardThreshold: 3, kwargs: {} });
  });
});

describe("makeEnv", () => {
  it("builds TimeLimit<PassiveEnvChecker<env>> with the spec set", () => {
    const env = makeEnv("test/Walk-v0");
    expect(env).toBeInstanceOf(TimeLimit);
    expect((env as TimeLimit).env).toBeInstanceOf(PassiveEnvChecker);
    expect(String(env)).toBe("TimeLimit<PassiveEnvChecker<WalkEnv<test/Walk-v0>>>");
    expect(env.spec).toEqual({ id: "test/Walk-v0", maxEpisodeSteps: 5, rewardThreshold: 3, kwargs: {} });
    expect((env as TimeLimit).unwrapped).toBeInstanceOf(WalkEnv);
  });

  it("truncates at maxEpisodeSteps, which makeEnv can override", () => {
    const env = makeEnv("test/Walk-v0");
    env.reset({ seed: 0 });
    const flags = Array.from({ length: 5 }, () => env.step(1).slice(2, 4));
    expect(flags).toEqual([...Array(4).fill([false, false]), [false, true]]);
    const longer = makeEnv("test/Walk-v0", {}, { maxEpisodeSteps: 8 });
    expect(longer.spec?.maxEpisodeSteps).toBe(8);
  });

  it("merges registered kwargs with the caller's", () => {
    const env = makeEnv("test/WalkContinuous-v0");
    expect(env.actionSpace).toBeInstanceOf(Box);
    expect(env.spec?.kwargs).toEqual({ continuous: true });
    const discrete = makeEnv("test/WalkContinuous-v0", { continuous: false });
    expect(discrete.actionSpace).toBeInstanceOf(Discrete);
    expect(envRegistration("test/WalkContinuous-v0").kwargs).toEqual({ continuous: true });
  });

  it("an unknown id names the closest registered ids", () => {
    expect(() => makeEnv("test/Walk-v1")).toThrow(
      /No env registered with id "test\/Walk-v1" \(did you mean "test\/Walk-v0"/,
    );
    expect(() => makeEnv("test/walkcontinuous-v0")).toThrow(/did you mean "test\/WalkContinuous-v0"/);
  });

  it("an unknown kwarg names the key and the accepted ones", () => {
    expect(() => makeEnv("test/Walk-v0", { continous: true })).toThrow(
      'WalkEnv: unknown kwarg "continous" (did you mean "continuous"?); accepted kwargs: continuous, renderMode',
    );
    expect(() => makeEnv("test/Walk-v0", { continuous: "yes" })).toThrow(
      /kwarg "continuous" must be a boolean \(default false\), got "yes"/,
    );
  });

  it("step or render before reset is an error", () => {
    const env = makeEnv("test/Walk-v0");
    expect(() => env.step(1)).toThrow("test/Walk-v0: step() was called before reset(); call reset() first");
    expect(() => env.render()).toThrow(/render\(\) was called before reset\(\)/);
    env.reset();
    expect(env.render()).toMatch(/^position /);
  });

  it("makeEnv with disableEnvChecker leaves the boundary out", () => {
    const env = makeEnv("test/Walk-v0", {}, { disableEnvChecker: true });
    expect(String(env)).toBe("TimeLimit<WalkEnv<test/Walk-v0>>");
  });
});

describe("actions are checked at the boundary", () => {
  const discrete = makeEnv("test/Walk-v0");
  discrete.reset({ seed: 1 });
  const continuous = makeEnv("test/WalkContinuous-v0");
  continuous.reset({ seed: 1 });

  it.each([
    [3, /action 3 is not in the action space Discrete\(3\): expected an integer in \[0, 3\), got 3/],
    [-1, /action -1 is not in/],
    [1.5, /action 1.5 is not in/],
    [Number.NaN, /action "NaN" is not in/],
    ["1", /action "1" is not in/],
    [undefined, /action undefined is not in/],
  ])("Discrete action %s", (action, message) => {
    expect(() => discrete.step(action)).toThrow(RangeError);
    expect(() => discrete.step(action)).toThrow(message);
    expect(() => discrete.step(action)).toThrow(/^test\/Walk-v0: /);
  });

  it.each([
    [Float32Array.of(1.5), /Box\(-1, 1, \(1,\), float32\): element 0 = 1.5 is above high 1/],
    [Float32Array.of(Number.NaN), /element 0 is NaN/],
    [Float32Array.of(0, 0), /expected 1 numbers, got 2/],
    [0.5, /expected an array \(shape \[1\]\) of 1 numbers, got 0.5/],
  ])("Box action %s", (action, message) => {
    expect(() => continuous.step(action)).toThrow(RangeError);
    expect(() => continuous.step(action)).toThrow(message);
  });

  it("a valid action still steps after rejected ones", () => {
    expect(discrete.step(2)[0]).toBeInstanceOf(Float32Array);
    expect(continuous.step(Float32Array.of(-0.5))[0]).toBeInstanceOf(Float32Array);
  });
});

describe("errors inside an env", () => {
  it("carry the env id and the step, with the original as cause", () => {
    const env = makeEnv("test/Throwing-v0");
    env.reset({ seed: 0 });
    env.step(1);
    env.step(1);
    let caught: unknown;
    try {
      env.step(0);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(Error);
    expect((caught as Error).message).toBe(
      "test/Throwing-v0: step(0) at step 3 of the episode threw: physics exploded",
    );
    expect(((caught as Error).cause as Error).message).toBe("physics exploded");
  });

  it("a factory that returns no env is an error naming the id", () => {
    registerEnv("test/Broken-v0", () => ({}) as Env);
    expect(() => makeEnv("test/Broken-v0")).toThrow(
      /makeEnv\("test\/Broken-v0"\): the factory must return an Env/,
    );
  });

  it("an env returning a malformed first step is caught by the passive check", () => {
    class NoInfoEnv extends WalkEnv {
      override step(action: unknown) {
        const result = super.step(action);
        return [result[0], result[1], result[2], result[3], undefined as never] as typeof result;
      }
    }
    registerEnv("test/NoInfo-v0", () => new NoInfoEnv());
    const env = makeEnv("test/NoInfo-v0");
    env.reset();
    expect(() => env.step(1)).toThrow(
      "test/NoInfo-v0: the info from step() must be an object, got undefined",
    );
  });
});

describe("parseKwargs", () => {
  it("returns defaults overridden by kwargs", () => {
    expect(parseKwargs("E", { g: 9.81 }, { g: 10, renderMode: undefined as string | undefined })).toEqual({
      g: 9.81,
      renderMode: undefined,
    });
  });

  it("an env without kwargs says so", () => {
    expect(() => parseKwargs("E", { x: 1 }, {})).toThrow('E: unknown kwarg "x"; accepted kwargs: none');
  });
});

describe("built-in envs", () => {
  it("are registered when the registry loads", () => {
    const ids = listEnvs().map((r) => r.id);
    for (const id of [
      "CartPole-v1",
      "MountainCar-v0",
      "MountainCarContinuous-v0",
      "Acrobot-v1",
      "Pendulum-v1",
    ]) {
      expect(ids).toContain(id);
    }
    expect(envRegistration("CartPole-v1")).toMatchObject({ maxEpisodeSteps: 500, rewardThreshold: 475 });
    expect(() => makeEnv("CartPole-v0")).toThrow(/did you mean "CartPole-v1"/);
  });
});
