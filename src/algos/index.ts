/**
 * The algorithm registry: the one place that lists the algorithms. The run config is their union,
 * discriminated on `algo`; each algorithm's section (`ppo:`, `dqn:`, ...) exists only in its own configs.
 */
import type { z } from "zod";
import { ConfigError, parseConfig, readConfigFile, resolveModulePath } from "../config/load.js";
import { didYouMean } from "../utils/strings.js";
import { a2c } from "./a2c/index.js";
import type { Algorithm } from "./algorithm.js";
import { dqn } from "./dqn/index.js";
import { ppo } from "./ppo/index.js";
import { sac } from "./sac/index.js";

export const ALGORITHMS = [ppo, dqn, a2c, sac] as const;

type Definition = (typeof ALGORITHMS)[number];
/** A run config of any registered algorithm. */
export type RunConfig = z.infer<Definition["runConfigSchema"]>;
export type AlgorithmName = Definition["name"];

function definitionFor(algo: unknown, source: string): Definition {
  const names = ALGORITHMS.map((a) => a.name);
  const found = ALGORITHMS.find((a) => a.name === algo);
  if (found) return found;
  const got =
    algo === undefined
      ? "required"
      : `unknown algorithm ${JSON.stringify(algo)}${didYouMean(String(algo), names)}`;
  throw new ConfigError(`invalid config ${source}:\n  algo: ${got}; expected one of: ${names.join(", ")}`);
}

/** Validates a plain object as the run config of the algorithm its `algo` names. */
export function parseRunConfig(raw: unknown, source = "(object)"): RunConfig {
  const algo = raw !== null && typeof raw === "object" ? (raw as { algo?: unknown }).algo : undefined;
  return parseConfig(definitionFor(algo, source).runConfigSchema, raw, source) as RunConfig;
}

/** Reads a YAML run config, applies `--set` overrides and validates it; relative `env.module` paths become absolute. */
export function loadRunConfig(file: string, overrides: string[] = []): RunConfig {
  return resolveModulePath(parseRunConfig(readConfigFile(file, overrides), file), file);
}

/** The algorithm the config names, with its env runners and learner. */
export function createAlgorithm(config: RunConfig): Promise<Algorithm> {
  const definition = definitionFor(config.algo, "(object)");
  return (definition.create as (config: RunConfig) => Promise<Algorithm>)(config);
}
