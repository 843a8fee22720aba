/**
 * `RemoteVectorEnv`: N real Gymnasium envs in one Python process (`python -m rlts_gym`), stepped together
 * with one round trip per vector step, over shared memory (a server spawned here) or ZeroMQ.
 *
 * Observations arrive as one float32 `[N, flatDim]` frame (Gymnasium's `flatten`: Discrete one-hot) and
 * are copied into the preallocated arrays of `VectorStepResult`. Autoreset is same-step, done by the
 * server: a finished sub-env's row holds the reset observation, its final one is in `finalObservations`.
 */
import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import { actionLayout, type JsonNumber, type Space, type SpaceJSON, spaceFromJSON } from "../spaces.js";
import type {
  EnvMetadata,
  EnvSpec,
  Info,
  RenderFrame,
  ResetOptions,
  VectorEnv,
  VectorResetResult,
  VectorStepResult,
} from "../types.js";
import { type Channel, Connection, type Reply } from "./connection.js";
import { copyFrame, PROTOCOL_VERSION, requireFrame, TRANSPORTS, type Transport } from "./protocol.js";
import { type GymnasiumWrapper, ServerProcess } from "./server-process.js";
import { ShmConnection, shmUnavailable } from "./shm.js";

export interface RemoteEnvOptions {
  /** Gymnasium id, e.g. "CartPole-v1" or "rlts_gym/DictObs-v0". */
  id: string;
  /** Copies of the env served by one Python process (default 1). */
  numEnvs?: number;
  /** Passed to `gymnasium.make(id, **kwargs)`; must be JSON. */
  kwargs?: Record<string, unknown>;
  /** Overrides the registered time limit (`gymnasium.make(..., max_episode_steps=K)`). */
  maxEpisodeSteps?: number;
  /** `tcp://host:port` of a server started elsewhere; its command line then decides id, numEnvs and kwargs. */
  address?: string;
  /** Python to run; default `RLTS_PYTHON`, else `python/.venv/bin/python` of the rlts package. */
  python?: string;
  /**
   * Transport to a spawned server: `shm`, a file in /dev/shm that both processes map (the default where it
   * works: Linux on x86-64 with koffi), `ipc`, a unix socket in a temp dir (the default elsewhere but on
   * Windows), or `tcp` on a free port of 127.0.0.1. A server at `address` is reached the way its address says.
   */
  transport?: Transport;
  /** Longest wait for any reply (and for the server to start), default 30 s. */
  timeoutMs?: number;
  /**
   * A server started elsewhere with `--key-file`: the file with the same shared key. The client proves it
   * knows the key (HMAC-SHA256 of the server's challenge); the key itself never travels.
   */
  keyFile?: string;
  /** A CURVE server started elsewhere (rlts_ray's, in a Ray actor): its public key, Z85. */
  curveServerKey?: string;
  /** Python modules the spawned server imports before making the env (ones that call `gymnasium.register`). */
  modules?: string[];
  /**
   * `gymnasium.wrappers` the spawned server applies to each env, first to last, so preprocessing (Atari's,
   * frame stacking) runs next to the simulator: `[{ name: "FrameStackObservation", kwargs: { stack_size: 4 } }]`.
   */
  wrappers?: GymnasiumWrapper[];
}

/** The `spec` reply (PROTOCOL.md). */
interface SpecReply {
  id: string;
  num_envs: number;
  observation_space: SpaceJSON;
  action_space: SpaceJSON;
  max_episode_steps: number | null;
  reward_threshold: number | null;
  reward_range: [JsonNumber, JsonNumber];
  render_mode: string | null;
  metadata: { render_modes: string[]; render_fps: number | null };
}

const EMPTY_INFO: Info = Object.freeze({});
const DEFAULT_TIMEOUT_MS = 30_000;
const liveEnvs = new Set<RemoteVectorEnv>();

/** Closes every remote env still open (for a CLI's SIGINT/SIGTERM handler). */
export async function closeAllRemoteEnvs(): Promise<void> {
  await Promise.all([...liveEnvs].map((env) => env.close()));
}

/**
 * Bytes per value of an observation frame: 4 (float32), or 1 where the server sends a uint8 or bool
 * Box's values as bytes (protocol 3).
 */
function observationBytes(reply: Reply, name: "obs" | "final_obs"): 1 | 4 {
  const dtype = reply.header.frames.find((frame) => frame.name === name)?.dtype;
  if (dtype === "uint8") return 1;
  if (dtype === "float32") return 4;
  throw new Error(`${reply.command} reply: frame "${name}" has dtype ${dtype}, expected float32 or uint8`);
}

