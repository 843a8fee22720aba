/**
 * The learner actor (RLlib's Learner actor; `learner.num_learners`): one async interface over any
 * algorithm's `Learner`, whether it runs in the main thread (0: `LocalLearnerActor`) or in a worker
 * thread of its own (1: `ThreadedLearnerActor`, whose thread runs a `LocalLearnerActor`, see
 * `learner_worker.ts`). The learner comes from a `LearnerSource`: a module URL and plain data, so the
 * thread builds the same learner the main thread would.
 *
 * After it is built, after every update and every `setState` the actor `put`s the module weights into
 * the env runner group's object store; the group hands them to its runners, so in the training loop
 * weights never travel by postMessage. Batches in SharedArrayBuffers reach a learner thread as views.
 *
 * A learner thread selects its tfjs backend itself and is terminated by `stop()`. If it crashes or exits,
 * the call in flight and every later one fail with an error saying so: nothing waits on a dead thread.
 */
import type { Worker } from "node:worker_threads";
import { type Remote, wrap } from "comlink";
import type { LearnerConfig } from "../config/schema.js";
import { nodeEndpoint } from "../rollout/comlink_node.js";
import { WEIGHTS_ENTRY } from "../rollout/env_runner_group.js";
import { siblingModule, startWorkerThread, whenThreadDies } from "../rollout/worker_thread.js";
import type { ObjectStore, StoreHandle } from "../store/object_store.js";
import { type BackendName, selectBackend } from "./backend.js";
import { installNativeBlas } from "./blas.js";
import { acquireKernelThreads, learnerThreads } from "./kernel_threads.js";
import type { Learner, LearnerModule, LearnerSource, LearnerState } from "./learner.js";

/** The batch and result types of a learner class. */
export type BatchOf<L> = L extends { update(batch: infer B): unknown } ? B : never;
export type ResultOf<L> = L extends { update(batch: never): infer R } ? R : unknown;

/** A learner module's URL, typed by the learner its `createLearner` builds, so actors built from it are typed too. */
export interface LearnerModuleUrl<L> {
  readonly url: URL;
  /** Never set: carries the learner's type. */
  readonly learner?: L;
}

/** The learner module `name` beside the calling module (`import.meta.url`): `.ts` from sources, `.js` from dist. */
export function learnerModule<L>(callerUrl: string, name: string): LearnerModuleUrl<L> {
  return { url: siblingModule(callerUrl, name) };
}

export interface LearnerActor<Batch, Result> {
  /** The tfjs backend the learner trains on. */
  readonly backend: BackendName;
  /** The native BLAS library its large matrix products go to (`learner.blas`), or null. */
  readonly blas: string | null;
  /** Threads the fused step's long loops are split over (`learner.num_threads`; 1 on other backends). */
  readonly threads: number;
  /** One `Learner.update`; the new weights are in the store when it resolves. */
  update(batch: Batch): Promise<Result>;
  /** The newest weights the learner put, copied out of the store. */
  latestWeights(): Float32Array;
  getState(): Promise<LearnerState>;
  setState(state: LearnerState): Promise<void>;
  /** Frees the learner's tensors and ends its thread, if it has one. */
  stop(): Promise<void>;
}

/** What a learner actor needs of `learner`, with `num_threads` resolved. */
type ActorConfig = Pick<LearnerConfig, "backend" | "blas"> & { numThreads: number };

/**
 * The learner `learner.num_learners` asks for, putting its weights into `store`'s weights entry (the env
 * runner group's store, so the runners read every put directly). `samplingThreads`: the threads that
 * sample beside the learner (env runner threads, or the main thread beside a learner thread), whose cores
 * `learner.num_threads: auto` leaves them.
 */
export async function createLearnerActor<Spec, Batch, Result>(
  source: LearnerSource<Spec>,
  config: LearnerConfig,
  store: ObjectStore,
  samplingThreads = 0,
): Promise<LearnerActor<Batch, Result>> {
  if (!store.has(WEIGHTS_ENTRY)) {
    throw new Error(`learner actor: the store has no "${WEIGHTS_ENTRY}" entry to put the weights into`);
  }
  const actorConfig: ActorConfig = {
    backend: config.backend,
    blas: config.blas,
    numThreads: learnerThreads(config.num_threads, samplingThreads),
  };
  if (config.num_learners === 0) return LocalLearnerActor.create(source, actorConfig, store);
  return ThreadedLearnerActor.create(source, actorConfig, store);
}

/** The newest weights in `store`; the actors put their initial weights when built, so there always are some. */
function newestWeights(store: ObjectStore): Float32Array {
  const read = store.get(WEIGHTS_ENTRY);
  if (!read) throw new Error(`learner actor: no weights in the store's "${WEIGHTS_ENTRY}" entry yet`);
  return read.data;
}

