/**
 * `env_runners.placement: ray`: env runners as Ray actors on a cluster, one per runner, spread over the
 * nodes (`rlts_ray`'s placement group). Built-in and user TS envs: each actor hosts an `rlts env-runner`
 * process that the group calls over ZeroMQ TCP (`RemoteRunnerApi`). `env.backend: gymnasium`: each actor
 * serves its vector env itself, and the runner stepping it is a worker thread here.
 *
 * Weights: the learner puts each update into the group's store as always; the first call of each runner
 * after a put carries it, read from the store once per version for all runners (one copy, sent as raw
 * frames, never JSON). Every connection is CURVE with a key pair made for this run.
 *
 * Faults: Ray restarts a dead actor (`max_restarts`, from `max_num_env_runner_restarts`); the agent
 * reports the death, the group replaces the runner under its restart rules, and the replacement connects
 * to the restarted actor, wherever Ray put it.
 */
import { randomBytes } from "node:crypto";
import { curveKeyPair } from "zeromq";
import type { ModuleSpec } from "../../models/catalog.js";
import { ObjectStore, type StoreHandle } from "../../store/object_store.js";
import type { EnvRunnerConfig, EpisodeMetrics } from "../env_runner.js";
import { WEIGHTS_ENTRY } from "../env_runner_group.js";
import type { RunnerFilterStates } from "../observation_filter.js";
import { RESTART_SEED_STRIDE } from "../restarts.js";
import {
  guarded,
  type RunnerActor,
  type RunnerApi,
  type RunnerLauncher,
  START_TIMEOUT_MS,
} from "../runner_actor.js";
import { threadLauncher } from "../thread_launcher.js";
import type { SampleRequest } from "../worker_protocol.js";
import type { WeightsUpdate } from "./env_runner_service.js";
import { RayAgent } from "./ray_agent.js";
import { RpcClient } from "./rpc.js";

/** The newest weights in the store, read once per version for every runner. */
class WeightsBroadcast {
  private version = 0;
  private weights: Float32Array | undefined;

  latest(store: ObjectStore): { version: number; weights: Float32Array } | undefined {
    if (store.latestVersion(WEIGHTS_ENTRY) !== this.version) {
      // A fresh array per version: sends of the previous one may still be reading theirs.
      const read = store.get(WEIGHTS_ENTRY);
      if (!read) return undefined;
      this.version = read.version;
      this.weights = read.data;
    }
    return this.weights && { version: this.version, weights: this.weights };
  }
}

/** The group's calls to one `rlts env-runner` process (its `EnvRunnerServiceApi`), over ZeroMQ. */
class RemoteRunnerApi<Sample> implements RunnerApi<Sample> {
  private store: ObjectStore | undefined;
  /** The newest weights version this runner was sent. */
  private sentVersion = 0;

  constructor(
    private readonly rpc: RpcClient,
    private readonly config: EnvRunnerConfig,
    private readonly index: number,
    private readonly broadcast: WeightsBroadcast,
  ) {}

  async start(): Promise<ModuleSpec> {
    return (await this.rpc.call("start", { config: this.config, index: this.index })) as ModuleSpec;
  }

  async useStore(handle: StoreHandle): Promise<void> {
    this.store = ObjectStore.fromHandle(handle);
  }

  async sample({ minVersion, waitTimeoutMs, epsilons }: SampleRequest): Promise<Awaited<Sample>> {
    const store = this.requireStore();
    if (minVersion > 0) await store.waitForVersion(WEIGHTS_ENTRY, minVersion, waitTimeoutMs);
    return (await this.rpc.call("sample", { ...this.weightsUpdate(store), epsilons })) as Awaited<Sample>;
  }

  async getMetrics(): Promise<EpisodeMetrics> {
    return (await this.rpc.call("getMetrics")) as EpisodeMetrics;
  }

  async setFilters(state: RunnerFilterStates): Promise<void> {
    await this.rpc.call("setFilters", state);
  }

  async evaluate(numEpisodes: number): Promise<EpisodeMetrics> {
    const update = this.weightsUpdate(this.requireStore());
    return (await this.rpc.call("evaluate", { ...update, numEpisodes })) as EpisodeMetrics;
  }

  async stop(): Promise<void> {
    await this.rpc.call("stop");
  }