function checkOptions(opts: RemoteEnvOptions): void {
  if (typeof opts.id !== "string" || opts.id === "")
    throw new TypeError(`remote env: id must be a Gymnasium id, got ${opts.id}`);
  if (opts.numEnvs !== undefined && !(Number.isInteger(opts.numEnvs) && opts.numEnvs >= 1)) {
    throw new RangeError(`remote env ${opts.id}: numEnvs must be an integer >= 1, got ${opts.numEnvs}`);
  }
  if (opts.timeoutMs !== undefined && !(opts.timeoutMs > 0)) {
    throw new RangeError(`remote env ${opts.id}: timeoutMs must be > 0, got ${opts.timeoutMs}`);
  }
  if (
    opts.maxEpisodeSteps !== undefined &&
    !(Number.isInteger(opts.maxEpisodeSteps) && opts.maxEpisodeSteps >= 1)
  ) {
    throw new RangeError(
      `remote env ${opts.id}: maxEpisodeSteps must be an integer >= 1, got ${opts.maxEpisodeSteps}`,
    );
  }
  if (opts.transport !== undefined && !TRANSPORTS.includes(opts.transport)) {
    throw new TypeError(`remote env ${opts.id}: transport must be shm, ipc or tcp, got ${opts.transport}`);
  }
  if (opts.address !== undefined && !/^(tcp|ipc):\/\/./.test(opts.address)) {
    throw new TypeError(
      `remote env ${opts.id}: address must look like tcp://host:port or ipc:///path, got ${opts.address}`,
    );
  }
}

/** shm where it works, else ipc (tcp on Windows). */
async function defaultTransport(): Promise<Transport> {
  if (process.platform === "win32") return "tcp";
  return (await shmUnavailable()) === undefined ? "shm" : "ipc";
}

/** Starts (or connects to) a server and checks the protocol version; see `RemoteEnvOptions`. */
export async function makeRemoteVectorEnv(opts: RemoteEnvOptions): Promise<RemoteVectorEnv> {
  checkOptions(opts);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let server: ServerProcess | undefined;
  let endpoint = opts.address;
  if (endpoint === undefined) {
    const transport = opts.transport ?? (await defaultTransport());
    if (transport === "shm") {
      const reason = await shmUnavailable();
      if (reason) throw new Error(`remote env ${opts.id}: ${reason}; use transport ipc or tcp`);
    }
    [server, endpoint] = await ServerProcess.start({
      id: opts.id,
      numEnvs: opts.numEnvs ?? 1,
      kwargs: opts.kwargs ?? {},
      maxEpisodeSteps: opts.maxEpisodeSteps,
      python: opts.python,
      transport,
      timeoutMs,
      modules: opts.modules ?? [],
      wrappers: opts.wrappers ?? [],
    });
  }
  const options = {
    serverExited: server?.exited,
    onFail: () => void server?.kill(),
    curveServerKey: opts.curveServerKey,
  };
  let connection: Channel;
  try {
    connection = endpoint.startsWith("shm://")
      ? await ShmConnection.open(opts.id, endpoint, timeoutMs, options)
      : new Connection(opts.id, endpoint, timeoutMs, options);
  } catch (err) {
    await server?.kill();
    throw err;
  }
  try {
    const hello = (await connection.request("hello")).header;
    if (hello.protocol !== PROTOCOL_VERSION) {
      throw new Error(
        `remote env ${opts.id}: the server at ${endpoint} speaks rlts_gym protocol ${hello.protocol}, this client speaks ${PROTOCOL_VERSION}`,
      );
    }
    connection.session = hello.session as string;
    if (typeof hello.challenge === "string") await authenticate(connection, hello.challenge, opts, endpoint);
    if (hello.env_id !== opts.id) {
      // A config saying Acrobot must not train on a server that serves CartPole.
      throw new RangeError(
        `remote env ${opts.id}: the server at ${endpoint} serves ${JSON.stringify(hello.env_id)}, not ${JSON.stringify(opts.id)}`,
      );
    }
    const spec = (await connection.request("spec")).header as unknown as SpecReply;
    if (opts.numEnvs !== undefined && spec.num_envs !== opts.numEnvs) {
      throw new RangeError(
        `remote env ${opts.id}: asked for ${opts.numEnvs} envs, the server at ${endpoint} has ${spec.num_envs}`,
      );
    }
    return new RemoteVectorEnv(spec, connection, server);
  } catch (err) {
    // Ends the session this client opened, so a server started elsewhere can serve the next client.
    if (connection.session !== undefined) await connection.request("close").catch(() => {});
    connection.fail(err as Error);
    await server?.kill();
    throw err;
  }
}

