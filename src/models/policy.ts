/**
 * Exported policies: the folder format a checkpoint's `model/` holds and `rlts export` copies, and the
 * greedy policy that runs it. Node-free, so the browser bundle uses this file as it is.
 *
 * A policy folder holds
 *   - `model.json` + `weights.bin`: the actor network in the tfjs layers format (flat float32 observation
 *     in; logits, Q-values or the Gaussian mean out), which `tf.loadLayersModel` reads in a browser;
 *   - `policy.json`: `PolicyMetadata`, what the network's input and output mean.
 */
import * as tf from "@tensorflow/tfjs";
import {
  Box,
  Discrete,
  describeValue,
  MultiBinary,
  MultiDiscrete,
  type Space,
  type SpaceJSON,
  spaceFromJSON,
} from "../envs/spaces.js";
import { unitToBounds } from "./squashed_gaussian.js";

const POLICY_FORMAT = "rlts-policy";
const POLICY_FORMAT_VERSION = 1;
/** File names inside a policy folder. */
export const POLICY_FILES = { model: "model.json", weights: "weights.bin", metadata: "policy.json" } as const;

/**
 * What the network outputs: logits (PPO, Discrete), the Gaussian mean (PPO, Box), Q-values (DQN), or the
 * mean before tanh of a squashed Gaussian (SAC), whose action is scaled from [-1, 1] to the Box's bounds.
 */
export type PolicyActionHead =
  | { kind: "categorical"; n: number }
  /** MultiDiscrete: one argmax per slice of `nvec[j]` logits, plus `start[j]`. */
  | { kind: "multi_categorical"; nvec: number[]; start: number[] }
  /** MultiBinary: 1 where the logit is > 0. */
  | { kind: "bernoulli"; n: number }
  | { kind: "gaussian"; dim: number }
  | { kind: "squashed_gaussian"; dim: number }
  | { kind: "q_values"; n: number };

/** Frozen observation statistics, applied as Gymnasium's NormalizeObservation then clipped to ±clip. */
export interface ObservationNormalization {
  mean: number[];
  var: number[];
  epsilon: number;
  clip: number;
}

/** The contents of `policy.json`. */
export interface PolicyMetadata {
  format: typeof POLICY_FORMAT;
  version: typeof POLICY_FORMAT_VERSION;
  algo: string;
  envId: string;
  observationSpace: SpaceJSON;
  actionSpace: SpaceJSON;
  actionHead: PolicyActionHead;
  observationNormalization: ObservationNormalization | null;
}

export class PolicyFormatError extends Error {
  override name = "PolicyFormatError";
}

function isNumberArray(x: unknown, length: number): x is number[] {
  return (
    Array.isArray(x) && x.length === length && x.every((v) => typeof v === "number" && Number.isFinite(v))
  );
}

function isPositiveInteger(x: unknown): x is number {
  return typeof x === "number" && Number.isInteger(x) && x > 0;
}

/**
 * Checks a parsed `policy.json` field by field; `source` names the file in errors. Returns the metadata
 * with its spaces rebuilt, so callers need not parse them again.
 */