  /** The weights to send: the newest, unless this runner has them already. */
  private weightsUpdate(store: ObjectStore): WeightsUpdate {
    const latest = this.broadcast.latest(store);
    if (!latest || latest.version <= this.sentVersion) return { weightsVersion: this.sentVersion };
    this.sentVersion = latest.version;
    return { weightsVersion: latest.version, weights: latest.weights };
  }

  private requireStore(): ObjectStore {
    if (!this.store) throw new Error(`rollout worker ${this.index}: useStore() must come first`);
    return this.store;
  }
}

/** Starts the Ray agent for `config`'s runners and returns the launcher that places them. */
export async function createRayLauncher(config: EnvRunnerConfig): Promise<RunnerLauncher> {
  const { env, env_runners: runners } = config;
  const { ray } = runners;
  const gymnasium = env.backend === "gymnasium";
  if (gymnasium && env.address !== undefined) {
    throw new RangeError(
      "env.address with env_runners.placement ray: the Ray actors serve the envs themselves; remove env.address",
    );
  }
  const keys = curveKeyPair();
  const agent = await RayAgent.start(
    {
      address: ray.address,
      namespace: "rlts",
      run_id: randomBytes(4).toString("hex"),
      runtime_env: ray.runtime_env,
      num_env_runners: runners.num_env_runners,
      num_cpus_per_env_runner: ray.num_cpus_per_env_runner,
      max_restarts: runners.restart_failed_env_runners ? runners.max_num_env_runner_restarts : 0,
      kind: gymnasium ? "gym" : "node",
      node_command: ray.env_runner_command ?? [process.execPath, `${rltsBin()}`, "env-runner"],
      gym: gymnasium
        ? {
            id: env.id,
            kwargs: env.kwargs,
            num_envs: runners.num_envs_per_env_runner,
            max_episode_steps: env.max_episode_steps ?? null,
            wrappers: env.wrappers,
            python_modules: env.python_modules,
          }
        : undefined,
      curve_secret_key: keys.secretKey,
      timeout_s: START_TIMEOUT_MS / 1000,
    },
    ray.python ?? env.python,
  );
  const broadcast = new WeightsBroadcast();

  /** Rejects when the actor process `actorPid` of runner `index` dies, or the agent does. */
  function actorDeath(index: number, actorPid: number): Promise<never> {
    const died = new Promise<never>((_, reject) => {
      const unsubscribe = agent.onDeath((deadIndex, deadPid, cause) => {
        if (deadIndex !== index || deadPid !== actorPid) return;
        unsubscribe();
        reject(new Error(`rollout worker ${index}: its Ray actor died (${cause})`));
      });
      agent.exited.catch(reject);
    });
    died.catch(() => {});
    return died;
  }

  return {
    async start<Sample>(runnerConfig: EnvRunnerConfig, index: number, generation: number) {
      const where = await Promise.race([agent.endpoint(index), agent.exited]);
      const actorDied = actorDeath(index, where.actor_pid);
      if (gymnasium) {
        const served = {
          ...runnerConfig,
          env: { ...runnerConfig.env, address: where.endpoint, curve_server_key: keys.publicKey },
        };
        const { runner, spec } = await threadLauncher.start<Sample>(served, index, generation);
        const died = Promise.race([runner.died, actorDied]);
        died.catch(() => {});
        return { runner: { ...runner, died }, spec };
      }
      const seeded = { ...runnerConfig, seed: runnerConfig.seed + generation * RESTART_SEED_STRIDE };
      const rpc = new RpcClient(`rollout worker ${index}`, where.endpoint, keys.publicKey);
      let actorGone = false;
      actorDied.catch(() => {
        actorGone = true;
      });
      const died = Promise.race([rpc.died, actorDied]);
      died.catch(() => {});
      const runner: RunnerActor<Sample> = {
        index,
        generation,
        api: new RemoteRunnerApi<Sample>(rpc, seeded, index, broadcast),
        died,
        terminate: async () => {
          rpc.close();
          // A stuck process is ended by its actor (a dead actor's process exits by itself).
          if (!actorGone) await agent.stopProcess(index).catch(() => {});
        },
      };
      try {
        const spec = await guarded(runner, runner.api.start(), "start", START_TIMEOUT_MS);
        return { runner, spec };
      } catch (error) {
        await runner.terminate();
        throw error;
      }
    },
    close: () => agent.close(),
  };
}

/** This rlts's `bin/rlts.js`, which every node runs the env runner with (same path on every node). */
function rltsBin(): string {
  return new URL("../../../bin/rlts.js", import.meta.url).pathname;
}
