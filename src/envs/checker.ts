/**
 * Checks that an env follows the Gymnasium API, like `gymnasium.utils.env_checker.check_env`, plus the
 * small helpers the registry's boundary wrapper shares with it: naming an env, saying why a value is not
 * in a space, and checking one `reset`/`step` result.
 *
 * `checkEnv` throws an `EnvCheckError` at the first real problem (Gymnasium asserts or warns; a TypeScript
 * user gets one clear error) and returns the soft warnings Gymnasium logs (infinite bounds, an
 * unnormalised action Box).
 */
import { Box, Dict, Discrete, describeValue, MultiBinary, MultiDiscrete, Space, Tuple } from "./spaces.js";
import type { Env, Info } from "./types.js";

/** An env's name for messages: its registry id, else the class name of the innermost env. */
export function envName(env: Env): string {
  if (env.spec?.id) return env.spec.id;
  const inner = (env as { unwrapped?: Env }).unwrapped ?? env;
  return inner.constructor?.name || "Env";
}

function isPlainObject(x: unknown): x is Info {
  return typeof x === "object" && x !== null && !Array.isArray(x) && !ArrayBuffer.isView(x);
}

function isNumericArray(x: unknown): x is ArrayLike<number> {
  return (
    (ArrayBuffer.isView(x) && !(x instanceof DataView)) ||
    (Array.isArray(x) && x.every((v) => typeof v === "number"))
  );
}

/** Why each element of `x` fails `inRange(i, v)`, for the array-valued spaces. */
function elementProblem(
  x: unknown,
  length: number,
  what: string,
  elementProblemAt: (i: number, v: number) => string | undefined,
): string | undefined {
  if (!isNumericArray(x)) return `expected ${what} of ${length} numbers, got ${describeValue(x)}`;
  if (x.length !== length) return `expected ${length} numbers, got ${x.length}`;
  for (let i = 0; i < length; i++) {
    const v = x[i];
    if (Number.isNaN(v)) return `element ${i} is NaN`;
    const problem = elementProblemAt(i, v);
    if (problem) return `element ${i} = ${v} ${problem}`;
  }
  return undefined;
}

/**
 * Why `x` is not an element of `space` (the first reason found, with the path into Tuple/Dict values),
 * or undefined when it is. Only called after a cheap `contains` failed, so it may be slow.
 */
export function spaceProblem(space: Space, x: unknown, path = ""): string | undefined {
  const at = path ? `${path}: ` : "";
  let problem: string | undefined;
  if (space instanceof Discrete) {
    if (!space.contains(x)) {
      problem = `expected an integer in [${space.start}, ${space.start + space.n}), got ${describeValue(x)}`;
    }
  } else if (space instanceof Box) {
    problem = elementProblem(x, space.size, `an array (shape [${space.shape}])`, (i, v) => {
      if (v < space.low[i]) return `is below low ${space.low[i]}`;
      if (v > space.high[i]) return `is above high ${space.high[i]}`;
      if (space.isInteger && !Number.isInteger(v)) return `is not an integer (dtype ${space.dtype})`;
      return undefined;
    });
  } else if (space instanceof MultiDiscrete) {
    problem = elementProblem(x, space.nvec.length, "an Int32Array", (i, v) => {
      const lo = space.start[i];
      const hi = lo + space.nvec[i];
      return Number.isInteger(v) && v >= lo && v < hi ? undefined : `is not an integer in [${lo}, ${hi})`;
    });
  } else if (space instanceof MultiBinary) {
    problem = elementProblem(x, space.flatDim, "an Int8Array", (_i, v) =>
      v === 0 || v === 1 ? undefined : "is not 0 or 1",
    );
  } else if (space instanceof Tuple) {
    if (!Array.isArray(x) || x.length !== space.spaces.length) {
      problem = `expected an array of ${space.spaces.length} values, got ${describeValue(x)}`;
    } else {
      for (const [i, s] of space.spaces.entries()) {
        const inner = spaceProblem(s, x[i], `${path}[${i}]`);
        if (inner) return inner;
      }
    }
  } else if (space instanceof Dict) {
    if (!isPlainObject(x)) return `${at}expected an object with keys ${space.keys.join(", ")}`;
    const missing = space.keys.filter((k) => !(k in x));
    const extra = Object.keys(x).filter((k) => !space.keys.includes(k));
    if (missing.length > 0 || extra.length > 0) {
      problem = `keys differ from the space's (missing: [${missing}], unexpected: [${extra}])`;
    } else {
      for (const k of space.keys) {
        const inner = spaceProblem((space.spaces as Record<string, Space>)[k], x[k], `${path}.${k}`);
        if (inner) return inner;
      }
    }
  } else if (!space.contains(x)) {
    problem = `${describeValue(x)} is not contained`;
  }
  return problem === undefined ? undefined : `${at}${problem}`;
}

