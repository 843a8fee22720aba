/**
 * The learner worker thread (`learner.num_learners: 1`): a `LocalPPOLearnerActor` in a thread of its own,
 * driven over comlink by `ThreadedPPOLearnerActor`. It selects its tfjs backend here, reads each train
 * batch from the SharedArrayBuffers the main thread filled, and puts the new weights into the shared
 * object store after every update.
 */
import { parentPort, workerData } from "node:worker_threads";
import { expose } from "comlink";
import { nodeEndpoint } from "../rollout/comlink_node.js";
import { ObjectStore } from "../store/object_store.js";
import { type LearnerWorkerApi, type LearnerWorkerData, LocalPPOLearnerActor } from "./learner_actor.js";

const { config, spec, store } = workerData as LearnerWorkerData;
let actor: LocalPPOLearnerActor | undefined;

function started(): LocalPPOLearnerActor {
  if (!actor) throw new Error("learner thread: start() must be called first");
  return actor;
}

const api: LearnerWorkerApi = {
  async start() {
    actor = await LocalPPOLearnerActor.create(config, spec, ObjectStore.fromHandle(store));
    return actor.backend;
  },
  update: (batch, numEnvStepsSampled) => started().update(batch, numEnvStepsSampled),
  getState: () => started().getState(),
  setState: (state) => started().setState(state),
};

if (!parentPort) {
  throw new Error(
    "src/learner/learner_worker.ts is a worker-thread entry; start it with ThreadedPPOLearnerActor",
  );
}
expose(api, nodeEndpoint(parentPort));
