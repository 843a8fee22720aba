/**
 * The rollout worker thread: one `EnvRunner` built from plain config, driven over comlink by
 * `EnvRunnerActorGroup`. Before each fragment it copies the newest module weights out of the shared
 * object store; fragments go back as typed arrays over `SharedArrayBuffer`s, so what crosses the thread
 * boundary is a small descriptor, not the data.
 */
import { parentPort, workerData } from "node:worker_threads";
import { expose } from "comlink";
import { weightsSize } from "../models/catalog.js";
import { ObjectStore } from "../store/object_store.js";
import { nodeEndpoint } from "./comlink_node.js";
import { EnvRunner } from "./env_runner.js";
import { WEIGHTS_ENTRY } from "./env_runner_group.js";
import type { EnvRunnerWorkerApi, EnvRunnerWorkerData } from "./worker_protocol.js";

const { config, index } = workerData as EnvRunnerWorkerData;
let runner: EnvRunner | undefined;
let store: ObjectStore | undefined;
let weights: Float32Array | undefined;
/** The store version the runner's weights came from; fragments carry it, the group translates it. */
let storeVersion = 0;
/**
 * The last sample request: the group queues requests ahead (async mode), and each must wait for the one
 * before, since the runner's env steps through one fragment at a time.
 */
let sampling: Promise<unknown> = Promise.resolve();

function started(): EnvRunner {
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

const api: EnvRunnerWorkerApi<unknown> = {
  async start() {
    // Making the env imports `env.module` (the user's custom envs) in this thread first.
    runner = await EnvRunner.create(config, index, { shared: true });
    weights = new Float32Array(weightsSize(runner.spec));
    return runner.spec;
  },

  useStore(handle) {
    store = ObjectStore.fromHandle(handle);
  },

  sample({ minVersion, waitTimeoutMs, epsilons }) {
    const fragment = sampling.then(async () => {
      if (minVersion > 0) {
        if (!store) {
          throw new Error(`rollout worker ${index}: weights version ${minVersion} asked before useStore()`);
        }
        await store.waitForVersion(WEIGHTS_ENTRY, minVersion, waitTimeoutMs);
      }
      refreshWeights();
      return started().sample(epsilons);
    });
    sampling = fragment.catch(() => {});
    return fragment;
  },

  getMetrics() {
    return started().getMetrics();
  },

  setFilters(state) {
    started().setFilters(state);
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
  throw new Error("src/rollout/worker.ts is a worker-thread entry; start it with EnvRunnerActorGroup");
}
expose(api, nodeEndpoint(parentPort));
