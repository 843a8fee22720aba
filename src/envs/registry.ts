/**
 * The env registry, like `gymnasium.register` / `gymnasium.make`: an id names a factory plus its
 * registration values, and `makeEnv` builds the env, sets `env.spec`, and wraps it in the boundary
 * checker (order, actions, errors naming the env) and in `TimeLimit` when the id has a step limit.
 * The built-in envs (the classic-control suite and bsuite's Catch) are registered when this module loads.
 */
import { didYouMean } from "../utils/strings.js";
import { CatchEnv, type CatchKwargs } from "./catch.js";
import { CLASSIC_ENVS } from "./classic/index.js";
import { describeValue } from "./spaces.js";

export { parseKwargs } from "./kwargs.js";

import type { Env, EnvSpec } from "./types.js";
import { PassiveEnvChecker, TimeLimit } from "./wrappers.js";

/** Builds an env from keyword arguments: the registered defaults merged with the caller's. */
export type EnvFactory = (kwargs: Record<string, unknown>) => Env;

export interface RegisterOptions {
  /** Episodes are truncated after this many steps (`TimeLimit`). */
  maxEpisodeSteps?: number;
  /** The mean return at which the env counts as solved. */
  rewardThreshold?: number;
  /** Default kwargs for the factory; `makeEnv`'s kwargs override them key by key. */
  kwargs?: Record<string, unknown>;
  /** Replace an existing registration instead of failing. */
  override?: boolean;
}

export interface EnvRegistration {
  id: string;
  factory: EnvFactory;
  maxEpisodeSteps?: number;
  rewardThreshold?: number;
  kwargs: Record<string, unknown>;
}

const registry = new Map<string, EnvRegistration>();

/** Gymnasium's id form `[namespace/]name[-vN]`, loosely: no spaces, no empty parts. */
const ID_PATTERN = /^(?:[\w:.-]+\/)?[\w:.-]+$/;

export function registerEnv(id: string, factory: EnvFactory, options: RegisterOptions = {}): void {
  if (typeof id !== "string" || !ID_PATTERN.test(id)) {
    throw new TypeError(
      `registerEnv: id must look like "Name-v0" or "namespace/Name-v0", got ${describeValue(id)}`,
    );
  }
  if (typeof factory !== "function") {
    throw new TypeError(
      `registerEnv("${id}"): factory must be a function (kwargs) => Env, got ${describeValue(factory)}`,
    );
  }
  if (registry.has(id) && !options.override) {
    throw new Error(`registerEnv: "${id}" is already registered; pass {override: true} to replace it`);
  }
  const { maxEpisodeSteps, rewardThreshold, kwargs = {} } = options;
  if (maxEpisodeSteps !== undefined && !(Number.isInteger(maxEpisodeSteps) && maxEpisodeSteps > 0)) {
    throw new RangeError(
      `registerEnv("${id}"): maxEpisodeSteps must be a positive integer, got ${maxEpisodeSteps}`,
    );
  }
  registry.set(id, { id, factory, maxEpisodeSteps, rewardThreshold, kwargs: { ...kwargs } });
}

/** The registration of `id`; an unknown id is an error naming the closest registered ids. */
export function envRegistration(id: string): EnvRegistration {
  const registration = registry.get(id);
  if (!registration) {
    throw new RangeError(
      `No env registered with id "${id}"${didYouMean(id, registry.keys())}; \`rlts envs\` lists them (listEnvs() in code)`,
    );
  }
  return registration;
}

/** Every registration, in registration order (for `rlts envs`). */
export function listEnvs(): EnvRegistration[] {
  return [...registry.values()];
}

export interface MakeEnvOptions {
  /** Overrides the registered step limit (Gymnasium's `max_episode_steps`). */
  maxEpisodeSteps?: number;
  /** Leave out the boundary checker (Gymnasium's `disable_env_checker`): actions and order go unchecked. */
  disableEnvChecker?: boolean;
}

/**
 * Builds the env registered as `id` with the registered kwargs overridden by `kwargs`, as
 * `gymnasium.make`: `TimeLimit<PassiveEnvChecker<Env>>`, with `env.spec` set.
 */
export function makeEnv(id: string, kwargs: Record<string, unknown> = {}, options: MakeEnvOptions = {}): Env {
  const registration = envRegistration(id);
  const mergedKwargs = { ...registration.kwargs, ...kwargs };
  const maxEpisodeSteps = options.maxEpisodeSteps ?? registration.maxEpisodeSteps;
  let env = registration.factory(mergedKwargs);
  if (typeof env?.reset !== "function" || typeof env?.step !== "function") {
    throw new TypeError(`makeEnv("${id}"): the factory must return an Env, got ${describeValue(env)}`);
  }
  const spec: EnvSpec = {
    id,
    maxEpisodeSteps,
    rewardThreshold: registration.rewardThreshold,
    kwargs: mergedKwargs,
  };
  env.spec = spec;
  if (!options.disableEnvChecker) env = new PassiveEnvChecker(env);
  if (maxEpisodeSteps !== undefined) env = new TimeLimit(env, maxEpisodeSteps);
  return env;
}

for (const { id, create, maxEpisodeSteps, rewardThreshold } of CLASSIC_ENVS) {
  registerEnv(id, create, { maxEpisodeSteps, rewardThreshold });
}
// bsuite's Catch: every episode terminates after rows - 1 steps, so no TimeLimit; the best return is 1.
registerEnv("Catch-v0", (kwargs) => new CatchEnv(kwargs as CatchKwargs), { rewardThreshold: 0.9 });
