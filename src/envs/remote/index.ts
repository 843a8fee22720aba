/** Real Python Gymnasium envs over shared memory or ZeroMQ (server: `python -m rlts_gym`, wire format: PROTOCOL.md). */
export { PROTOCOL_VERSION, RemoteEnvError } from "./protocol.js";
export { makeRemoteEnv, RemoteEnv } from "./remote-env.js";
export {
  closeAllRemoteEnvs,
  makeRemoteVectorEnv,
  type RemoteEnvOptions,
  RemoteVectorEnv,
} from "./remote-vector-env.js";
export type { Transport } from "./server-process.js";
