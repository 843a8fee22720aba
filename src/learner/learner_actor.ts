/**
 * PPO's learner actor (RLlib's Learner actor; `learner.num_learners`): one async interface whether the
 * learner runs in the main thread (0: `LocalPPOLearnerActor`) or in a worker thread of its own
 * (1: `ThreadedPPOLearnerActor`, whose thread runs a `LocalPPOLearnerActor`, see `learner_worker.ts`).
 *
 * After every update (and every `setState`) the actor `put`s its weights into an ObjectStore entry;
 * `latestWeights()` copies the newest version out of that shared memory in the calling thread, so in the
 * training loop weights never travel by postMessage. The train batch reaches a learner thread as typed
 * arrays over SharedArrayBuffers (`allocateTrainBatch`): postMessage carries views, not the data.
 *
 * A learner thread selects its tfjs backend itself and is terminated by `stop()`. If it crashes or exits,
 * the call in flight and every later one fail with an error saying so: nothing waits on a dead thread.
 */
import type { Worker } from "node:worker_threads";
import { type Remote, wrap } from "comlink";
import { PPOLearner, type PPOLearnerState, type TrainBatch } from "../algos/ppo/ppo_learner.js";
import type { RunConfig } from "../config/schema.js";
import { ActorCritic, networkLayout, type PolicySpec } from "../models/network.js";
import { nodeEndpoint } from "../rollout/comlink_node.js";
import { WEIGHTS_ENTRY } from "../rollout/worker_protocol.js";
import { siblingModule, startWorkerThread, whenThreadDies } from "../rollout/worker_thread.js";
import { ObjectStore, type StoreHandle } from "../store/object_store.js";
import { type BackendName, selectBackend } from "./backend.js";

export interface PPOLearnerActor {
  /** The tfjs backend the learner trains on. */
  readonly backend: BackendName;
  /** One iteration's epochs of minibatch steps (`PPOLearner.update`); the new weights are in the store when it resolves. */
  update(batch: TrainBatch, numEnvStepsSampled: number): Promise<Record<string, number>>;
  /** The newest weights the learner put, copied out of the store. */
  latestWeights(): Float32Array;
  /** A network in the calling thread holding the newest weights: the policy a checkpoint exports. */
  policyNetwork(): ActorCritic;
  /** Weights, optimizer state and shuffle generator, for checkpoints. */
  getState(): Promise<PPOLearnerState>;
  setState(state: PPOLearnerState): Promise<void>;
  /** Frees the learner's tensors and ends its thread, if it has one. */
  stop(): Promise<void>;
}

/**
 * The learner `learner.num_learners` asks for, starting from `config.seed`'s initial weights. It puts its
 * weights into `store`'s weights entry (created here if missing): pass the runner threads' store and they
 * read every put directly.
 */
export async function createPPOLearnerActor(
  config: RunConfig,
  spec: PolicySpec,
  store: ObjectStore = new ObjectStore(),
): Promise<PPOLearnerActor> {
  const size = networkLayout(spec).size;
  if (!store.has(WEIGHTS_ENTRY)) store.create(WEIGHTS_ENTRY, size);
  if (store.length(WEIGHTS_ENTRY) !== size) {
    throw new RangeError(
      `learner actor: the store's "${WEIGHTS_ENTRY}" entry holds ${store.length(WEIGHTS_ENTRY)} floats, the network ${size}`,
    );
  }
  if (config.learner.num_learners === 0) return LocalPPOLearnerActor.create(config, spec, store);
  return ThreadedPPOLearnerActor.create(config, spec, store);
}

/** The newest weights in `store`; the actors put their initial weights when built, so there always are some. */
function newestWeights(store: ObjectStore): Float32Array {
  const read = store.get(WEIGHTS_ENTRY);
  if (!read) throw new Error(`learner actor: no weights in the store's "${WEIGHTS_ENTRY}" entry yet`);
  return read.data;
}

/** The learner in the calling thread: the main thread, or a learner thread's own. */
export class LocalPPOLearnerActor implements PPOLearnerActor {
  private constructor(
    readonly backend: BackendName,
    private readonly learner: PPOLearner,
    private readonly store: ObjectStore,
  ) {
    this.publish();
  }

  /** Selects `learner.backend` in this thread, builds the learner and puts its initial weights. */
  static async create(
    config: RunConfig,
    spec: PolicySpec,
    store: ObjectStore,
  ): Promise<LocalPPOLearnerActor> {
    const backend = await selectBackend(config.learner.backend);
    return new LocalPPOLearnerActor(backend, new PPOLearner(config, spec), store);
  }

  async update(batch: TrainBatch, numEnvStepsSampled: number): Promise<Record<string, number>> {
    const metrics = this.learner.update(batch, numEnvStepsSampled);
    this.publish();
    return metrics;
  }