export function parsePolicyMetadata(
  json: unknown,
  source: string,
): { metadata: PolicyMetadata; observationSpace: Space; actionSpace: Space } {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new PolicyFormatError(`${source}: "${field}" must be ${expected}, got ${describeValue(got)}`);
  };
  if (json === null || typeof json !== "object" || Array.isArray(json))
    fail("(top level)", "an object", json);
  const m = json as Record<string, unknown>;
  if (m.format !== POLICY_FORMAT) fail("format", `"${POLICY_FORMAT}"`, m.format);
  if (m.version !== POLICY_FORMAT_VERSION) fail("version", `${POLICY_FORMAT_VERSION}`, m.version);
  if (typeof m.algo !== "string") fail("algo", "a string", m.algo);
  if (typeof m.envId !== "string") fail("envId", "a string", m.envId);

  const space = (field: "observationSpace" | "actionSpace"): Space => {
    try {
      return spaceFromJSON(m[field] as SpaceJSON, field);
    } catch (error) {
      throw new PolicyFormatError(`${source}: ${(error as Error).message}`);
    }
  };
  const observationSpace = space("observationSpace");
  const actionSpace = space("actionSpace");

  const head = m.actionHead as Partial<Record<string, unknown>> | null;
  const kind = head?.kind;
  if (kind === "categorical" || kind === "q_values") {
    if (!isPositiveInteger(head?.n)) fail("actionHead.n", "a positive integer", head?.n);
    if (!(actionSpace instanceof Discrete) || actionSpace.n !== head?.n) {
      fail("actionSpace", `Discrete(${head?.n}) to match the ${kind} head`, m.actionSpace);
    }
  } else if (kind === "multi_categorical") {
    const { nvec, start } = head as { nvec?: unknown; start?: unknown };
    if (!Array.isArray(nvec) || nvec.length === 0 || !nvec.every(isPositiveInteger)) {
      fail("actionHead.nvec", "a non-empty array of positive integers", nvec);
    }
    const sizes = nvec as number[];
    if (!isNumberArray(start, sizes.length)) fail("actionHead.start", `${sizes.length} integers`, start);
    const matches =
      actionSpace instanceof MultiDiscrete &&
      actionSpace.nvec.length === sizes.length &&
      sizes.every((n, j) => actionSpace.nvec[j] === n && actionSpace.start[j] === (start as number[])[j]);
    if (!matches)
      fail("actionSpace", `MultiDiscrete(${JSON.stringify(sizes)}) to match the head`, m.actionSpace);
  } else if (kind === "bernoulli") {
    if (!isPositiveInteger(head?.n)) fail("actionHead.n", "a positive integer", head?.n);
    if (!(actionSpace instanceof MultiBinary) || actionSpace.flatDim !== head?.n) {
      fail("actionSpace", `MultiBinary(${head?.n}) to match the bernoulli head`, m.actionSpace);
    }
  } else if (kind === "gaussian" || kind === "squashed_gaussian") {
    if (!isPositiveInteger(head?.dim)) fail("actionHead.dim", "a positive integer", head?.dim);
    if (!(actionSpace instanceof Box) || actionSpace.isInteger || actionSpace.size !== head?.dim) {
      fail("actionSpace", `a float Box of ${head?.dim} values to match the ${kind} head`, m.actionSpace);
    }
    const box = actionSpace as Box;
    if (kind === "squashed_gaussian" && ![...box.low, ...box.high].every(Number.isFinite)) {
      fail("actionSpace", "a Box with finite bounds for the squashed_gaussian head", m.actionSpace);
    }
  } else {
    fail(
      "actionHead",
      '{kind: "categorical"|"q_values"|"bernoulli", n}, {kind: "multi_categorical", nvec, start} or {kind: "gaussian"|"squashed_gaussian", dim}',
      m.actionHead,
    );
  }

  const norm = m.observationNormalization as Partial<ObservationNormalization> | null | undefined;
  if (norm !== null) {
    if (norm === undefined || typeof norm !== "object") {
      fail("observationNormalization", "null or {mean, var, epsilon, clip}", norm);
    }
    const dim = observationSpace.flatDim;
    if (!isNumberArray(norm?.mean, dim))
      fail("observationNormalization.mean", `${dim} finite numbers`, norm?.mean);
    if (!isNumberArray(norm?.var, dim) || norm.var.some((v) => v < 0)) {
      fail("observationNormalization.var", `${dim} finite numbers >= 0`, norm?.var);
    }
    if (typeof norm?.epsilon !== "number" || !(norm.epsilon > 0)) {
      fail("observationNormalization.epsilon", "a number > 0", norm?.epsilon);
    }
    if (typeof norm?.clip !== "number" || !(norm.clip > 0)) {
      fail("observationNormalization.clip", "a number > 0", norm?.clip);
    }
  }
  return { metadata: m as unknown as PolicyMetadata, observationSpace, actionSpace };
}

