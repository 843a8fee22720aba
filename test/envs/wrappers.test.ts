import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { Box, Dict, Discrete, MultiBinary, type Space } from "../../src/envs/spaces.js";
import type { Env, EnvMetadata, Info, ResetOptions, StepResult } from "../../src/envs/types.js";
import {
  ClipAction,
  FlattenObservation,
  findWrapper,
  NormalizeObservation,
  NormalizeReward,
  RecordEpisodeStatistics,
  RunningMeanStd,
  TimeLimit,
} from "../../src/envs/wrappers.js";
import { createRng, normal } from "../../src/utils/rng.js";
import { WalkEnv } from "./toy-envs.js";

const PYTHON = "python/.venv/bin/python";

/**
 * A scripted episode stream, identical on both sides: observations (float32, very different scales per
 * dimension), rewards and terminations, and 2-d actions partly outside [-1, 1] for ClipAction.
 */
function makeScript(steps: number) {
  const rng = createRng(7);
  const obs = Array.from({ length: steps * 2 }, () =>
    Array.from(Float32Array.of(5 + 2 * normal(rng), -1 + 0.1 * normal(rng), 10 * normal(rng))),
  );
  const rewards = Array.from({ length: steps }, () => Math.round(100 * (1 + normal(rng))) / 10);
  const terminated = Array.from({ length: steps }, () => rng() < 0.03);
  const actions = Array.from({ length: steps }, () => [3 * normal(rng), 3 * normal(rng)]);
  return { obs, rewards, terminated, actions, maxEpisodeSteps: 40 };
}
type Script = ReturnType<typeof makeScript>;

/** Plays the script: reset and step return the next scripted observation; records the actions it gets. */
class ReplayEnv implements Env<Float32Array, Float32Array> {
  readonly observationSpace = new Box(
    Number.NEGATIVE_INFINITY,
    Number.POSITIVE_INFINITY,
    [3],
  ) as Space<Float32Array>;
  readonly actionSpace = new Box(-1, 1, [2]) as Space<Float32Array>;
  readonly metadata: EnvMetadata = { renderModes: [] };
  readonly actionsSeen: number[][] = [];
  private cursor = 0;
  private stepIndex = 0;

  constructor(private readonly script: Script) {}

  reset(_opts?: ResetOptions): [Float32Array, Info] {
    return [Float32Array.from(this.script.obs[this.cursor++]), {}];
  }

  step(action: Float32Array): StepResult<Float32Array> {
    this.actionsSeen.push(Array.from(action));
    const k = this.stepIndex++;
    return [
      Float32Array.from(this.script.obs[this.cursor++]),
      this.script.rewards[k],
      this.script.terminated[k],
      false,
      {},
    ];
  }

  render(): undefined {
    return undefined;
  }

  close(): void {}
}

// The same driver and wrapper stack in gymnasium 1.4; prints what each step returned.
const GYMNASIUM_DRIVER = `
import json, sys
import numpy as np
import gymnasium as gym
from gymnasium.wrappers import ClipAction, NormalizeObservation, NormalizeReward, RecordEpisodeStatistics, TimeLimit

script = json.load(sys.stdin)

class ReplayEnv(gym.Env):
    def __init__(self):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.action_space = gym.spaces.Box(-1, 1, (2,), np.float32)
        self.cursor, self.step_index, self.actions_seen = 0, 0, []
    def _next(self):
        self.cursor += 1
        return np.array(script["obs"][self.cursor - 1], dtype=np.float32)
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._next(), {}
    def step(self, action):
        self.actions_seen.append([float(a) for a in action])
        k = self.step_index
        self.step_index += 1
        return self._next(), script["rewards"][k], script["terminated"][k], False, {}

replay = ReplayEnv()
env = RecordEpisodeStatistics(NormalizeReward(NormalizeObservation(TimeLimit(ClipAction(replay), script["maxEpisodeSteps"]))))
out = {"obs": [], "rewards": [], "terminated": [], "truncated": [], "episodes": []}
obs, _ = env.reset(seed=0)
out["obs"].append(obs.tolist())
for action in script["actions"]:
    obs, reward, terminated, truncated, info = env.step(np.array(action, dtype=np.float32))
    out["obs"].append(obs.tolist()); out["rewards"].append(float(reward))
    out["terminated"].append(bool(terminated)); out["truncated"].append(bool(truncated))
    if "episode" in info:
        out["episodes"].append({"r": float(info["episode"]["r"]), "l": int(info["episode"]["l"])})
    if terminated or truncated:
        obs, _ = env.reset()
        out["obs"].append(obs.tolist())
out["actionsSeen"] = replay.actions_seen
out["obsMean"] = env.env.env.obs_rms.mean.tolist()
out["obsVar"] = env.env.env.obs_rms.var.tolist()
out["returnVar"] = float(env.env.return_rms.var)
print(json.dumps(out))
`;

