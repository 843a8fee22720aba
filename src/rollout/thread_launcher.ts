/** Env runners in worker threads of this process (`env_runners.placement: threads`). */
import { wrap } from "comlink";
import { nodeEndpoint } from "./comlink_node.js";
import type { EnvRunnerConfig } from "./env_runner.js";
import { RESTART_SEED_STRIDE } from "./restarts.js";
import {
  guarded,
  type RunnerActor,
  type RunnerApi,
  type RunnerLauncher,
  START_TIMEOUT_MS,
} from "./runner_actor.js";
import type { EnvRunnerWorkerApi, EnvRunnerWorkerData } from "./worker_protocol.js";
import { siblingModule, startWorkerThread, whenThreadDies } from "./worker_thread.js";

export const threadLauncher: RunnerLauncher = {
  async start<Sample>(config: EnvRunnerConfig, index: number, generation: number) {
    const workerData: EnvRunnerWorkerData = {
      config: { ...config, seed: config.seed + generation * RESTART_SEED_STRIDE },
      index,
    };
    const thread = startWorkerThread(siblingModule(import.meta.url, "worker"), { workerData });
    const runner: RunnerActor<Sample> = {
      index,
      generation,
      api: wrap<EnvRunnerWorkerApi<Sample>>(nodeEndpoint(thread)) as unknown as RunnerApi<Sample>,
      died: whenThreadDies(thread, `rollout worker ${index}`),
      terminate: async () => {
        await thread.terminate();
      },
    };
    try {
      const spec = await guarded(runner, runner.api.start(), "start", START_TIMEOUT_MS);
      return { runner, spec };
    } catch (error) {
      await thread.terminate();
      throw error;
    }
  },
  async close() {},
};
