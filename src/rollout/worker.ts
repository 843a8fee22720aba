/**
 * The rollout worker thread: one env runner built from plain config, driven over comlink by
 * `ThreadedEnvRunnerGroup` — PPO's `EnvRunner`, or DQN's `DQNRunner` when `algo` is DQN. Before each
 * fragment it copies the newest policy weights out of the shared object store; fragments go back as
 * typed arrays over `SharedArrayBuffer`s, so what crosses the thread boundary is a small descriptor, not
 * the data.
 */
import { parentPort, workerData } from "node:worker_threads";
import { expose } from "comlink";
import { qLayout } from "../algos/dqn/q_network.js";
import { DQNRunner } from "../algos/dqn/runner.js";
import { networkLayout } from "../models/network.js";
import { ObjectStore } from "../store/object_store.js";
import { nodeEndpoint } from "./comlink_node.js";
import { EnvRunner } from "./env_runner.js";
import {
  type EnvRunnerWorkerApi,
  type EnvRunnerWorkerData,
  type VersionedSample,
  WEIGHTS_ENTRY,
  type WorkerEnvRunner,
} from "./worker_protocol.js";

const { config, index } = workerData as EnvRunnerWorkerData;
let runner: WorkerEnvRunner<unknown, VersionedSample> | undefined;
let store: ObjectStore | undefined;
let weights: Float32Array | undefined;
/** The store version the runner's weights came from; fragments carry it, the group translates it. */
let storeVersion = 0;
/**
 * The last sample request: the group queues requests ahead (async mode), and each must wait for the one
 * before, since the runner's env steps through one fragment at a time.
 */
let sampling: Promise<unknown> = Promise.resolve();

/** The algorithm's env runner and the length of its flat weights. */
async function createRunner(): Promise<{
  runner: WorkerEnvRunner<unknown, VersionedSample>;
  weightsLength: number;
}> {
  if (config.algo === "DQN") {
    const dqnRunner = await DQNRunner.fromConfig(config, index, { shared: true });
    return { runner: dqnRunner, weightsLength: qLayout(dqnRunner.spec).size };
  }
  const envRunner = await EnvRunner.fromConfig(config, index);
  return { runner: envRunner, weightsLength: networkLayout(envRunner.spec).size };
}

function started(): WorkerEnvRunner<unknown, VersionedSample> {
  if (!runner) throw new Error(`rollout worker ${index}: start() must be called first`);
  return runner;
}

/** Copies the newest weights out of the store into the runner, if newer than what it has. */
function refreshWeights(): void {
  if (!store || !weights) return;
  const read = store.get(WEIGHTS_ENTRY, { into: weights, minVersion: storeVersion + 1 });
  if (!read) return;
  started().setWeights(read.data, read.version);
  storeVersion = read.version;
}

const api: EnvRunnerWorkerApi<unknown, VersionedSample> = {
  async start() {
    // The env factory imports `env.module` (the user's custom envs) in this thread before making envs.
    const created = await createRunner();
    runner = created.runner;
    return { spec: runner.spec, weightsLength: created.weightsLength };
  },

  useStore(handle) {
    store = ObjectStore.fromHandle(handle);
    weights = new Float32Array(store.length(WEIGHTS_ENTRY));
  },

  sample({ numSteps, minVersion, waitTimeoutMs, epsilons }) {
    const fragment = sampling.then(async () => {
      if (minVersion > 0) {
        if (!store) {
          throw new Error(`rollout worker ${index}: weights version ${minVersion} asked before useStore()`);
        }
        await store.waitForVersion(WEIGHTS_ENTRY, minVersion, waitTimeoutMs);
      }
      refreshWeights();
      return started().sample(numSteps, epsilons);
    });
    sampling = fragment.catch(() => {});
    return fragment;
  },

  getMetrics() {
    return started().getMetrics();
  },

  evaluate(numEpisodes) {
    refreshWeights();
    return started().evaluate(numEpisodes);
  },

  async stop() {
    await runner?.stop();
    runner = undefined;
  },
};

if (!parentPort) {
  throw new Error("src/rollout/worker.ts is a worker-thread entry; start it with ThreadedEnvRunnerGroup");
}
expose(api, nodeEndpoint(parentPort));