/**
 * A membership test for actions that is cheap on the hot path: a Discrete action is one range check and
 * one integer check; other spaces use their own `contains` (a single loop for Box).
 */
export function compileContains(space: Space): (x: unknown) => boolean {
  if (space instanceof Discrete) {
    const low = space.start;
    const high = space.start + space.n;
    return (x) => (typeof x === "number" ? x >= low && x < high && Number.isInteger(x) : space.contains(x));
  }
  return (x) => space.contains(x);
}

/**
 * Problems `contains` does not see in an observation: a Box value of another array type than its dtype's
 * (Gymnasium's `can_cast` check) and non-finite numbers (inside infinite bounds, but poison for learning).
 */
function observationProblem(space: Space, obs: unknown, path = ""): string | undefined {
  const problem = spaceProblem(space, obs, path);
  if (problem) return problem;
  const at = path ? `${path}: ` : "";
  if (space instanceof Box) {
    const expected = space.zeros().constructor;
    if ((obs as object).constructor !== expected) {
      return `${at}expected a ${expected.name} (dtype ${space.dtype}), got ${(obs as object).constructor.name}`;
    }
    const values = obs as ArrayLike<number>;
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) return `${at}element ${i} is ${values[i]}`;
    }
  } else if (space instanceof Tuple) {
    for (const [i, s] of space.spaces.entries()) {
      const inner = observationProblem(s, (obs as unknown[])[i], `${path}[${i}]`);
      if (inner) return inner;
    }
  } else if (space instanceof Dict) {
    for (const k of space.keys) {
      const s = (space.spaces as Record<string, Space>)[k];
      const inner = observationProblem(s, (obs as Info)[k], `${path}.${k}`);
      if (inner) return inner;
    }
  }
  return undefined;
}

/** Thrown by `checkEnv` and by the boundary wrapper when an env breaks the API. */
export class EnvCheckError extends Error {
  constructor(
    readonly envId: string,
    problem: string,
  ) {
    super(`${envId}: ${problem}`);
    this.name = "EnvCheckError";
  }
}

/** Checks the shape of a `reset` result; throws an `EnvCheckError` naming the env and the problem. */
export function checkResetResult(env: Env, result: unknown, call = "reset()"): void {
  const name = envName(env);
  if (!Array.isArray(result) || result.length !== 2) {
    throw new EnvCheckError(name, `${call} must return [obs, info], got ${describeValue(result)}`);
  }
  const [obs, info] = result;
  const problem = observationProblem(env.observationSpace, obs);
  if (problem) {
    throw new EnvCheckError(
      name,
      `the observation from ${call} is not in ${env.observationSpace}: ${problem}`,
    );
  }
  if (!isPlainObject(info)) {
    throw new EnvCheckError(name, `the info from ${call} must be an object, got ${describeValue(info)}`);
  }
}

/** Checks the shape of a `step` result; throws an `EnvCheckError` naming the env and the problem. */
export function checkStepResult(env: Env, result: unknown, call = "step()"): void {
  const name = envName(env);
  if (!Array.isArray(result) || result.length !== 5) {
    throw new EnvCheckError(
      name,
      `${call} must return [obs, reward, terminated, truncated, info], got ${describeValue(result)}`,
    );
  }
  const [obs, reward, terminated, truncated, info] = result;
  const problem = observationProblem(env.observationSpace, obs);
  if (problem) {
    throw new EnvCheckError(
      name,
      `the observation from ${call} is not in ${env.observationSpace}: ${problem}`,
    );
  }
  if (typeof reward !== "number" || !Number.isFinite(reward)) {
    throw new EnvCheckError(
      name,
      `the reward from ${call} must be a finite number, got ${describeValue(reward)}`,
    );
  }
  for (const [flag, value] of [
    ["terminated", terminated],
    ["truncated", truncated],
  ] as const) {
    if (typeof value !== "boolean") {
      throw new EnvCheckError(name, `${flag} from ${call} must be a boolean, got ${describeValue(value)}`);
    }
  }
  if (!isPlainObject(info)) {
    throw new EnvCheckError(name, `the info from ${call} must be an object, got ${describeValue(info)}`);
  }
}

