import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { applyOverride, ConfigError, loadRunConfig, parseRunConfig } from "../../src/config/load.js";
import { scheduleValue } from "../../src/utils/schedule.js";

function writeConfig(text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "rlts-config-")), "run.yaml");
  writeFileSync(file, text);
  return file;
}

describe("run config", () => {
  it("fills RLlib-named defaults", () => {
    const config = parseRunConfig({ algo: "PPO", env: { id: "CartPole-v1" } });
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

  it("rejects out-of-range values and unknown algorithms", () => {
    expect(() => parseRunConfig({ algo: "PPO", env: { id: "X" }, ppo: { gamma: 1.5 } })).toThrow(
      /ppo\.gamma: Too big/,
    );
    expect(() => parseRunConfig({ algo: "A2C", env: { id: "X" } })).toThrow(/algo: .*"PPO"/);
    expect(() => parseRunConfig({ algo: "PPO" })).toThrow(/env: required/);
  });

  it("applies --set overrides parsed as YAML", () => {
    const file = writeConfig("algo: PPO\nenv:\n  id: CartPole-v1\nppo:\n  lr: 0.001\n");
    const { config } = loadRunConfig(file, [
      "ppo.lr=3e-4",
      "model.hiddens=[32, 32]",
      "stop.env_runners/episode_return_mean=200",
    ]);
    expect(config.ppo.lr).toBe(3e-4);
    expect(config.model.hiddens).toEqual([32, 32]);
    expect(config.stop["env_runners/episode_return_mean"]).toBe(200);
    expect(() => applyOverride({}, "ppo.lr")).toThrow(/expected key.path=value/);
    expect(() => loadRunConfig(file, ["ppo.lrr=1"])).toThrow(/ppo\.lrr: unknown key \(did you mean "lr"\?\)/);
  });

  it("resolves env.module relative to the config file", () => {
    const file = writeConfig("algo: PPO\nenv:\n  id: MyEnv-v0\n  module: ./my-env.ts\n");
    expect(loadRunConfig(file).config.env.module).toBe(path.join(path.dirname(file), "my-env.ts"));
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