/** Number of network outputs the head needs. */
function headSize(head: PolicyActionHead): number {
  switch (head.kind) {
    case "gaussian":
    case "squashed_gaussian":
      return head.dim;
    case "multi_categorical":
      return head.nvec.reduce((a, b) => a + b, 0);
    default:
      return head.n;
  }
}

/**
 * The deterministic policy of an exported network: the most likely action (categorical), the best
 * action (Q-values), the mean clipped to the action bounds (Gaussian), or tanh of the mean scaled to them
 * (squashed Gaussian). Observations are the flat
 * float32 vectors the network was trained on (`observationSpace.flatten(obs)` for non-Box spaces).
 */
export class GreedyPolicy {
  readonly metadata: PolicyMetadata;
  readonly observationSpace: Space;
  readonly actionSpace: Space;
  readonly obsDim: number;
  private readonly normalizedObs: Float32Array;

  /** `source` names where the policy came from, for error messages. */
  constructor(
    readonly model: tf.LayersModel,
    metadata: unknown,
    readonly source = "policy",
  ) {
    const parsed = parsePolicyMetadata(metadata, source);
    this.metadata = parsed.metadata;
    this.observationSpace = parsed.observationSpace;
    this.actionSpace = parsed.actionSpace;
    this.obsDim = this.observationSpace.flatDim;
    // The network must agree with policy.json, or act() would fail deep inside tfjs.
    const inputShape = model.inputs[0]?.shape;
    const outputShape = model.outputs[0]?.shape;
    const outDim = headSize(this.metadata.actionHead);
    if (model.inputs.length !== 1 || inputShape?.length !== 2 || inputShape[1] !== this.obsDim) {
      throw new PolicyFormatError(
        `${source}: the model's input is ${describeValue(inputShape)}, but the observation space ${this.observationSpace} flattens to ${this.obsDim} values (expected [null, ${this.obsDim}])`,
      );
    }
    if (model.outputs.length !== 1 || outputShape?.length !== 2 || outputShape[1] !== outDim) {
      throw new PolicyFormatError(
        `${source}: the model's output is ${describeValue(outputShape)}, but the ${this.metadata.actionHead.kind} head needs [null, ${outDim}]`,
      );
    }
    this.normalizedObs = new Float32Array(this.obsDim);
  }

  /**
   * The greedy action for one flat observation: an integer for Discrete, an Int32Array for MultiDiscrete
   * and MultiBinary, a Float32Array for Box.
   */
  act(obs: Float32Array): number | Int32Array | Float32Array {
    if (!(obs instanceof Float32Array) || obs.length !== this.obsDim) {
      throw new RangeError(
        `${this.source}: act() needs a Float32Array of ${this.obsDim} values (the flattened ${this.observationSpace}), got ${describeValue(obs)}`,
      );
    }
    const input = this.normalize(obs);
    const output = tf.tidy(() =>
      (this.model.predict(tf.tensor2d(input, [1, this.obsDim])) as tf.Tensor).dataSync(),
    );
    const head = this.metadata.actionHead;
    if (head.kind === "gaussian") {
      const box = this.actionSpace as Box;
      return Float32Array.from(output, (mean, i) => Math.min(box.high[i], Math.max(box.low[i], mean)));
    }
    if (head.kind === "squashed_gaussian") {
      const box = this.actionSpace as Box;
      return Float32Array.from(output, (mean, i) => unitToBounds(Math.tanh(mean), box.low[i], box.high[i]));
    }
    if (head.kind === "bernoulli") return Int32Array.from(output, (logit) => (logit > 0 ? 1 : 0));
    if (head.kind === "multi_categorical") {
      let offset = 0;
      return Int32Array.from(head.nvec, (n, j) => {
        const best = argmax(output, offset, n);
        offset += n;
        return head.start[j] + best;
      });
    }
    return (this.actionSpace as Discrete).start + argmax(output, 0, output.length);
  }

