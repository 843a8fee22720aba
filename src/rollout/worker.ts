/**
 * The rollout worker thread: one `EnvRunner` built from plain config, driven over comlink by
 * `ThreadedEnvRunnerGroup`. Before each fragment it copies the newest policy weights out of the shared
 * object store; fragments go back as typed arrays over `SharedArrayBuffer`s, so what crosses the
 * thread boundary is a small descriptor, not the data.
 */
import { parentPort, workerData } from "node:worker_threads";
import { expose } from "comlink";
import { ObjectStore } from "../store/object_store.js";
import { nodeEndpoint } from "./comlink_node.js";
import { EnvRunner } from "./env_runner.js";
import { type EnvRunnerWorkerApi, type EnvRunnerWorkerData, WEIGHTS_ENTRY } from "./worker_protocol.js";

const { config, index } = workerData as EnvRunnerWorkerData;
let runner: EnvRunner | undefined;
let store: ObjectStore | undefined;
let weights: Float32Array | undefined;
/** The store version the runner's weights came from; fragments carry it, the group translates it. */
let storeVersion = 0;

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

const api: EnvRunnerWorkerApi = {
  async start() {
    // The env factory imports `env.module` (the user's custom envs) in this thread before making envs.
    runner = await EnvRunner.fromConfig(config, index);
    return runner.spec;
  },

  useStore(handle) {
    store = ObjectStore.fromHandle(handle);
    weights = new Float32Array(store.length(WEIGHTS_ENTRY));
  },

  async sample({ numSteps, minVersion, waitTimeoutMs }) {
    if (minVersion > 0) {
      if (!store) {
        throw new Error(`rollout worker ${index}: weights version ${minVersion} asked before useStore()`);
      }
      await store.waitForVersion(WEIGHTS_ENTRY, minVersion, waitTimeoutMs);
    }
    refreshWeights();
    return started().sample(numSteps);
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
