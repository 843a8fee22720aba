/**
 * The learner worker thread (`learner.num_learners: 1`): a `LocalLearnerActor` in a thread of its own,
 * driven over comlink by `ThreadedLearnerActor`. It selects its tfjs backend here, imports the
 * algorithm's learner module, reads batches from the SharedArrayBuffers the main thread filled, and puts
 * the new weights into the shared object store after every update.
 */
import { parentPort, workerData } from "node:worker_threads";
import { expose } from "comlink";
import { nodeEndpoint } from "../rollout/comlink_node.js";
import { ObjectStore } from "../store/object_store.js";
import { type LearnerWorkerApi, type LearnerWorkerData, LocalLearnerActor } from "./learner_actor.js";

const { source, config, store } = workerData as LearnerWorkerData;
let actor: LocalLearnerActor<unknown, unknown> | undefined;

function started(): LocalLearnerActor<unknown, unknown> {
  if (!actor) throw new Error("learner thread: start() must be called first");
  return actor;
}

const api: LearnerWorkerApi = {
  async start() {
    actor = await LocalLearnerActor.create(source, config, ObjectStore.fromHandle(store));
    return { backend: actor.backend, blas: actor.blas, threads: actor.threads };
  },
  update: (batch) => started().update(batch),
  getState: () => started().getState(),
  setState: (state) => started().setState(state),
};

if (!parentPort) {
  throw new Error(
    "src/learner/learner_worker.ts is a worker-thread entry; start it with ThreadedLearnerActor",
  );
}
expose(api, nodeEndpoint(parentPort));
