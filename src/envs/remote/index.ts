/** Real Python Gymnasium envs over shared memory or ZeroMQ (server: `python -m rlts_gym`, wire format: PROTOCOL.md). */
export { PROTOCOL_VERSION, RemoteEnvError, type Transport } from "./protocol.js";
export { makeRemoteEnv, RemoteEnv } from "./remote-env.js";
export {
  closeAllRemoteEnvs,
  makeRemoteVectorEnv,
  type RemoteEnvOptions,
  RemoteVectorEnv,
} from "./remote-vector-env.js";
