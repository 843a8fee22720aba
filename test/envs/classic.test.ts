/**
 * The classic-control envs against Gymnasium 1.4 itself: test/fixtures/classic_reference.json holds
 * episodes recorded from `gymnasium.make(id)` by scripts/gen_reference.py (fixed start states, fixed
 * actions, terminations and time-limit truncations). Every episode is replayed here step by step.
 */
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  AcrobotEnv,
  CartPoleEnv,
  CLASSIC_ENVS,
  type ClassicControlEnv,
  ContinuousMountainCarEnv,
  MountainCarEnv,
  PendulumEnv,
} from "../../src/envs/classic/index.js";
import type { RgbArray } from "../../src/envs/types.js";

interface ReferenceEpisode {
  env: string;
  kwargs: Record<string, unknown>;
  attributes: Record<string, unknown>;
  start_state: number[];
  actions: (number | number[])[];
  obs: number[][];
  rewards: number[];
  terminated: number[];
  truncated: number[];
}

interface Reference {
  gymnasium_version: string;
  registrations: Record<
    string,
    {
      max_episode_steps: number;
      reward_threshold: number | null;
      observation_space: { low: (number | string)[]; high: (number | string)[] };
      render_fps: number;
    }
  >;
  episodes: ReferenceEpisode[];
}

const reference: Reference = JSON.parse(
  readFileSync(new URL("../fixtures/classic_reference.json", import.meta.url), "utf8"),
);

/** Gymnasium attribute names set by the generator, and the TypeScript property each one is. */
const ATTRIBUTE_NAMES: Record<string, string> = { kinematics_integrator: "kinematicsIntegrator" };

const registrationOf = (id: string) => {
  const registration = CLASSIC_ENVS.find((r) => r.id === id);
  if (!registration) throw new Error(`${id} is not in CLASSIC_ENVS`);
  return registration;
};

/** A float32 bound from the fixture ("inf" / "-inf" for infinite ones). */
const float32Of = (x: number | string) =>
  x === "inf" ? Infinity : x === "-inf" ? -Infinity : Math.fround(x as number);

/** Observations within 1e-6 relative, with an absolute floor of 1e-6 near zero. */
function obsClose(actual: ArrayLike<number>, expected: number[]): boolean {
  if (actual.length !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) {
    const b = Math.fround(expected[i]);
    if (!(Math.abs(actual[i] - b) <= 1e-6 * Math.max(1, Math.abs(b)))) return false;
  }
  return true;
}

/** Replays one reference episode; returns a description of the first mismatch, or null. */
function replay(episode: ReferenceEpisode, seed: number): string | null {
  const registration = registrationOf(episode.env);
  const env = registration.create(episode.kwargs) as ClassicControlEnv<unknown>;
  for (const [name, value] of Object.entries(episode.attributes)) {
    (env as unknown as Record<string, unknown>)[ATTRIBUTE_NAMES[name]] = value;
  }
  env.reset({ seed });
  env.state = Float64Array.from(episode.start_state);
  // The registry's TimeLimit, counted here so that this test depends only on the envs.
  let elapsed = 0;
  for (let t = 0; t < episode.actions.length; t++) {
    const recorded = episode.actions[t];
    const action = typeof recorded === "number" ? recorded : Float32Array.from(recorded);
    const [obs, reward, terminated, envTruncated] = env.step(action);
    elapsed++;
    const truncated = envTruncated || elapsed >= registration.maxEpisodeSteps;
    const where = `step ${t + 1} (action ${JSON.stringify(recorded)})`;
    if (!obsClose(obs, episode.obs[t])) {
      return `${where}: obs [${Array.from(obs).join(", ")}], Gymnasium [${episode.obs[t].join(", ")}]`;
    }
    const expectedReward = episode.rewards[t];
    if (!(Math.abs(reward - expectedReward) <= 1e-12 * Math.max(1, Math.abs(expectedReward)))) {
      return `${where}: reward ${reward}, Gymnasium ${expectedReward}`;
    }
    if (terminated !== (episode.terminated[t] === 1) || truncated !== (episode.truncated[t] === 1)) {
      return `${where}: terminated/truncated ${terminated}/${truncated}, Gymnasium ${episode.terminated[t] === 1}/${episode.truncated[t] === 1}`;
    }
  }
  return null;
}

describe("classic envs replay Gymnasium's reference episodes", () => {
  it("the reference covers every env, with terminations and truncations", () => {
    const ids = new Set(reference.episodes.map((e) => e.env));
    expect([...ids].sort()).toEqual(CLASSIC_ENVS.map((r) => r.id).sort());
    expect(reference.episodes.some((e) => e.terminated.includes(1))).toBe(true);
    expect(reference.episodes.some((e) => e.truncated.includes(1))).toBe(true);
  });

  reference.episodes.forEach((episode, i) => {
    it(`episode ${i}: ${episode.env} ${JSON.stringify(episode.kwargs)}, ${episode.actions.length} steps`, () => {
      expect(replay(episode, i)).toBeNull();
    });
  });
});

