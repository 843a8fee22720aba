import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dqnRunConfigSchema } from "../../src/algos/dqn/config.js";
import { loadRunConfig, parseRunConfig } from "../../src/algos/index.js";
import { ppoRunConfigSchema } from "../../src/algos/ppo/config.js";
import { applyOverride, ConfigError, parseConfig } from "../../src/config/load.js";
import { envRunnerPlacement } from "../../src/config/schema.js";
import { scheduleValue } from "../../src/utils/schedule.js";

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function writeConfig(text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), "rlts-config-"));
  tempDirs.push(dir);
  const file = path.join(dir, "run.yaml");
  writeFileSync(file, text);
  return file;
}

describe("run config", () => {
  it("says what a schedule is, and that a minibatch cannot exceed the batch", () => {
    expect(() => parseRunConfig({ algo: "PPO", env: { id: "CartPole-v1" }, ppo: { lr: "fast" } })).toThrow(
      /ppo\.lr: expected a number or a schedule \[\[timestep, value\], \.\.\.\]/,
    );
    expect(() =>
      parseRunConfig({
        algo: "PPO",
        env: { id: "CartPole-v1" },
        ppo: { train_batch_size: 256, minibatch_size: 512 },
      }),
    ).toThrow(/ppo\.minibatch_size: must be at most train_batch_size/);
  });

  it("fills RLlib-named defaults", () => {
    const config = parseRunConfig({ algo: "PPO", env: { id: "CartPole-v1" } });
    if (config.algo !== "PPO") throw new Error(`expected a PPO config, got ${config.algo}`);
    expect(config.ppo.gamma).toBe(0.99);
    expect(config.ppo.clip_param).toBe(0.2);
    expect(config.env_runners.num_env_runners).toBe(0);
    expect(config.env.backend).toBe("builtin");
  });

  it("names every bad key path, with did-you-mean for typos", () => {
    const bad = {
      algo: "PPO",
      env: { id: "CartPole-v1", backnd: "gymnasium" },
      ppo: { gama: 0.9, lambda: "x" },
    };
    let message = "";
    try {
      parseRunConfig(bad, "bad.yaml");
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toContain("invalid config bad.yaml");
    expect(message).toMatch(/env\.backnd: unknown key \(did you mean "backend"\?\)/);
    expect(message).toMatch(/ppo\.gama: unknown key \(did you mean "gamma"\?\)/);
    expect(message).toMatch(/ppo\.lambda: .*expected number.*"x"/);
  });

  it("fills DQN's defaults in a DQN config, and no ppo section", () => {
    const config = parseRunConfig({ algo: "DQN", env: { id: "CartPole-v1" } });
    if (config.algo !== "DQN") throw new Error(`expected a DQN config, got ${config.algo}`);
    expect(config.dqn.target_network_update_freq).toBe(500);
    expect(config.dqn.replay_buffer_config.type).toBe("prioritized");
    expect(config.env_runners.num_envs_per_env_runner).toBe(8);
    expect(config).not.toHaveProperty("ppo");
  });

  it("rejects out-of-range values and unknown algorithms", () => {
    expect(() => parseRunConfig({ algo: "PPO", env: { id: "X" }, ppo: { gamma: 1.5 } })).toThrow(
      /ppo\.gamma: Too big/,
    );
    const unknown = /algo: unknown algorithm "NotAnAlgorithm"; expected one of: .*\bPPO\b/;
    expect(() => parseRunConfig({ algo: "NotAnAlgorithm", env: { id: "X" } })).toThrow(ConfigError);
    expect(() => parseRunConfig({ algo: "NotAnAlgorithm", env: { id: "X" } })).toThrow(unknown);
    expect(() => parseRunConfig({ algo: "NotAnAlgorithm", env: { id: "X" } })).toThrow(/\bDQN\b/);
    expect(() => parseRunConfig({ env: { id: "X" } }, "no-algo.yaml")).toThrow(
      /invalid config no-algo\.yaml:\n {2}algo: required; expected one of: .*\bPPO\b/,
    );
    expect(() => parseRunConfig({ algo: "PPO" })).toThrow(/env: required/);
    expect(() => parseRunConfig({ algo: "DQN" })).toThrow(/env: required/);
    const threads = (num_threads: unknown) => () =>
      parseRunConfig({ algo: "PPO", env: { id: "X" }, learner: { num_threads } });
    expect(threads(0)).toThrow(/learner\.num_threads: Too small: expected number to be >=1/);
    expect(threads("all")).toThrow(/learner\.num_threads: Invalid input \(got "all"\)/);
    expect(threads(2)().learner.num_threads).toBe(2);
  });

  it("says did-you-mean for a misspelt algorithm", () => {
    let error: unknown;
    try {
      parseRunConfig({ algo: "PPOO", env: { id: "CartPole-v1" } }, "typo.yaml");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain("invalid config typo.yaml");
    expect(message).toMatch(/algo: unknown algorithm "PPOO" \(did you mean "PPO"\?\)/);
    expect(message).toMatch(/expected one of: .*\bPPO\b/);
  });

  it("places env runners as env_runners.placement says, or as num_env_runners implies", () => {
    const runners = (env_runners: Record<string, unknown>) =>
      parseRunConfig({ algo: "PPO", env: { id: "CartPole-v1" }, env_runners }).env_runners;
    expect(envRunnerPlacement(runners({}))).toBe("main");
    expect(envRunnerPlacement(runners({ num_env_runners: 2 }))).toBe("threads");
    const ray = runners({ num_env_runners: 2, placement: "ray" });
    expect(envRunnerPlacement(ray)).toBe("ray");
    expect(ray.ray).toEqual({ address: "auto", num_cpus_per_env_runner: 1, runtime_env: {} });
    expect(() => runners({ placement: "ray" })).toThrow(
      /env_runners\.placement: placement ray needs num_env_runners of at least 1/,
    );
    expect(() => runners({ placement: "main", num_env_runners: 2 })).toThrow(
      /env_runners\.placement: placement main samples in the calling thread: num_env_runners must be 0, got 2/,
    );
    expect(() => runners({ num_env_runners: 2, placement: "ray", ray: { adress: "x:1" } })).toThrow(
      /env_runners\.ray\.adress: unknown key/,
    );
  });

  it("rejects another algorithm's section: a PPO config with dqn:, a DQN config with ppo:", () => {
    const ppoWithDqn = { algo: "PPO", env: { id: "CartPole-v1" }, dqn: { n_step: 3 } };
    expect(() => parseRunConfig(ppoWithDqn, "ppo.yaml")).toThrow(ConfigError);
    expect(() => parseRunConfig(ppoWithDqn, "ppo.yaml")).toThrow(/invalid config ppo\.yaml/);
    expect(() => parseRunConfig(ppoWithDqn)).toThrow(/(^|\n) {2}dqn: unknown key/);
    // Through PPO's own schema (what PPO.create validates with) and with algo left out, the same.
    expect(() =>
      parseConfig(ppoRunConfigSchema, { env: { id: "CartPole-v1" }, dqn: {} }, "PPO config"),
    ).toThrow(/dqn: unknown key/);
    const dqnWithPpo = { algo: "DQN", env: { id: "CartPole-v1" }, ppo: { lambda: 0.9 } };
    expect(() => parseRunConfig(dqnWithPpo)).toThrow(/(^|\n) {2}ppo: unknown key/);
    expect(() =>
      parseConfig(dqnRunConfigSchema, { env: { id: "CartPole-v1" }, ppo: {} }, "DQN config"),
    ).toThrow(/ppo: unknown key/);
    // The schemas disagree on algo: a PPO schema does not take a DQN config.
    expect(() => parseConfig(ppoRunConfigSchema, { algo: "DQN", env: { id: "X" } }, "PPO config")).toThrow(
      /algo: /,
    );
  });

  it("applies --set overrides parsed as YAML", () => {
    const file = writeConfig("algo: PPO\nenv:\n  id: CartPole-v1\nppo:\n  lr: 0.001\n");
    const config = loadRunConfig(file, [
      "ppo.lr=3e-4",
      "model.hiddens=[32, 32]",
      "stop.env_runners/episode_return_mean=200",
    ]);
    if (config.algo !== "PPO") throw new Error(`expected a PPO config, got ${config.algo}`);
    expect(config.ppo.lr).toBe(3e-4);
    expect(config.model.hiddens).toEqual([32, 32]);
    expect(config.stop["env_runners/episode_return_mean"]).toBe(200);
    expect(() => applyOverride({}, "ppo.lr")).toThrow(/expected key.path=value/);
    expect(() => loadRunConfig(file, ["ppo.lrr=1"])).toThrow(/ppo\.lrr: unknown key \(did you mean "lr"\?\)/);
  });

  it("resolves env.module relative to the config file", () => {
    const file = writeConfig("algo: PPO\nenv:\n  id: MyEnv-v0\n  module: ./my-env.ts\n");
    expect(loadRunConfig(file).env.module).toBe(path.join(path.dirname(file), "my-env.ts"));
  });

  it("reports unreadable files and bad YAML clearly", () => {
    expect(() => loadRunConfig("/nonexistent/run.yaml")).toThrow(
      /cannot read config \/nonexistent\/run.yaml/,
    );
    expect(() => loadRunConfig(writeConfig("algo: [PPO\n"))).toThrow(/is not valid YAML/);
  });
});

describe("schedules", () => {
  it("interpolates piecewise-linearly and holds the ends", () => {
    const schedule: [number, number][] = [
      [0, 1],
      [100, 0.1],
      [200, 0.05],
    ];
    expect(scheduleValue(schedule, 0)).toBe(1);
    expect(scheduleValue(schedule, 50)).toBeCloseTo(0.55, 12);
    expect(scheduleValue(schedule, 150)).toBeCloseTo(0.075, 12);
    expect(scheduleValue(schedule, 1e9)).toBe(0.05);
    expect(scheduleValue(3e-4, 1e9)).toBe(3e-4);
    expect(() =>
      parseRunConfig({
        algo: "PPO",
        env: { id: "X" },
        ppo: {
          lr: [
            [10, 1],
            [5, 0],
          ],
        },
      }),
    ).toThrow(/ascending/);
  });
});