/** The learner in the calling thread: the main thread, or a learner thread's own. */
export class LocalLearnerActor<Batch, Result> implements LearnerActor<Batch, Result> {
  private constructor(
    readonly backend: BackendName,
    readonly blas: string | null,
    readonly threads: number,
    private readonly learner: Learner<Batch, Result>,
    private readonly store: ObjectStore,
    private readonly releaseThreads: () => Promise<void>,
  ) {
    this.publish();
  }

  /** Selects `backend` in this thread, imports the learner's module, builds it and puts its initial weights. */
  static async create<Spec, Batch, Result>(
    source: LearnerSource<Spec>,
    config: ActorConfig,
    store: ObjectStore,
  ): Promise<LocalLearnerActor<Batch, Result>> {
    const selected = await selectBackend(config.backend);
    const blas = config.blas === "auto" ? await installNativeBlas() : null;
    // The fused step runs on the wasm and cpu backends only; tfjs-node threads its own ops.
    let threads = selected === "wasm" || selected === "cpu" ? config.numThreads : 1;
    const kernelThreads = await acquireKernelThreads(threads, blas !== null);
    try {
      const module = (await import(source.module)) as LearnerModule<Spec, Batch, Result>;
      const learner = module.createLearner(source.spec);
      const size = store.length(WEIGHTS_ENTRY);
      const weights = learner.getWeights();
      if (weights.length !== size) {
        learner.dispose();
        throw new RangeError(
          `learner actor: the store's "${WEIGHTS_ENTRY}" entry holds ${size} floats, the learner's module ${weights.length}`,
        );
      }
      if (!learner.usesFusedStep) {
        // Nothing of this learner's runs on them (the tfjs path): not started for nothing, not reported.
        await kernelThreads.release();
        threads = 1;
      }
      return new LocalLearnerActor(selected, blas, threads, learner, store, kernelThreads.release);
    } catch (error) {
      await kernelThreads.release();
      throw error;
    }
  }

  async update(batch: Batch): Promise<Result> {
    const result = this.learner.update(batch);
    this.publish();
    return result;
  }

  latestWeights(): Float32Array {
    return newestWeights(this.store);
  }

  async getState(): Promise<LearnerState> {
    return this.learner.getState();
  }

  async setState(state: LearnerState): Promise<void> {
    this.learner.setState(state);
    this.publish();
  }

  async stop(): Promise<void> {
    this.learner.dispose();
    await this.releaseThreads();
  }

  private publish(): void {
    this.store.put(WEIGHTS_ENTRY, this.learner.getWeights());
  }
}

/** What `learner_worker.ts` receives as `workerData`. */
export interface LearnerWorkerData {
  source: LearnerSource<unknown>;
  config: ActorConfig;
  /** Holds the weights entry the thread puts into. */
  store: StoreHandle;
}

/** What `ThreadedLearnerActor` calls in its thread; every method crosses the thread boundary. */
export interface LearnerWorkerApi {
  /** Selects the backend, builds the learner, puts its initial weights; returns the backend and BLAS. */
  start(): Promise<{ backend: BackendName; blas: string | null; threads: number }>;
  update(batch: unknown): Promise<unknown>;
  getState(): Promise<LearnerState>;
  setState(state: LearnerState): Promise<void>;
}

/** Starting the thread imports tfjs and loads the wasm backend: seconds on a loaded machine. */
const START_TIMEOUT_MS = 60_000;

/** The learner in a worker thread of its own (`learner.num_learners: 1`). */
export class ThreadedLearnerActor<Batch, Result> implements LearnerActor<Batch, Result> {
  private stopped = false;

  private constructor(
    readonly backend: BackendName,
    readonly blas: string | null,
    readonly threads: number,
    /** The learner's thread (for health checks, and tests that kill it). */
    readonly thread: Worker,
    private readonly api: Remote<LearnerWorkerApi>,
    /** Rejects once the thread is gone (uncaught error or exit). */
    private readonly died: Promise<never>,
    private readonly store: ObjectStore,
  ) {}

  /** Starts the thread and waits until it has selected its backend and put the initial weights. */
  static async create<Spec, Batch, Result>(
    source: LearnerSource<Spec>,
    config: ActorConfig,
    store: ObjectStore,
  ): Promise<ThreadedLearnerActor<Batch, Result>> {
    const workerData: LearnerWorkerData = {
      source,
      config,
      store: store.handle(),
    };
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
      const selected = await guarded("start", Promise.race([api.start(), died, timedOut]));
      return new ThreadedLearnerActor(
        selected.backend,
        selected.blas,
        selected.threads,
        thread,
        api,
        died,
        store,
      );
    } catch (error) {
      await thread.terminate();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  update(batch: Batch): Promise<Result> {
    return this.call("update", (api) => api.update(batch) as Promise<Result>);
  }

  latestWeights(): Float32Array {
    return newestWeights(this.store);
  }

  getState(): Promise<LearnerState> {
    return this.call("getState", (api) => api.getState());
  }

  setState(state: LearnerState): Promise<void> {
    return this.call("setState", (api) => api.setState(state));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.thread.terminate();
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
