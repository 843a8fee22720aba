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
  actionClipBounds,
  actionLayout,
  actionRowReader,
  actionStarts,
  Box,
  Dict,
  Discrete,
  describeValue,
  MultiBinary,
  MultiDiscrete,
  type Space,
  type SpaceJSON,
  spaceFromJSON,
  spaceParts,
  Tuple,
} from "../envs/spaces.js";
import { unitToBounds } from "./squashed_gaussian.js";

const POLICY_FORMAT = "rlts-policy";
const POLICY_FORMAT_VERSION = 1;
/** File names inside a policy folder. */
export const POLICY_FILES = { model: "model.json", weights: "weights.bin", metadata: "policy.json" } as const;

/** The head of a Discrete, MultiDiscrete, MultiBinary or float Box action (PPO, A2C), alone or as a part. */
export type PolicyPartHead =
  | { kind: "categorical"; n: number }
  /** MultiDiscrete: one argmax per slice of `nvec[j]` logits, plus `start[j]`. */
  | { kind: "multi_categorical"; nvec: number[]; start: number[] }
  /** MultiBinary: 1 where the logit is > 0. */
  | { kind: "bernoulli"; n: number }
  | { kind: "gaussian"; dim: number };

/**
 * What the network outputs: logits (PPO, Discrete), the Gaussian mean (PPO, Box), Q-values (DQN), or the
 * mean before tanh of a squashed Gaussian (SAC), whose action is scaled from [-1, 1] to the Box's bounds.
 */
export type PolicyActionHead =
  | PolicyPartHead
  /**
   * Tuple and Dict: each part's head reads the next slice of the outputs, in the space's order; `keys` are
   * the Dict's keys (null for a Tuple).
   */
  | { kind: "composite"; parts: PolicyPartHead[]; keys: string[] | null }
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

  const fields = { head: "actionHead", space: "actionSpace", spaceJSON: m.actionSpace };
  checkActionHead(m.actionHead, actionSpace, fields, fail, true);

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

type Fail = (field: string, expected: string, got: unknown) => never;

/**
 * Checks `json` as the head of `space`; `fields` name the two in errors (`actionHead.parts[1]` and
 * `actionSpace[1]` for a part) and give the space as written, and only a top-level head (`whole`) may be
 * Q values, a squashed Gaussian or a composite.
 */
function checkActionHead(
  json: unknown,
  space: Space,
  fields: { head: string; space: string; spaceJSON: unknown },
  fail: Fail,
  whole: boolean,
): void {
  const head = json as Partial<Record<string, unknown>> | null;
  const kind = head?.kind;
  const refuse = (expected: string): never => fail(fields.space, expected, fields.spaceJSON);
  if (kind === "categorical" || (whole && kind === "q_values")) {
    if (!isPositiveInteger(head?.n)) fail(`${fields.head}.n`, "a positive integer", head?.n);
    if (!(space instanceof Discrete) || space.n !== head?.n)
      refuse(`Discrete(${head?.n}) to match the ${kind} head`);
  } else if (kind === "multi_categorical") {
    const { nvec, start } = head as { nvec?: unknown; start?: unknown };
    if (!Array.isArray(nvec) || nvec.length === 0 || !nvec.every(isPositiveInteger)) {
      fail(`${fields.head}.nvec`, "a non-empty array of positive integers", nvec);
    }
    const sizes = nvec as number[];
    if (!isNumberArray(start, sizes.length)) fail(`${fields.head}.start`, `${sizes.length} integers`, start);
    const matches =
      space instanceof MultiDiscrete &&
      space.nvec.length === sizes.length &&
      sizes.every((n, j) => space.nvec[j] === n && space.start[j] === (start as number[])[j]);
    if (!matches) refuse(`MultiDiscrete(${JSON.stringify(sizes)}) to match the head`);
  } else if (kind === "bernoulli") {
    if (!isPositiveInteger(head?.n)) fail(`${fields.head}.n`, "a positive integer", head?.n);
    if (!(space instanceof MultiBinary) || space.flatDim !== head?.n) {
      refuse(`MultiBinary(${head?.n}) to match the bernoulli head`);
    }
  } else if (kind === "gaussian" || (whole && kind === "squashed_gaussian")) {
    if (!isPositiveInteger(head?.dim)) fail(`${fields.head}.dim`, "a positive integer", head?.dim);
    if (!(space instanceof Box) || space.isInteger || space.size !== head?.dim) {
      refuse(`a float Box of ${head?.dim} values to match the ${kind} head`);
    }
    const box = space as Box;
    if (kind === "squashed_gaussian" && ![...box.low, ...box.high].every(Number.isFinite)) {
      refuse("a Box with finite bounds for the squashed_gaussian head");
    }
  } else if (whole && kind === "composite") {
    const { parts, keys } = head as { parts?: unknown; keys?: unknown };
    if (!Array.isArray(parts) || parts.length === 0)
      fail(`${fields.head}.parts`, "a non-empty array of heads", parts);
    const heads = parts as unknown[];
    if (keys === null) {
      if (!(space instanceof Tuple) || space.spaces.length !== heads.length) {
        refuse(`a Tuple of ${heads.length} spaces to match the composite head`);
      }
    } else {
      if (!Array.isArray(keys) || keys.length !== heads.length || !keys.every((k) => typeof k === "string")) {
        fail(`${fields.head}.keys`, "null (a Tuple) or the Dict's keys, one per part", keys);
      }
      const names = keys as string[];
      if (!(space instanceof Dict) || space.keys.join("\0") !== names.join("\0")) {
        refuse(`a Dict with the keys ${JSON.stringify(names)}, in this order, to match the composite head`);
      }
    }
    const subSpaces = spaceParts(space as Tuple | Dict);
    heads.forEach((part, i) => {
      const at = keys === null ? `[${i}]` : `.${(keys as string[])[i]}`;
      const sub = subSpaces[i];
      const partFields = {
        head: `${fields.head}.parts[${i}]`,
        space: `${fields.space}${at}`,
        spaceJSON: sub.toJSON(),
      };
      checkActionHead(part, sub, partFields, fail, false);
    });
  } else if (whole) {
    fail(
      fields.head,
      '{kind: "categorical"|"q_values"|"bernoulli", n}, {kind: "multi_categorical", nvec, start}, {kind: "gaussian"|"squashed_gaussian", dim} or {kind: "composite", parts, keys}',
      json,
    );
  } else {
    fail(
      fields.head,
      '{kind: "categorical"|"bernoulli", n}, {kind: "multi_categorical", nvec, start} or {kind: "gaussian", dim}',
      json,
    );
  }
}