describe("registration values and spaces match Gymnasium's", () => {
  for (const [id, expected] of Object.entries(reference.registrations)) {
    it(id, () => {
      const registration = registrationOf(id);
      expect(registration.maxEpisodeSteps).toBe(expected.max_episode_steps);
      expect(registration.rewardThreshold).toBe(expected.reward_threshold ?? undefined);
      const env = registration.create({}) as ClassicControlEnv<unknown>;
      expect(Array.from(env.observationSpace.low)).toEqual(expected.observation_space.low.map(float32Of));
      expect(Array.from(env.observationSpace.high)).toEqual(expected.observation_space.high.map(float32Of));
      expect(env.metadata.renderFps).toBe(expected.render_fps);
    });
  }
});

/** A run of random actions from a seeded reset: the observations and rewards, flattened. */
function seededRollout(id: string, seed: number, steps = 60): number[] {
  const env = registrationOf(id).create({});
  env.actionSpace.seed(seed);
  const out = Array.from(env.reset({ seed })[0] as Float32Array);
  for (let t = 0; t < steps; t++) {
    const [obs, reward, terminated] = env.step(env.actionSpace.sample());
    out.push(...(obs as Float32Array), reward);
    if (terminated) out.push(...(env.reset()[0] as Float32Array));
  }
  return out;
}

describe("seeding", () => {
  for (const { id } of CLASSIC_ENVS) {
    it(`${id}: the same seed gives the same trajectory, another seed another`, () => {
      expect(seededRollout(id, 7)).toEqual(seededRollout(id, 7));
      expect(seededRollout(id, 8)).not.toEqual(seededRollout(id, 7));
    });
  }

  it("reset() without a seed continues the generator; reset({seed}) restarts it", () => {
    const env = new CartPoleEnv();
    const [first] = env.reset({ seed: 3 });
    const [second] = env.reset();
    const [again] = env.reset({ seed: 3 });
    expect(Array.from(second)).not.toEqual(Array.from(first));
    expect(Array.from(again)).toEqual(Array.from(first));
  });

  it("start states lie in Gymnasium's ranges and follow options.low / options.high", () => {
    const cartpole = new CartPoleEnv();
    for (let seed = 0; seed < 20; seed++) {
      cartpole.reset({ seed });
      for (const v of cartpole.state!) expect(Math.abs(v)).toBeLessThan(0.05);
      cartpole.reset({ seed, options: { low: 0.2, high: 0.3 } });
      for (const v of cartpole.state!) expect(v >= 0.2 && v < 0.3).toBe(true);
    }
    const pendulum = new PendulumEnv();
    pendulum.reset({ seed: 1, options: { x_init: 0.5, y_init: 0.1 } });
    expect(Math.abs(pendulum.state![0])).toBeLessThanOrEqual(0.5);
    expect(Math.abs(pendulum.state![1])).toBeLessThanOrEqual(0.1);
    const car = new MountainCarEnv();
    car.reset({ seed: 1 });
    expect(car.state![0] >= -0.6 && car.state![0] < -0.4 && car.state![1] === 0).toBe(true);
    const acrobot = new AcrobotEnv();
    acrobot.reset({ seed: 1 });
    for (const v of acrobot.state!) expect(v === Math.fround(v) && Math.abs(v) <= 0.1).toBe(true);
  });

  it("bad seeds and reset options are errors naming the env and the option", () => {
    const env = new CartPoleEnv();
    expect(() => env.reset({ seed: -1 })).toThrow(/CartPole-v1: reset seed must be a non-negative integer/);
    expect(() => env.reset({ options: { low: 0.1, high: -0.1 } })).toThrow(/CartPole-v1: reset option low/);
    expect(() => env.reset({ options: { low: "abc" } })).toThrow(/reset option "low" must be a number/);
    expect(() => new PendulumEnv().reset({ options: { x_init: null } })).toThrow(/"x_init" must be a number/);
  });
});

describe("kwargs", () => {
  it("an unknown kwarg names the key and the accepted keys", () => {
    expect(() => registrationOf("CartPole-v1").create({ sutton_barto: true })).toThrow(
      /CartPole-v1: unknown kwarg "sutton_barto" \(did you mean "sutton_barto_reward"\?\); accepted kwargs: render_mode, sutton_barto_reward/,
    );
    expect(() => registrationOf("Acrobot-v1").create({ g: 9.8 })).toThrow(/Acrobot-v1: unknown kwarg "g"/);
  });

  it("a kwarg of the wrong type or an unknown render_mode is an error", () => {
    expect(() => new PendulumEnv({ g: "10" as unknown as number })).toThrow(
      /kwarg "g" must be a finite number/,
    );
    expect(() => new CartPoleEnv({ render_mode: "human" as "ansi" })).toThrow(/render_mode must be one of/);
  });

  it("known kwargs change the dynamics", () => {
    const weak = new PendulumEnv({ g: 1.0 });
    const strong = new PendulumEnv({ g: 20.0 });
    for (const env of [weak, strong]) {
      env.reset({ seed: 0 });
      env.state = Float64Array.of(1, 0);
    }
    // Gravity speeds the fall from theta = 1 rad: theta_dot grows with g.
    expect(strong.step([0])[0][2]).toBeGreaterThan(weak.step([0])[0][2]);
  });
});