/** Answers a keyed server's challenge with HMAC-SHA256(key, challenge). */
async function authenticate(
  connection: Channel,
  challenge: string,
  opts: RemoteEnvOptions,
  endpoint: string,
): Promise<void> {
  if (opts.keyFile === undefined) {
    throw new Error(
      `remote env ${opts.id}: the server at ${endpoint} needs a shared key; set env.key_file to the file it was started with (--key-file)`,
    );
  }
  let key: Buffer;
  try {
    key = Buffer.from((await readFile(opts.keyFile, "utf8")).trim());
  } catch (err) {
    throw new Error(`remote env ${opts.id}: env.key_file ${opts.keyFile}: ${(err as Error).message}`);
  }
  const proof = createHmac("sha256", key).update(challenge).digest("hex");
  await connection.request("auth", { proof });
}

export class RemoteVectorEnv implements VectorEnv {
  readonly numEnvs: number;
  readonly singleObservationSpace: Space;
  readonly singleActionSpace: Space;
  readonly obsDim: number;
  readonly actionDim: number;
  readonly spec: EnvSpec;
  readonly metadata: EnvMetadata;
  readonly renderMode?: string;
  /** Gymnasium's `reward_range` (±Infinity unless the env says otherwise). */
  readonly rewardRange: [number, number];
  private readonly result: VectorStepResult;
  /**
   * Actions as they travel: int32 for Discrete/MultiDiscrete/MultiBinary/integer Box, else float32 (float
   * Box; Tuple and Dict, their parts side by side).
   */
  private readonly wireActions: Int32Array | Float32Array;
  private closing?: Promise<void>;

  constructor(
    spec: SpecReply,
    private readonly connection: Channel,
    private readonly server?: ServerProcess,
  ) {
    this.numEnvs = spec.num_envs;
    this.singleObservationSpace = spaceFromJSON(spec.observation_space, `${spec.id} observation space`);
    this.singleActionSpace = spaceFromJSON(spec.action_space, `${spec.id} action space`);
    this.obsDim = this.singleObservationSpace.flatDim;
    const layout = actionLayout(this.singleActionSpace);
    this.actionDim = layout.dim;
    this.wireActions = layout.integer
      ? new Int32Array(this.numEnvs * layout.dim)
      : new Float32Array(this.numEnvs * layout.dim);
    this.spec = {
      id: spec.id,
      maxEpisodeSteps: spec.max_episode_steps ?? undefined,
      rewardThreshold: spec.reward_threshold ?? undefined,
      kwargs: {},
    };
    this.metadata = {
      renderModes: spec.metadata.render_modes,
      renderFps: spec.metadata.render_fps ?? undefined,
    };
    this.renderMode = spec.render_mode ?? undefined;
    const decode = (x: JsonNumber) =>
      x === "inf" ? Infinity : x === "-inf" ? -Infinity : x === "nan" ? NaN : x;
    this.rewardRange = [decode(spec.reward_range[0]), decode(spec.reward_range[1])];
    const n = this.numEnvs;
    this.result = {
      observations: new Float32Array(n * this.obsDim),
      rewards: new Float64Array(n),
      terminated: new Uint8Array(n),
      truncated: new Uint8Array(n),
      finalObservations: new Float32Array(n * this.obsDim),
      infos: new Array<Info>(n).fill(EMPTY_INFO),
    };
    liveEnvs.add(this);
  }

  /** Pid of the spawned Python server (undefined when connected to a server started elsewhere). */
  get serverPid(): number | undefined {
    return this.server?.pid;
  }

  async reset(opts: ResetOptions = {}): Promise<VectorResetResult> {
    const reply = await this.connection.request("reset", {
      seed: opts.seed ?? null,
      options: opts.options ?? null,
    });
    this.readObservations(reply, this.result.observations);
    this.readInfos(reply);
    return { observations: this.result.observations, infos: this.result.infos };
  }

