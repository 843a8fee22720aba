/**
 * comlink's Node adapter with a type. comlink ships it as `node-adapter.mjs` beside a `node-adapter.d.ts`,
 * a pair that NodeNext resolution does not match up, so the import is untyped without this.
 */
import type { MessagePort, Worker } from "node:worker_threads";
import type { Endpoint } from "comlink";
// @ts-expect-error: no declaration file is found for the .mjs (see above); the cast below gives the type.
import untypedNodeEndpoint from "comlink/dist/esm/node-adapter.mjs";

/** Wraps a worker (main side) or `parentPort` (worker side) as a comlink endpoint. */
export const nodeEndpoint = untypedNodeEndpoint as (port: Worker | MessagePort) => Endpoint;