describe("episode order", () => {
  afterEach(() => vi.restoreAllMocks());

  it("step() before reset() is a clear error", () => {
    for (const { id, create } of CLASSIC_ENVS) {
      const env = create({});
      const action = env.actionSpace.sample();
      expect(() => env.step(action)).toThrow(`${id}: step() was called before reset()`);
    }
  });

  it("CartPole stepped after termination warns once and gives reward 0, as Gymnasium", () => {
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    const env = new CartPoleEnv();
    env.reset({ seed: 0 });
    env.state = Float64Array.of(2.39, 1, 0, 0);
    expect(env.step(1).slice(1, 3)).toEqual([1, true]);
    expect(env.step(1).slice(1, 3)).toEqual([0, true]);
    expect(env.step(1).slice(1, 3)).toEqual([0, true]);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it("actions outside the space are errors naming the env", () => {
    const env = new CartPoleEnv();
    env.reset();
    expect(() => env.step(2)).toThrow(/CartPole-v1: action must be 0 or 1/);
    const acrobot = new AcrobotEnv();
    acrobot.reset();
    expect(() => acrobot.step(3)).toThrow(/Acrobot-v1: action must be 0, 1 or 2/);
    const car = new ContinuousMountainCarEnv();
    car.reset();
    expect(() => car.step(undefined as unknown as number[])).toThrow(
      /MountainCarContinuous-v0: action must be/,
    );
  });
});

describe("render", () => {
  afterEach(() => vi.restoreAllMocks());

  const sizes: Record<string, [height: number, width: number]> = {
    "CartPole-v1": [400, 600],
    "MountainCar-v0": [400, 600],
    "MountainCarContinuous-v0": [400, 600],
    "Pendulum-v1": [500, 500],
    "Acrobot-v1": [500, 500],
  };

  for (const { id, create } of CLASSIC_ENVS) {
    it(`${id}: rgb_array has Gymnasium's size and draws something; ansi is a short text`, () => {
      const env = create({ render_mode: "rgb_array" });
      expect(env.metadata.renderModes).toEqual(["ansi", "rgb_array"]);
      env.reset({ seed: 0 });
      const frame = env.render() as RgbArray;
      const [height, width] = sizes[id];
      expect([frame.height, frame.width, frame.data.length]).toEqual([height, width, height * width * 3]);
      const drawn = frame.data.filter((v) => v !== 255).length;
      expect(drawn).toBeGreaterThan(100);
      const text = create({ render_mode: "ansi" });
      text.reset({ seed: 0 });
      const picture = text.render() as string;
      expect(typeof picture).toBe("string");
      expect(picture.length).toBeGreaterThan(10);
      expect(picture.length).toBeLessThan(200);
    });
  }

  it("CartPole's picture: a black cart where the state puts it, the pole above, white elsewhere", () => {
    const env = new CartPoleEnv({ render_mode: "rgb_array" });
    env.reset({ seed: 0 });
    env.state = Float64Array.of(1.2, 0, 0, 0);
    const { data, width, height } = env.render() as RgbArray;
    const pixel = (x: number, yUp: number) =>
      Array.from(data.subarray(((height - 1 - yUp) * width + x) * 3).slice(0, 3));
    const cartX = 1.2 * 125 + 300; // scale 600 / 4.8, centre 300
    expect(pixel(cartX - 20, 95)).toEqual([0, 0, 0]);
    expect(pixel(cartX, 170)).toEqual([202, 152, 101]);
    expect(pixel(cartX, 107)).toEqual([129, 132, 203]);
    expect(pixel(100, 300)).toEqual([255, 255, 255]);
    expect(pixel(100, 100)).toEqual([0, 0, 0]); // the track line
    env.state = Float64Array.of(0, 0, 0.2, 0);
    const tilted = env.render() as RgbArray;
    // Leaning right (theta > 0): the pole's top is right of the cart's centre.
    const top = Array.from(tilted.data.subarray(((height - 1 - 200) * width + 300 + 20) * 3).slice(0, 3));
    expect(top).toEqual([202, 152, 101]);
  });

  it("ansi shows the pole's lean; render() without a render_mode warns and returns undefined", () => {
    const env = new CartPoleEnv({ render_mode: "ansi" });
    env.reset({ seed: 0 });
    env.state = Float64Array.of(0, 0, 0.1, 0);
    expect(env.render()).toMatch(/^ +\/ *\n-+#-+ /);
    const warn = vi.spyOn(process, "emitWarning").mockImplementation(() => {});
    const silent = new MountainCarEnv();
    silent.reset();
    expect(silent.render()).toBeUndefined();
    expect(warn).toHaveBeenCalledOnce();
  });
});