  latestWeights(): Float32Array {
    return newestWeights(this.store);
  }

  policyNetwork(): ActorCritic {
    return this.learner.model;
  }

  async getState(): Promise<PPOLearnerState> {
    return this.learner.getState();
  }

  async setState(state: PPOLearnerState): Promise<void> {
    this.learner.setState(state);
    this.publish();
  }

  async stop(): Promise<void> {
    this.learner.dispose();
  }

  private publish(): void {
    this.store.put(WEIGHTS_ENTRY, this.learner.getWeights());
  }
}

/** What `learner_worker.ts` receives as `workerData`. */
export interface LearnerWorkerData {
  config: RunConfig;
  spec: PolicySpec;
  /** Holds the weights entry the thread puts into. */
  store: StoreHandle;
}

/** What `ThreadedPPOLearnerActor` calls in its thread; every method crosses the thread boundary. */
export interface LearnerWorkerApi {
  /** Selects the backend, builds the learner, puts its initial weights; returns the backend. */
  start(): Promise<BackendName>;
  update(batch: TrainBatch, numEnvStepsSampled: number): Promise<Record<string, number>>;
  getState(): Promise<PPOLearnerState>;
  setState(state: PPOLearnerState): Promise<void>;
}

/** Starting the thread imports tfjs and loads the wasm backend: seconds on a loaded machine. */
const START_TIMEOUT_MS = 60_000;

/** The learner in a worker thread of its own (`learner.num_learners: 1`). */
export class ThreadedPPOLearnerActor implements PPOLearnerActor {
  /** The main thread's copy of the network, refreshed from the store when asked for. */
  private mirror: { network: ActorCritic; version: number } | undefined;
  private stopped = false;

  private constructor(
    readonly backend: BackendName,
    /** The learner's thread (for health checks, and tests that kill it). */
    readonly thread: Worker,
    private readonly api: Remote<LearnerWorkerApi>,
    /** Rejects once the thread is gone (uncaught error or exit). */
    private readonly died: Promise<never>,
    private readonly store: ObjectStore,
    private readonly spec: PolicySpec,
  ) {}

  /** Starts the thread and waits until it has selected its backend and put the initial weights. */
  static async create(
    config: RunConfig,
    spec: PolicySpec,
    store: ObjectStore,
  ): Promise<ThreadedPPOLearnerActor> {
    const workerData: LearnerWorkerData = { config, spec, store: store.handle() };
    const thread = startWorkerThread(siblingModule(import.meta.url, "learner_worker"), { workerData });
    const died = whenThreadDies(thread, "the learner thread");
    const api = wrap<LearnerWorkerApi>(nodeEndpoint(thread));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the learner thread did not start within ${START_TIMEOUT_MS / 1000} s`)),
        START_TIMEOUT_MS,
      );
    });
    try {
      const backend = await guarded("start", Promise.race([api.start(), died, timedOut]));
      return new ThreadedPPOLearnerActor(backend, thread, api, died, store, spec);
    } catch (error) {
      await thread.terminate();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  update(batch: TrainBatch, numEnvStepsSampled: number): Promise<Record<string, number>> {
    return this.call("update", (api) => api.update(batch, numEnvStepsSampled));
  }

  latestWeights(): Float32Array {
    return newestWeights(this.store);
  }

  policyNetwork(): ActorCritic {
    const newer = this.store.get(WEIGHTS_ENTRY, { minVersion: (this.mirror?.version ?? 0) + 1 });
    if (newer && this.mirror) {
      this.mirror.network.setFlatWeights(newer.data);
      this.mirror.version = newer.version;
    } else if (newer) {
      this.mirror = { network: new ActorCritic(this.spec, newer.data), version: newer.version };
    }
    if (!this.mirror) throw new Error("learner actor: no weights in the store yet");
    return this.mirror.network;
  }

  getState(): Promise<PPOLearnerState> {
    return this.call("getState", (api) => api.getState());
  }

  setState(state: PPOLearnerState): Promise<void> {
    return this.call("setState", (api) => api.setState(state));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.thread.terminate();
    this.mirror?.network.dispose();
    this.mirror = undefined;
  }

  /** `call` on the thread, failing as soon as the thread is gone. */
  private call<T>(what: string, call: (api: Remote<LearnerWorkerApi>) => Promise<T>): Promise<T> {
    if (this.stopped) return Promise.reject(new Error(`learner ${what}: the learner actor was stopped`));
    return guarded(what, Promise.race([call(this.api), this.died]));
  }
}

/** Names the learner call in the error of a call that failed. */
async function guarded<T>(what: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`learner ${what} failed: ${message}`, { cause: error });
  }
}