/** Gymnasium's `data_equivalence` (non-exact): same structure, numbers within rtol = atol = 1e-5. */
function sameData(a: unknown, b: unknown): boolean {
  if (typeof a === "number" && typeof b === "number") {
    return a === b || Math.abs(a - b) <= 1e-5 + 1e-5 * Math.abs(b);
  }
  if (isNumericArray(a) && isNumericArray(b)) {
    if (a.constructor !== b.constructor || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => sameData(v, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && sameData(a[k], b[k]));
  }
  return a === b;
}

/** Gymnasium's `data_shares_objects`: whether two results share a mutable object or array memory. */
function sharesObjects(a: unknown, b: unknown): boolean {
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    return (
      a.buffer === b.buffer &&
      a.byteOffset < b.byteOffset + b.byteLength &&
      b.byteOffset < a.byteOffset + a.byteLength
    );
  }
  if (Array.isArray(a) && Array.isArray(b)) return a === b || a.some((v, i) => sharesObjects(v, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    return a === b || Object.keys(a).some((k) => k in b && sharesObjects(a[k], b[k]));
  }
  return false;
}

function checkRenderFrame(name: string, mode: string, frame: unknown): void {
  const fail = (expected: string) =>
    new EnvCheckError(
      name,
      `render() in mode "${mode}" must return ${expected}, got ${describeValue(frame)}`,
    );
  if (mode === "human" && frame !== undefined) throw fail("undefined");
  if (mode === "ansi" && typeof frame !== "string") throw fail("a string");
  if (mode === "rgb_array") {
    const f = frame as { data?: unknown; height?: unknown; width?: unknown } | undefined;
    const valid =
      isPlainObject(f) &&
      f.data instanceof Uint8Array &&
      Number.isInteger(f.height) &&
      Number.isInteger(f.width) &&
      f.data.length === (f.height as number) * (f.width as number) * 3;
    if (!valid) throw fail("{data: Uint8Array of height*width*3 bytes, height, width}");
  }
}

/** The warnings Gymnasium's `check_space_limit` logs. */
function spaceLimitWarnings(space: Space, kind: "action" | "observation", name: string): string[] {
  if (space instanceof Tuple) return space.spaces.flatMap((s) => spaceLimitWarnings(s, kind, name));
  if (space instanceof Dict) {
    return space.keys.flatMap((k) =>
      spaceLimitWarnings((space.spaces as Record<string, Space>)[k], kind, name),
    );
  }
  if (!(space instanceof Box)) return [];
  const warnings: string[] = [];
  if (space.low.some((v) => v === Number.NEGATIVE_INFINITY)) {
    warnings.push(`${name}: a Box ${kind} space minimum is -infinity; this is probably too low`);
  }
  if (space.high.some((v) => v === Number.POSITIVE_INFINITY)) {
    warnings.push(`${name}: a Box ${kind} space maximum is infinity; this is probably too high`);
  }
  const unnormalised = space.low.some(
    (low, i) => (low !== 0 && Math.abs(low) !== Math.abs(space.high[i])) || low < -1 || space.high[i] > 1,
  );
  if (kind === "action" && space.shape.length === 1 && unnormalised) {
    warnings.push(
      `${name}: for Box action spaces a symmetric, normalised range ([-1, 1] or [0, 1]) is recommended`,
    );
  }
  return warnings;
}

export interface CheckEnvOptions {
  /** Do not call `render()` (for envs that need a display). */
  skipRenderCheck?: boolean;
  /** Leave the env open; by default the check ends by closing it twice (closing must be idempotent). */
  skipCloseCheck?: boolean;
  /** The env starts in the same state whatever the seed, by design: skip the "reset ignores its seed" check. */
  fixedStartState?: boolean;
}

/**
 * Checks that `env` follows the Gymnasium API: spaces, reset and step results, seeding, step determinism,
 * fresh data on every call, render output and close. Throws an `EnvCheckError` at the first problem;
 * returns the soft warnings. The env is reset and stepped a few times, so pass a fresh one.
 */
export function checkEnv(env: Env, options: CheckEnvOptions = {}): string[] {
  const name = envName(env);
  const fail = (problem: string) => new EnvCheckError(name, problem);

  for (const [kind, space] of [
    ["action", env.actionSpace],
    ["observation", env.observationSpace],
  ] as const) {
    if (!(space instanceof Space)) {
      throw fail(`${kind}Space must be a Space (Box, Discrete, ...), got ${describeValue(space)}`);
    }
  }
  const warnings = [
    ...spaceLimitWarnings(env.actionSpace, "action", name),
    ...spaceLimitWarnings(env.observationSpace, "observation", name),
  ];

  // Seeding, as check_reset_seed_determinism: the same seed gives the same start, and the unseeded reset
  // after a seeded one continues the seeded generator instead of drawing fresh entropy.
  const seeded = (seed?: number) => {
    const call = seed === undefined ? "reset()" : `reset({seed: ${seed}})`;
    const result = env.reset(seed === undefined ? undefined : { seed });
    checkResetResult(env, result, call);
    return structuredClone(result[0]);
  };
  const first = seeded(123);
  const next = seeded();
  const again = seeded(123);
  const againNext = seeded();
  if (!sameData(first, again)) {
    throw fail(
      `reset({seed: 123}) twice gave different observations (${describeValue(first)} vs ${describeValue(again)}): reset must seed its generator from the seed`,
    );
  }
  if (!sameData(next, againNext)) {
    throw fail(
      "reset() after reset({seed: 123}) gave different observations on two runs: an unseeded reset must continue the seeded generator, not draw fresh entropy",
    );
  }
  const otherSeeds = [456, 789, 2024];
  if (!options.fixedStartState && otherSeeds.every((seed) => sameData(first, seeded(seed)))) {
    throw fail(
      `reset gave the same observation for seeds 123, ${otherSeeds.join(", ")}: reset ignores its seed (if the start state is fixed by design, pass {fixedStartState: true})`,
    );
  }
  checkResetResult(env, env.reset({ options: {} }), "reset({options: {}})");

  // Step results and determinism, as env_step_passive_checker and check_step_determinism.
  env.actionSpace.seed(123);
  const action = env.actionSpace.sample();
  const seededStep = () => {
    env.reset({ seed: 123 });
    const result = env.step(action);
    checkStepResult(env, result, `step(${describeValue(action)})`);
    return structuredClone(result);
  };
  const [obs0, reward0, terminated0, , info0] = seededStep();
  const [obs1, reward1, terminated1, truncated1, info1] = seededStep();
  if (!sameData(obs0, obs1) || !sameData(reward0, reward1) || terminated0 !== terminated1) {
    throw fail(
      "after reset({seed: 123}), the same action gave different observations, rewards or terminations",
    );
  }
  if (truncated1) throw fail("the env truncates after one step");
  if (!sameData(info0, info1)) throw fail("after reset({seed: 123}), the same action gave different infos");

  // Fresh data on every call, as check_returned_data_not_reused: users keep what an env returns.
  const calls: [string, unknown, unknown][] = [["reset({seed: 123})", ...env.reset({ seed: 123 })]];
  for (let i = 0; i < 2; i++) {
    const [obs, , terminated, truncated, info] = env.step(env.actionSpace.sample());
    calls.push([`step() call ${i + 1}`, obs, info]);
    if (terminated || truncated) break;
  }
  calls.push(["the next reset()", ...env.reset({ seed: 123 })]);
  for (let i = 0; i < calls.length; i++) {
    for (let j = i + 1; j < calls.length; j++) {
      const [source1, obsA, infoA] = calls[i];
      const [source2, obsB, infoB] = calls[j];
      if (sharesObjects(obsA, obsB)) {
        throw fail(
          `the observations from ${source1} and ${source2} share memory: return a new observation every call`,
        );
      }
      if (sharesObjects(infoA, infoB)) {
        throw fail(
          `the infos from ${source1} and ${source2} are the same object: return a new info every call`,
        );
      }
    }
  }

  if (!options.skipRenderCheck && env.renderMode !== undefined) {
    if (!Array.isArray(env.metadata?.renderModes) || !env.metadata.renderModes.includes(env.renderMode)) {
      throw fail(
        `renderMode "${env.renderMode}" is not in metadata.renderModes ${describeValue(env.metadata?.renderModes)}`,
      );
    }
    checkRenderFrame(name, env.renderMode, env.render());
  }

  if (!options.skipCloseCheck) {
    env.close();
    try {
      env.close();
    } catch (error) {
      throw new EnvCheckError(name, `close() on a closed env must be allowed, but it threw: ${error}`);
    }
  }
  return warnings;
}