function runOurs(script: Script) {
  const replay = new ReplayEnv(script);
  const env = new RecordEpisodeStatistics(
    new NormalizeReward(
      new NormalizeObservation(new TimeLimit(new ClipAction(replay), script.maxEpisodeSteps)),
    ),
  );
  const out = {
    obs: [] as number[][],
    rewards: [] as number[],
    terminated: [] as boolean[],
    truncated: [] as boolean[],
    episodes: [] as { r: number; l: number }[],
  };
  out.obs.push(Array.from(env.reset({ seed: 0 })[0]));
  for (const action of script.actions) {
    const [obs, reward, terminated, truncated, info] = env.step(Float32Array.from(action));
    out.obs.push(Array.from(obs));
    out.rewards.push(reward);
    out.terminated.push(terminated);
    out.truncated.push(truncated);
    const episode = info.episode as { r: number; l: number; t: number } | undefined;
    if (episode) out.episodes.push({ r: episode.r, l: episode.l });
    if (terminated || truncated) out.obs.push(Array.from(env.reset()[0]));
  }
  return { out, env, replay };
}

function expectClose(actual: number[], expected: number[], tolerance: number, what: string) {
  expect(actual.length, what).toBe(expected.length);
  actual.forEach((a, i) => {
    const b = expected[i];
    if (!(Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(b)))) {
      throw new Error(`${what}[${i}]: ${a} differs from gymnasium's ${b}`);
    }
  });
}

describe("the wrapper stack matches gymnasium 1.4 on the same scripted episodes", () => {
  const script = makeScript(400);
  const reference = JSON.parse(
    execFileSync(PYTHON, ["-c", GYMNASIUM_DRIVER], { input: JSON.stringify(script) }).toString(),
  );
  const { out, env, replay } = runOurs(script);

  it("TimeLimit: the same truncations, and terminations pass through", () => {
    expect(out.truncated).toEqual(reference.truncated);
    expect(out.terminated).toEqual(reference.terminated);
    expect(out.truncated.filter(Boolean).length).toBeGreaterThan(2);
    expect(out.terminated.filter(Boolean).length).toBeGreaterThan(2);
  });

  it("ClipAction: the env sees the same clipped actions, the caller's array is untouched", () => {
    expectClose(replay.actionsSeen.flat(), reference.actionsSeen.flat(), 0, "clipped actions");
    expect(replay.actionsSeen.flat().some((a) => a === 1 || a === -1)).toBe(true);
  });

  it("NormalizeObservation: the same normalised observations and running statistics", () => {
    // Gymnasium keeps float32 statistics for a float32 space; ours are float64, so allow float32 drift.
    expectClose(out.obs.flat(), reference.obs.flat(), 1e-4, "normalised obs");
    const rms = findWrapper(env, NormalizeObservation)!.obsRms;
    expectClose(Array.from(rms.mean), reference.obsMean, 1e-5, "obs mean");
    expectClose(Array.from(rms.var), reference.obsVar, 1e-5, "obs var");
  });

  it("NormalizeReward: the same scaled rewards", () => {
    expectClose(out.rewards, reference.rewards, 1e-12, "normalised rewards");
    expectClose(
      [findWrapper(env, NormalizeReward)!.returnRms.var[0]],
      [reference.returnVar],
      1e-12,
      "return var",
    );
  });

  it("RecordEpisodeStatistics: the same episode returns and lengths", () => {
    expect(out.episodes.map((e) => e.l)).toEqual(reference.episodes.map((e: { l: number }) => e.l));
    expectClose(
      out.episodes.map((e) => e.r),
      reference.episodes.map((e: { r: number }) => e.r),
      1e-9,
      "episode returns",
    );
    const stats = findWrapper(env, RecordEpisodeStatistics)!;
    expect(stats.episodeCount).toBe(reference.episodes.length);
    expect(stats.lengthQueue).toEqual(out.episodes.map((e) => e.l));
  });
});

