/**
 * An env runner started elsewhere, as its group sees it (`RunnerActor`), and what starts one where a
 * placement puts it (`RunnerLauncher`): a worker thread (`thread_launcher.ts`) or a Ray actor
 * (`cluster/ray_launcher.ts`).
 */
import type { ModuleSpec } from "../models/catalog.js";
import type { EnvRunnerConfig } from "./env_runner.js";
import type { EnvRunnerWorkerApi } from "./worker_protocol.js";

/** Starting a runner imports its modules and the user's env module: seconds on a loaded machine. */
export const START_TIMEOUT_MS = 60_000;

/** The worker API as the group calls it: every method answers later. */
export type RunnerApi<Sample> = {
  [K in keyof EnvRunnerWorkerApi<Sample>]: (
    ...args: Parameters<EnvRunnerWorkerApi<Sample>[K]>
  ) => Promise<Awaited<ReturnType<EnvRunnerWorkerApi<Sample>[K]>>>;
};

/** One started env runner: a worker thread, or a Ray actor. */
export interface RunnerActor<Sample> {
  index: number;
  /** How many times runner `index` has been replaced before this one. */
  generation: number;
  api: RunnerApi<Sample>;
  /** Rejects once the runner is gone (thread exit, process or node death), so no call waits on it. */
  died: Promise<never>;
  /** Ends the runner now, whatever it is doing. */
  terminate(): Promise<void>;
  /** Set once, by the first caller that finds this runner failed; later callers await the same. */
  replacement?: Promise<void>;
}

/** Starts env runners where a placement puts them. */
export interface RunnerLauncher {
  /** Starts runner `index` (its `generation`-th replacement) and waits until its env runner is built. */
  start<Sample>(
    config: EnvRunnerConfig,
    index: number,
    generation: number,
  ): Promise<{ runner: RunnerActor<Sample>; spec: ModuleSpec }>;
  /** Ends what the launcher keeps besides the runners (a Ray agent), after they are stopped. */
  close(): Promise<void>;
}

/** `call`, unless the runner dies first or `timeoutMs` passes. */
export function guarded<T>(
  runner: Pick<RunnerActor<unknown>, "index" | "died">,
  call: Promise<T>,
  what: string,
  timeoutMs?: number,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const contenders: Promise<T>[] = [call, runner.died];
  if (timeoutMs !== undefined) {
    contenders.push(
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(`rollout worker ${runner.index}: ${what} took longer than ${timeoutMs / 1000} s`),
            ),
          timeoutMs,
        );
      }),
    );
  }
  return Promise.race(contenders).finally(() => clearTimeout(timer));
}