  /**
   * Steps all sub-envs. `autoreset: false` is for `RemoteEnv` (N = 1): the obs row then holds the final
   * observation and the caller must `reset` before stepping that env again, as with a single Gymnasium env.
   */
  async step(
    actions: Float32Array | Int32Array,
    opts: { autoreset?: boolean } = {},
  ): Promise<VectorStepResult> {
    const reply = await this.connection.request(
      "step",
      opts.autoreset === false ? { autoreset: false } : {},
      [this.toWire(actions)],
    );
    const r = this.result;
    this.readObservations(reply, r.observations);
    this.readFrame(reply, "reward", r.rewards);
    this.readFrame(reply, "terminated", r.terminated);
    this.readFrame(reply, "truncated", r.truncated);
    const finalObs = reply.frames.get("final_obs");
    if (finalObs) {
      // Rows of final_obs belong, in order, to the sub-envs that finished in this step.
      const bytesPerValue = observationBytes(reply, "final_obs");
      const rowBytes = this.obsDim * bytesPerValue;
      let k = 0;
      for (let i = 0; i < this.numEnvs; i++) {
        if (!r.terminated[i] && !r.truncated[i]) continue;
        if ((k + 1) * rowBytes > finalObs.length)
          throw new Error(`${this.spec.id}: step reply has too few final_obs rows`);
        const row = finalObs.subarray(k * rowBytes, (k + 1) * rowBytes);
        if (bytesPerValue === 1) r.finalObservations.set(row, i * this.obsDim);
        else copyFrame(row, r.finalObservations, i * this.obsDim);
        k++;
      }
    }
    this.readInfos(reply);
    return r;
  }

  /** One frame per sub-env: an RGB image for render_mode "rgb_array", text for "ansi", else undefined. */
  async render(): Promise<RenderFrame[]> {
    const reply = await this.connection.request("render");
    if (reply.header.render === "text") return reply.header.text as string[];
    if (reply.header.render !== "rgb_array") return new Array(this.numEnvs).fill(undefined);
    const images = requireFrame(this.spec.id, "render", reply.frames, "rgb");
    const [n, height, width] = reply.header.frames[0].shape;
    const size = height * width * 3;
    return Array.from({ length: n }, (_, i) => ({
      data: new Uint8Array(images.subarray(i * size, (i + 1) * size)),
      height,
      width,
    }));
  }

  /** Closes the envs and stops the server (a server started elsewhere exits too). Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      liveEnvs.delete(this);
      await this.connection.request("close").catch(() => {});
      this.connection.fail(new Error(`remote env ${this.spec.id} is closed`));
      await this.server?.waitForExit(2000);
    })();
    return this.closing;
  }

  private toWire(actions: Float32Array | Int32Array): Int32Array | Float32Array {
    const wire = this.wireActions;
    if (actions.length !== wire.length) {
      throw new RangeError(
        `${this.spec.id}: step expects ${wire.length} action values (${this.numEnvs} envs x ${this.actionDim} for ${this.singleActionSpace}), got ${actions.length}`,
      );
    }
    if (actions.constructor === wire.constructor) return actions;
    if (wire instanceof Int32Array) {
      for (let i = 0; i < actions.length; i++) {
        if (!Number.isInteger(actions[i])) {
          throw new RangeError(
            `${this.spec.id}: action ${actions[i]} of sub-env ${Math.floor(i / this.actionDim)} is not an integer (${this.singleActionSpace})`,
          );
        }
      }
    }
    wire.set(actions);
    return wire;
  }

  private readFrame(reply: Reply, name: string, target: Float32Array | Float64Array | Uint8Array): void {
    const frame = requireFrame(this.spec.id, reply.command, reply.frames, name);
    if (frame.length !== target.byteLength) {
      throw new Error(
        `${this.spec.id}: frame "${name}" has ${frame.length} bytes, expected ${target.byteLength}`,
      );
    }
    copyFrame(frame, target);
  }

  /** The `obs` frame into `target`: float32 bytes copied, uint8 (image) values widened to float32. */
  private readObservations(reply: Reply, target: Float32Array): void {
    if (observationBytes(reply, "obs") === 4) {
      this.readFrame(reply, "obs", target);
      return;
    }
    const frame = requireFrame(this.spec.id, reply.command, reply.frames, "obs");
    if (frame.length !== target.length) {
      throw new Error(
        `${this.spec.id}: frame "obs" has ${frame.length} uint8 values, expected ${target.length}`,
      );
    }
    target.set(frame);
  }

  private readInfos(reply: Reply): void {
    const infos = this.result.infos;
    infos.fill(EMPTY_INFO);
    const sent = reply.header.infos as Record<string, Info> | undefined;
    if (sent) for (const [i, info] of Object.entries(sent)) infos[Number(i)] = info;
  }
}