describe("NormalizeObservation", () => {
  it("freezes with updateRunningMean = false and restores its statistics from a checkpoint", () => {
    const script = makeScript(50);
    const env = new NormalizeObservation(new ReplayEnv(script));
    env.reset();
    for (let i = 0; i < 20; i++) env.step(Float32Array.of(0, 0));
    const state = env.obsRms.getState();
    env.updateRunningMean = false;
    env.step(Float32Array.of(0, 0));
    expect(env.obsRms.getState()).toEqual(state);

    const restored = new NormalizeObservation(new ReplayEnv(script));
    restored.obsRms.setState(JSON.parse(JSON.stringify(state)));
    restored.updateRunningMean = false;
    restored.reset();
    const [expected] = env.step(Float32Array.of(0, 0));
    for (let i = 0; i < 21; i++) restored.step(Float32Array.of(0, 0));
    const [actual] = restored.step(Float32Array.of(0, 0));
    expect(Array.from(actual)).toEqual(Array.from(expected));
    expect(() => restored.obsRms.setState({ mean: [0], var: [1], count: 1 })).toThrow(/expected 3/);
  });

  it("RunningMeanStd merges a batch as the parallel algorithm: the same as one row at a time", () => {
    const rows = Float64Array.from({ length: 30 }, (_, i) => Math.sin(i) * 10 + i);
    const batched = new RunningMeanStd(3);
    batched.update(rows, 10);
    const single = new RunningMeanStd(3);
    for (let r = 0; r < 10; r++) single.update(rows.subarray(r * 3, r * 3 + 3));
    expectClose(Array.from(batched.mean), Array.from(single.mean), 1e-12, "mean");
    expectClose(Array.from(batched.var), Array.from(single.var), 1e-12, "var");
    expect(() => batched.update(rows, 3)).toThrow(/expected 3 rows of 3 numbers, got 30/);
  });

  it("needs a Box observation space and a positive epsilon", () => {
    const dictEnv = new WalkEnv();
    Object.defineProperty(dictEnv, "observationSpace", { value: new Dict({ a: new Discrete(2) }) });
    expect(() => new NormalizeObservation(dictEnv)).toThrow(
      /needs a Box observation space.*FlattenObservation/,
    );
    expect(() => new NormalizeObservation(new WalkEnv(), 0)).toThrow(/epsilon must be > 0/);
    expect(() => new NormalizeReward(new WalkEnv(), 1.5)).toThrow(/gamma must be in \[0, 1\]/);
  });
});

describe("FlattenObservation", () => {
  class DictObsEnv extends WalkEnv {
    override readonly observationSpace = new Dict([
      ["pos", new Box(-2, 2, [2])],
      ["mode", new Discrete(3)],
      ["flags", new MultiBinary(2)],
    ]) as never;
    override reset(opts?: ResetOptions): [Float32Array, Info] {
      super.reset(opts);
      return [{ pos: Float32Array.of(1.5, -2), mode: 2, flags: Int8Array.of(0, 1) } as never, {}];
    }
  }

  it("flattens like gymnasium's flatten and flatten_space", () => {
    const env = new FlattenObservation(new DictObsEnv());
    // gymnasium: flatten_space(space).low / .high and flatten(space, value) for this Dict.
    expect(Array.from((env.observationSpace as Box).low)).toEqual([-2, -2, 0, 0, 0, 0, 0]);
    expect(Array.from((env.observationSpace as Box).high)).toEqual([2, 2, 1, 1, 1, 1, 1]);
    expect(Array.from(env.reset()[0])).toEqual([1.5, -2.0, 0.0, 0.0, 1.0, 0.0, 1.0]);
  });
});

describe("ClipAction and TimeLimit", () => {
  it("ClipAction needs a Box action space and rejects a wrong-length action", () => {
    expect(() => new ClipAction(new WalkEnv())).toThrow(
      /ClipAction\(WalkEnv\): needs a Box action space, got Discrete\(3\)/,
    );
    const env = new ClipAction(new WalkEnv({ continuous: true }));
    env.reset({ seed: 0 });
    expect(() => env.step(Float32Array.of(1, 2))).toThrow(/expected an action of 1 numbers/);
    expect(String(env.actionSpace)).toBe("Box(-Infinity, Infinity, (1,), float32)");
  });

  it("TimeLimit validates its limit and reports it in the spec", () => {
    expect(() => new TimeLimit(new WalkEnv(), 0)).toThrow(/positive integer, got 0/);
    const inner = new WalkEnv();
    inner.spec = { id: "Walk-v0", maxEpisodeSteps: 100, kwargs: {} };
    expect(new TimeLimit(inner, 7).spec?.maxEpisodeSteps).toBe(7);
  });
});