/** Number of network outputs the head needs. */
function headSize(head: PolicyActionHead): number {
  switch (head.kind) {
    case "composite":
      return head.parts.reduce((sum, part) => sum + headSize(part), 0);
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
 * (squashed Gaussian); for a Tuple or Dict, each part's as those. Observations are the flat
 * float32 vectors the network was trained on (`observationSpace.flatten(obs)` for non-Box spaces).
 */
export class GreedyPolicy {
  readonly metadata: PolicyMetadata;
  readonly observationSpace: Space;
  readonly actionSpace: Space;
  readonly obsDim: number;
  private readonly normalizedObs: Float32Array;
  /** A composite head: each action number's `start` and (float Box parts) bounds, as the env's space gives them. */
  private readonly composite: {
    numbers: number;
    starts: Int32Array;
    bounds: { low: Float64Array; high: Float64Array } | null;
  } | null;

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
    const space = this.actionSpace;
    this.composite =
      this.metadata.actionHead.kind === "composite"
        ? { numbers: actionLayout(space).dim, starts: actionStarts(space), bounds: actionClipBounds(space) }
        : null;
  }

  /**
   * The greedy action for one flat observation: an integer for Discrete, an Int32Array for MultiDiscrete
   * and MultiBinary, a Float32Array for Box. For a Tuple an array and for a Dict an object (keys in the
   * space's order) of its parts' values as the space holds them: a number (Discrete, start included), an
   * Int32Array (MultiDiscrete, starts included), an Int8Array (MultiBinary) and the Box's typed array
   * (the mean clipped to the bounds), so `actionSpace.contains(action)` holds and the env takes it as it is.
   */
  act(obs: Float32Array): number | Int32Array | Float32Array | unknown[] | Record<string, unknown> {
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
    if (head.kind === "composite") return this.compositeAction(head.parts, output);
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

  /** Each part's greedy numbers in the action row's layout, offset by the starts and clipped, as the space's value. */
  private compositeAction(
    parts: PolicyPartHead[],
    output: ArrayLike<number>,
  ): unknown[] | Record<string, unknown> {
    const { numbers: dim, starts, bounds } = this.composite!;
    const numbers = new Float32Array(dim);
    let at = 0;
    let offset = 0;
    const classOf = (n: number) => {
      numbers[at++] = argmax(output, offset, n);
      offset += n;
    };
    for (const part of parts) {
      if (part.kind === "categorical") classOf(part.n);
      else if (part.kind === "multi_categorical") part.nvec.forEach(classOf);
      else {
        const n = part.kind === "bernoulli" ? part.n : part.dim;
        for (let k = 0; k < n; k++, offset++) {
          numbers[at++] = part.kind === "bernoulli" ? (output[offset] > 0 ? 1 : 0) : output[offset];
        }
      }
    }
    for (let k = 0; k < dim; k++) {
      numbers[k] += starts[k];
      if (bounds) numbers[k] = Math.min(bounds.high[k], Math.max(bounds.low[k], numbers[k]));
    }
    // A reader per call: every action is a value of its own, not one the next call overwrites.
    return actionRowReader(this.actionSpace)(numbers, 0) as unknown[] | Record<string, unknown>;
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
