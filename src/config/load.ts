/**
 * Reads a YAML run config, applies `--set key.path=value` overrides and validates it against a schema
 * (the algorithm's run config, src/algos/index.ts). Every problem is reported at once, each naming its
 * key path and what was expected, with "did you mean" for typos.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { type ZodType, z } from "zod";
import { didYouMean } from "../utils/strings.js";
import type { EnvConfig } from "./schema.js";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The keys an object schema at `keyPath` accepts (through defaults, optionals and nullables). */
function knownKeysAt(schema: ZodType, keyPath: PropertyKey[]): string[] {
  let node: ZodType | undefined = schema;
  for (const key of [...keyPath, null]) {
    while (node && ["default", "prefault", "optional", "nullable"].includes(node.def.type)) {
      node = (node.def as unknown as { innerType: ZodType }).innerType;
    }
    if (!(node instanceof z.ZodObject)) return [];
    if (key === null) return Object.keys(node.shape);
    node = node.shape[String(key)] as ZodType | undefined;
  }
  return [];
}

function formatPath(keyPath: PropertyKey[]): string {
  return keyPath.length === 0 ? "(top level)" : keyPath.map(String).join(".");
}

function formatIssues(schema: ZodType, issues: z.core.$ZodIssue[], source: string): string {
  const lines = issues.flatMap((issue) => {
    if (issue.code === "unrecognized_keys") {
      const known = knownKeysAt(schema, issue.path);
      return issue.keys.map(
        (key) =>
          `  ${formatPath([...issue.path, key])}: unknown key${didYouMean(key, known)}; expected one of: ${known.join(", ")}`,
      );
    }
    if (issue.code === "invalid_type" && issue.input === undefined) {
      return [`  ${formatPath(issue.path)}: required (${issue.expected})`];
    }
    // A custom check (a refine over a section) has the whole section as its input: no use to show.
    const shown = "input" in issue && issue.input !== undefined && issue.code !== "custom";
    const got = shown ? ` (got ${JSON.stringify(issue.input)})` : "";
    return [`  ${formatPath(issue.path)}: ${issue.message}${got}`];
  });
  return `invalid config ${source}:\n${lines.join("\n")}`;
}

/** Validates a plain object against `schema`; `source` names where it came from in errors. */
export function parseConfig<Schema extends ZodType>(
  schema: Schema,
  raw: unknown,
  source: string,
): z.infer<Schema> {
  const result = schema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(formatIssues(schema, result.error.issues, source));
  return result.data;
}

/** Sets `a.b.c=value` in `target`; the value is parsed as YAML (`1e-3`, `true`, `[64, 64]`, `tcp://x`). */
export function applyOverride(target: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf("=");
  if (eq <= 0) throw new ConfigError(`--set ${assignment}: expected key.path=value, e.g. --set ppo.lr=1e-3`);
  const keyPath = assignment.slice(0, eq).split(".");
  const value = YAML.parse(assignment.slice(eq + 1));
  // Metric names such as `env_runners/episode_return_mean` contain no dots, so splitting on dots is safe.
  let node = target;
  for (const key of keyPath.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null) node[key] = {};
    else if (typeof next !== "object" || Array.isArray(next)) {
      throw new ConfigError(`--set ${assignment}: ${key} is not a section`);
    }
    node = node[key] as Record<string, unknown>;
  }
  node[keyPath[keyPath.length - 1]] = value;
}

/** Reads YAML `file` and applies the overrides: the raw object a schema then validates. */
export function readConfigFile(file: string, overrides: string[] = []): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read config ${file}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text) ?? {};
  } catch (error) {
    throw new ConfigError(`config ${file} is not valid YAML: ${(error as Error).message}`);
  }
  if (typeof raw !== "object" || Array.isArray(raw))
    throw new ConfigError(`config ${file}: expected a mapping at the top`);
  for (const assignment of overrides) applyOverride(raw as Record<string, unknown>, assignment);
  return raw as Record<string, unknown>;
}

/** Makes a relative `env.module` absolute (from the config file's folder), so worker threads find it. */
export function resolveModulePath<Config extends { env: EnvConfig }>(config: Config, file: string): Config {
  const module = config.env.module;
  if (!module || !(module.startsWith("./") || module.startsWith("../"))) return config;
  const baseDir = path.dirname(path.resolve(file));
  return { ...config, env: { ...config.env, module: path.resolve(baseDir, module) } };
}
