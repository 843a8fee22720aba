/**
 * One place that turns an env description (the `env:` section of a run config) into a vector env:
 * a built-in or user-registered env in a `SyncVectorEnv`, or a real Gymnasium env served by a Python process.
 * Switching between the two is the one line `backend: gymnasium`.
 */
import { pathToFileURL } from "node:url";
import { makeRemoteVectorEnv, type RemoteEnvOptions, type Transport } from "./remote/index.js";
import type { VectorEnv } from "./types.js";
import { makeVectorEnv } from "./vector.js";

export interface EnvDescription {
  id: string;
  backend: "builtin" | "gymnasium";
  kwargs: Record<string, unknown>;
  /** An absolute path or package name of a module that registers custom envs. */
  module?: string;
  address?: string;
  key_file?: string;
  curve_server_key?: string;
  python_modules: string[];
  wrappers: { name: string; kwargs: Record<string, unknown> }[];
  python?: string;
  transport?: Transport;
  timeout_ms: number;
  max_episode_steps?: number;
}

const loadedModules = new Map<string, Promise<unknown>>();

/**
 * Imports a user's env module once per thread. A `.ts` module needs a TypeScript loader: tsx is used when
 * it is installed (it is a dev dependency of rlts); otherwise the error says what to do.
 */
export function loadEnvModule(module: string): Promise<unknown> {
  let loading = loadedModules.get(module);
  if (!loading) {
    const specifier = module.startsWith("/") ? pathToFileURL(module).href : module;
    loading = (async () => {
      if (/\.[cm]?ts$/.test(module)) {
        const tsx = await import("tsx/esm/api").catch(() => {
          throw new Error(
            `env.module ${module} is TypeScript: install tsx (npm i -D tsx) or compile it to .js`,
          );
        });
        tsx.register();
      }
      return import(specifier).catch((error: Error) => {
        throw new Error(`env.module "${module}" could not be loaded: ${error.message}`, { cause: error });
      });
    })();
    loadedModules.set(module, loading);
  }
  return loading;
}

/** The Gymnasium server options of a described env (`backend: gymnasium`), `kwargs` instead of its own. */
export function remoteEnvOptions(
  env: EnvDescription,
  kwargs: Record<string, unknown> = env.kwargs,
): Omit<RemoteEnvOptions, "numEnvs"> {
  return {
    id: env.id,
    kwargs,
    address: env.address,
    keyFile: env.key_file,
    curveServerKey: env.curve_server_key,
    modules: env.python_modules,
    wrappers: env.wrappers,
    python: env.python,
    transport: env.transport,
    timeoutMs: env.timeout_ms,
    maxEpisodeSteps: env.max_episode_steps,
  };
}

/** `numEnvs` copies of the described env. */
export async function makeVectorEnvFrom(env: EnvDescription, numEnvs: number): Promise<VectorEnv> {
  if (env.backend === "gymnasium") return makeRemoteVectorEnv({ ...remoteEnvOptions(env), numEnvs });
  const gymnasiumOnly = (["wrappers", "python_modules"] as const).filter((key) => env[key].length > 0);
  if (gymnasiumOnly.length > 0) {
    throw new TypeError(
      `env.${gymnasiumOnly[0]} applies to Python envs (env.backend: gymnasium); env ${env.id} is built in`,
    );
  }
  if (env.module) await loadEnvModule(env.module);
  return makeVectorEnv(env.id, numEnvs, { kwargs: env.kwargs, maxEpisodeSteps: env.max_episode_steps });
}
