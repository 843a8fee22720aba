/**
 * `rlts env-runner`: one env runner in a process of its own, served over ZeroMQ TCP to a learner on
 * another host (what a Ray actor of `placement: ray` starts on its node). The learner sends the runner's
 * config in `start`, and the newest weights with the first `sample` after each update; fragments go back
 * as raw frames.
 *
 * The process lives as long as its learner: it exits when the learner disconnects or falls silent past
 * the heartbeat timeout, when no learner connects within `START_TIMEOUT_MS`, and when its parent (the
 * actor) is gone, so a learner or actor that dies abruptly leaves nothing behind.
 */
import type { ModuleSpec } from "../../models/catalog.js";
import { processAlive } from "../../utils/process.js";
import { EnvRunner, type EnvRunnerConfig, type EpisodeMetrics } from "../env_runner.js";
import type { RunnerFilterStates } from "../observation_filter.js";
import { serveRpc } from "./rpc.js";

/** What `sample` and `evaluate` carry: the weights, when the runner does not have `weightsVersion` yet. */
export interface WeightsUpdate {
  weightsVersion: number;
  weights?: Float32Array;
}

/** What the process answers (`RemoteRunnerApi` in `ray_launcher.ts` calls it). */
interface EnvRunnerServiceApi {
  start(args: { config: EnvRunnerConfig; index: number }): Promise<ModuleSpec>;
  sample(args: WeightsUpdate & { epsilons?: number[] }): Promise<unknown>;
  getMetrics(): EpisodeMetrics;
  setFilters(state: RunnerFilterStates): void;
  evaluate(args: WeightsUpdate & { numEpisodes: number }): Promise<EpisodeMetrics>;
  stop(): Promise<void>;
}

/** How long a started process waits for its learner, and how often it checks on its parent. */
const START_TIMEOUT_MS = 60_000;
const PARENT_POLL_MS = 1000;

export interface EnvRunnerServiceOptions {
  /** `tcp://<this node's address>:*` (the port is chosen and printed). */
  bind: string;
  /** The run's CURVE secret key (Z85): from $RLTS_CURVE_SECRET_KEY, never the command line. */
  curveSecretKey: string;
  /** Exit when this process is gone (the Ray actor that started this one). */
  parentPid?: number;
}

/** Serves one env runner until its learner or parent is gone; prints `{"endpoint": ...}` once bound. */
export async function runEnvRunnerService(options: EnvRunnerServiceOptions): Promise<string> {
  let runner: EnvRunner | undefined;
  let index = -1;
  // Fragments are sampled one after another (the learner queues requests ahead in async mode).
  let sampling: Promise<unknown> = Promise.resolve();
  const started = (): EnvRunner => {
    if (!runner) throw new Error("rlts env-runner: start() must be called first");
    return runner;
  };
  const update = ({ weightsVersion, weights }: WeightsUpdate): void => {
    if (weights) started().setWeights(weights, weightsVersion);
  };
  const api: EnvRunnerServiceApi = {
    async start({ config, index: runnerIndex }) {
      index = runnerIndex;
      runner = await EnvRunner.create(config, runnerIndex);
      return runner.spec;
    },
    sample(args) {
      const fragment = sampling.then(() => {
        update(args);
        return started().sample(args.epsilons);
      });
      sampling = fragment.catch(() => {});
      return fragment;
    },
    getMetrics: () => started().getMetrics(),
    setFilters: (state) => started().setFilters(state),
    evaluate(args) {
      update(args);
      return started().evaluate(args.numEpisodes);
    },
    async stop() {
      await runner?.stop();
      runner = undefined;
    },
  };
  const server = await serveRpc(options.bind, options.curveSecretKey, api as never);
  process.stdout.write(`${JSON.stringify({ endpoint: server.endpoint })}\n`);
  const timers: NodeJS.Timeout[] = [];
  const why = await Promise.race([
    server.peerGone.then(() => "its learner is gone"),
    new Promise<string>((resolve) => {
      const waiting = setTimeout(
        () => resolve(`no learner connected within ${START_TIMEOUT_MS / 1000} s`),
        START_TIMEOUT_MS,
      );
      timers.push(waiting);
      void server.peerConnected.then(() => clearTimeout(waiting));
      if (options.parentPid !== undefined) {
        const parent = options.parentPid;
        timers.push(
          setInterval(() => processAlive(parent) || resolve(`its parent ${parent} is gone`), PARENT_POLL_MS),
        );
      }
    }),
  ]);
  for (const timer of timers) clearTimeout(timer);
  await runner?.stop().catch(() => {});
  server.close();
  return `rlts env-runner ${index}: exiting, ${why}`;
}