  /** (obs - mean) / sqrt(var + epsilon) clipped to ±clip, in float64 and stored as float32 (Gymnasium's order). */
  private normalize(obs: Float32Array): Float32Array {
    const stats = this.metadata.observationNormalization;
    if (stats === null) return obs;
    const { mean, var: variance, epsilon, clip } = stats;
    for (let i = 0; i < obs.length; i++) {
      const z = (obs[i] - mean[i]) / Math.sqrt(variance[i] + epsilon);
      this.normalizedObs[i] = Math.min(clip, Math.max(-clip, z));
    }
    return this.normalizedObs;
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** The index of the largest of `values[offset..offset + n)`, the first on ties (as np.argmax and tf.argMax). */
function argmax(values: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (values[offset + i] > values[offset + best]) best = i;
  return best;
}

/** Where a policy's two halves come from: the network and the parsed `policy.json`. */
export interface PolicyLoader {
  /** Names the folder or URL in error messages. */
  name: string;
  model(): Promise<tf.LayersModel>;
  metadata(): Promise<unknown>;
}

/** Resolves `folder` (absolute, or relative to the page in a browser) to a URL ending in "/". */
function folderUrl(folder: string): URL {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  return new URL(folder.endsWith("/") ? folder : `${folder}/`, base);
}

/** A loader for a policy folder served over HTTP (the browser; `fetch` works in Node too). */
export function urlPolicyLoader(folder: string): PolicyLoader {
  const url = folderUrl(folder);
  return {
    name: url.href,
    model: () => tf.loadLayersModel(new URL(POLICY_FILES.model, url).href),
    metadata: async () => {
      const response = await fetch(new URL(POLICY_FILES.metadata, url));
      if (!response.ok)
        throw new Error(`GET ${response.url}: HTTP ${response.status} ${response.statusText}`);
      return response.json();
    },
  };
}

/** Loads a policy from a folder URL or a custom loader; failures name the source and the file. */
export async function loadPolicy(urlOrLoader: string | PolicyLoader): Promise<GreedyPolicy> {
  const loader = typeof urlOrLoader === "string" ? urlPolicyLoader(urlOrLoader) : urlOrLoader;
  const folder = loader.name.endsWith("/") ? loader.name : `${loader.name}/`;
  const [model, metadata] = await Promise.allSettled([loader.model(), loader.metadata()]);
  if (model.status === "rejected") {
    throw new PolicyFormatError(
      `${folder}${POLICY_FILES.model}: cannot load the network: ${model.reason?.message}`,
    );
  }
  try {
    if (metadata.status === "rejected") {
      throw new PolicyFormatError(
        `${folder}${POLICY_FILES.metadata}: cannot read it: ${metadata.reason?.message}`,
      );
    }
    return new GreedyPolicy(model.value, metadata.value, `${folder}${POLICY_FILES.metadata}`);
  } catch (error) {
    model.value.dispose();
    throw error;
  }
}

/** The `policy.json` of a network trained on `envId` whose spaces and head a `PolicySpec`-like object gives. */
export function policyMetadataFor(
  algo: string,
  envId: string,
  spaces: { observationSpace: SpaceJSON; actionSpace: SpaceJSON },
  actionHead: PolicyActionHead,
  observationNormalization: ObservationNormalization | null = null,
): PolicyMetadata {
  return {
    format: POLICY_FORMAT,
    version: POLICY_FORMAT_VERSION,
    algo,
    envId,
    observationSpace: spaces.observationSpace,
    actionSpace: spaces.actionSpace,
    actionHead,
    observationNormalization,
  };
}
