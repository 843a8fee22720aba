/**
 * The module catalog (RLlib's Catalog): from an env's spaces and what the algorithm asks for, the
 * plain-data description of its RLModule — the encoder for the observation space (an MLP on the flat
 * observation today) and the head for the action space (a categorical, independent categoricals or
 * Bernoullis, or a diagonal-Gaussian distribution for an actor-critic, a composite of those for a Tuple or
 * Dict, Q values for a Q module, a tanh-squashed Gaussian for SAC's actor), and a CNN
 * encoder first for image observations (conv.ts). Each is one more case here; every algorithm, runner, learner and exporter reads the
 * `ModuleSpec` this returns. SAC's critics, which only its learner runs, come from `qFunctionSpec`.
 */
import type { ModelConfig } from "../config/schema.js";
import {
  Box,
  type BoxDtype,
  Dict,
  Discrete,
  MultiBinary,
  MultiDiscrete,
  type Space,
  type SpaceJSON,
  spaceParts,
  Tuple,
} from "../envs/spaces.js";
import {
  type ConvEncoderSpec,
  convEncoderSize,
  convEncoderSpec,
  defaultConvFilters,
  initConvEncoder,
  isChannelsFirst,
} from "./conv.js";
import { chainShapes, initTowers, type TowerSpec, towersSize } from "./mlp.js";

/**
 * An actor-critic's head for a Discrete, MultiDiscrete, MultiBinary or float Box action space, and for
 * each part of a Tuple or Dict one.
 */
export type PartHead =
  | { kind: "categorical"; n: number }
  /** MultiDiscrete: independent categoricals, one per entry, over `nvec[j]` classes counted from `start[j]`. */
  | { kind: "multi_categorical"; nvec: number[]; start: number[] }
  /** MultiBinary: independent Bernoullis, one logit per entry. */
  | { kind: "bernoulli"; n: number }
  | { kind: "gaussian"; dim: number };

/** What the module outputs for the action: a distribution's parameters, or Q values. */
export type ModuleHead =
  | PartHead
  /**
   * Tuple and Dict action spaces (RLlib's TorchMultiDistribution): one head per part, in the space's
   * order, each over its own consecutive slice of the policy output; the Gaussian parts' log-stds follow
   * the towers' weights one after another. An action is the parts' action numbers concatenated; its
   * log-probability and entropy are the sums of the parts'. `keys`: the Dict's keys, null for a Tuple.
   */
  | { kind: "composite"; parts: PartHead[]; keys: string[] | null }
  | { kind: "q_values"; n: number; dueling: boolean }
  /**
   * SAC's actor: the policy tower outputs the mean and the unsquashed log-std of a Gaussian (`2 dim`
   * values); the action is tanh of a sample, scaled from [-1, 1] to the Box's bounds `low`..`high`.
   */
  | {
      kind: "squashed_gaussian";
      dim: number;
      low: number[];
      high: number[];
      /**
       * Exploration noise's correlation between an env's consecutive steps: 0 draws it afresh each step (the
       * paper); rho > 0 makes it an AR(1) process z_t = rho z_(t-1) + sqrt(1 - rho^2) eps_t, still N(0, 1)
       * at every step ("red" noise, as Ornstein-Uhlenbeck), which explores sparse-reward tasks in sweeps.
       */
      noiseCorrelation: number;
    }
  /** Q(s, a) of one or more critics, one output each, on the observation and action concatenated (SAC). */
  | { kind: "state_action_values"; n: number };

/** The `model` section as the catalog reads it (`conv_filters` may be left out: the default CNN). */
export type ModelOptions = Omit<ModelConfig, "conv_filters"> & Partial<Pick<ModelConfig, "conv_filters">>;

/** What an algorithm asks the catalog for. */
export type ModuleRequest =
  /** A policy head and a value function (PPO, A2C). */
  | { type: "actor_critic"; model: ModelOptions }
  /** Q(s, .) on the `model` encoder, through `headHiddens` (per stream when dueling) (DQN). */
  | { type: "q"; model: ModelOptions; headHiddens: number[]; dueling: boolean }
  /** A tanh-squashed Gaussian policy with a state-dependent log-std, for a bounded Box (SAC's actor). */
  | { type: "squashed_gaussian_actor"; model: ModelOptions; noiseCorrelation: number };

/** Everything needed to rebuild a module from plain data (in a worker thread, say). */
export interface ModuleSpec {
  /** The env's spaces, so an exported policy can say what its input and output mean. */
  observationSpace: SpaceJSON;
  actionSpace: SpaceJSON;
  obsDim: number;
  /**
   * Image observations: the CNN the observation goes through first (its flattened output is what towers
   * with `input: -1` read); null: the towers read the flat observation.
   */
  encoder: ConvEncoderSpec | null;
  /**
   * Numbers per action in fragments and replay: 1 for Discrete (the class index), one per MultiDiscrete
   * or MultiBinary entry, the Box's size; a Tuple's or Dict's parts' numbers one after another.
   */
  actionDim: number;
  /** Discrete: the space's `start` (heads number classes from 0); 0 otherwise. */
  actionStart: number;
  head: ModuleHead;
  activation: "tanh" | "relu";
  towers: TowerSpec[];
  /** The tower whose output is the head's input: logits, the Gaussian mean, or Q (dueling: advantages). */
  policyTower: number;
  /** The tower giving V(s) (an actor-critic's value, a dueling Q's value stream), or -1. */
  valueTower: number;
  /**
   * Gaussian (and a composite's Gaussian parts, concatenated): the state-independent log standard
   * deviation follows the towers' weights.
   */
  logStdDim: number;
  initialLogStd: number;
  /** Seeds the initial weights: modules of one kind and seed start alike. */
  initName: string;
}

export function moduleSpecFor(
  observationSpace: Space,
  actionSpace: Space,
  request: ModuleRequest,
): ModuleSpec {
  const obsDim = observationSpace.flatDim;
  const { model } = request;
  const spaces = { observationSpace: observationSpace.toJSON(), actionSpace: actionSpace.toJSON() };
  if (request.type === "squashed_gaussian_actor") {
    return squashedActorSpec(observationSpace, actionSpace, model, request.noiseCorrelation);
  }
  const encoder = observationEncoder(observationSpace, model);
  /** What towers reading the observation get: the CNN's features, or the observation itself. */
  const inputDim = encoder?.outDim ?? obsDim;
  if (request.type === "q") {
    if (!(actionSpace instanceof Discrete)) {
      throw new TypeError(
        `action space ${actionSpace}: a Q-value module (DQN) needs a Discrete action space; use an actor-critic algorithm (PPO, A2C) for it`,
      );
    }
    const trunk = chainShapes(inputDim, model.hiddens);
    const features = model.hiddens.at(-1) ?? inputDim;
    const streamInput = trunk.length > 0 ? 0 : -1;
    const stream = (name: string, outDim: number): TowerSpec => ({
      name,
      input: streamInput,
      layers: chainShapes(features, [...request.headHiddens, outDim]),
      activateLast: false,
      outputGain: 1,
    });
    const towers: TowerSpec[] = [
      ...(trunk.length > 0
        ? [{ name: "encoder", input: -1, layers: trunk, activateLast: true, outputGain: Math.SQRT2 }]
        : []),
      stream("q", actionSpace.n),
      ...(request.dueling ? [stream("value", 1)] : []),
    ];
    const qTower = towers.length - (request.dueling ? 2 : 1);
    return {
      ...spaces,
      obsDim,
      encoder,
      actionDim: 1,
      actionStart: actionSpace.start,
      head: { kind: "q_values", n: actionSpace.n, dueling: request.dueling },
      activation: model.activation,
      towers,
      policyTower: qTower,
      valueTower: request.dueling ? qTower + 1 : -1,
      logStdDim: 0,
      initialLogStd: 0,
      initName: "q-init",
    };
  }
  const head = policyHead(actionSpace);
  const policyOutDim = policyOutputs(head);
  // CleanRL's gains: sqrt(2) for hidden layers, 0.01 for the policy output, 1 for the value output.
  const towers: TowerSpec[] = model.vf_share_layers
    ? [
        {
          name: "shared",
          input: -1,
          layers: chainShapes(inputDim, model.hiddens),
          activateLast: true,
          outputGain: Math.SQRT2,
        },
        {
          name: "pi",
          input: 0,
          layers: chainShapes(model.hiddens.at(-1)!, [policyOutDim]),
          activateLast: false,
          outputGain: 0.01,
        },
        {
          name: "vf",
          input: 0,
          layers: chainShapes(model.hiddens.at(-1)!, [1]),
          activateLast: false,
          outputGain: 1,
        },
      ]
    : [
        {
          name: "pi",
          input: -1,
          layers: chainShapes(inputDim, [...model.hiddens, policyOutDim]),
          activateLast: false,
          outputGain: 0.01,
        },
        {
          name: "vf",
          input: -1,
          layers: chainShapes(inputDim, [...model.hiddens, 1]),
          activateLast: false,
          outputGain: 1,
        },
      ];
  return {
    ...spaces,
    obsDim,
    encoder,
    actionDim: actionNumbers(head),
    actionStart: actionSpace instanceof Discrete ? actionSpace.start : 0,
    head,
    activation: model.activation,
    towers,
    policyTower: towers.length - 2,
    valueTower: towers.length - 1,
    logStdDim: gaussianDims(head),
    initialLogStd: model.initial_log_std,
    initName: "init",
  };
}

/**
 * The CNN for an image observation space (a Box of shape [h, w, c], or [c, h, w] as `isChannelsFirst`
 * tells) unless `conv_filters` is []; uint8 frames are scaled to [0, 1] inside the module, so fragments
 * and replay keep the env's numbers.
 */
function observationEncoder(observationSpace: Space, model: ModelOptions): ConvEncoderSpec | null {
  const filters = model.conv_filters ?? null;
  const image = observationSpace instanceof Box && observationSpace.shape.length === 3;
  if (filters !== null && filters.length > 0 && !image) {
    throw new RangeError(
      `model.conv_filters: a CNN needs image observations (a Box of shape [height, width, channels]); the observation space is ${observationSpace}`,
    );
  }
  if (!image || filters?.length === 0) return null;
  const box = observationSpace as Box<BoxDtype>;
  const inputScale = box.dtype === "uint8" ? 1 / 255 : 1;
  const channelsFirst = isChannelsFirst(box.shape);
  const [a, b, c] = box.shape;
  const hwc = channelsFirst ? [b, c, a] : [a, b, c];
  return convEncoderSpec(hwc, filters ?? defaultConvFilters(hwc), inputScale, channelsFirst);
}

/** An actor-critic's distribution head for `actionSpace`: one of `PartHead`, or a composite of them. */
function policyHead(actionSpace: Space): ModuleHead {
  if (actionSpace instanceof Tuple || actionSpace instanceof Dict) {
    const keys = actionSpace instanceof Dict ? [...actionSpace.keys] : null;
    const parts = spaceParts(actionSpace);
    if (parts.length === 0)
      throw new TypeError(`action space ${actionSpace}: a Tuple or Dict action space needs parts`);
    const head = (part: Space, i: number): PartHead => {
      const found = partHead(part);
      if (found) return found;
      throw new TypeError(
        `action space ${actionSpace}: part ${keys ? `"${keys[i]}"` : i} is ${part}; the parts of a Tuple or Dict action space must be Discrete, MultiDiscrete, MultiBinary or float Box (not nested)`,
      );
    };
    return { kind: "composite", parts: parts.map(head), keys };
  }
  const head = partHead(actionSpace);
  if (head) return head;
  throw new TypeError(
    `action space ${actionSpace}: the MLP policy supports Discrete, MultiDiscrete, MultiBinary and float Box action spaces, and Tuple and Dict of them`,
  );
}

/** The head of one Discrete, MultiDiscrete, MultiBinary or float Box space; null for any other. */
function partHead(actionSpace: Space): PartHead | null {
  if (actionSpace instanceof Discrete) return { kind: "categorical", n: actionSpace.n };
  if (actionSpace instanceof MultiDiscrete) {
    return {
      kind: "multi_categorical",
      nvec: Array.from(actionSpace.nvec),
      start: Array.from(actionSpace.start),
    };
  }
  if (actionSpace instanceof MultiBinary) return { kind: "bernoulli", n: actionSpace.flatDim };
  if (actionSpace instanceof Box && !actionSpace.isInteger)
    return { kind: "gaussian", dim: actionSpace.size };
  return null;
}

/**
 * Network outputs the head reads: logits (all categoricals' together), Bernoulli logits, or the mean; a
 * composite's parts' one after another.
 */
export function policyOutputs(head: ModuleHead): number {
  switch (head.kind) {
    case "composite":
      return head.parts.reduce((sum, part) => sum + policyOutputs(part), 0);
    case "categorical":
    case "q_values":
    case "bernoulli":
      return head.n;
    case "multi_categorical":
      return head.nvec.reduce((a, b) => a + b, 0);
    case "gaussian":
      return head.dim;
    case "squashed_gaussian":
      return 2 * head.dim;
    case "state_action_values":
      return head.n;
  }
}

/**
 * Numbers per action in fragments and replay: one class index, one per entry, or the Box's values; a
 * composite's parts' one after another.
 */
export function actionNumbers(head: ModuleHead): number {
  switch (head.kind) {
    case "composite":
      return head.parts.reduce((sum, part) => sum + actionNumbers(part), 0);
    case "multi_categorical":
      return head.nvec.length;
    case "bernoulli":
      return head.n;
    case "gaussian":
    case "squashed_gaussian":
      return head.dim;
    default:
      return 1;
  }
}

/** Values of the state-independent log-std: a Gaussian's dimension, a composite's Gaussian parts' together. */
function gaussianDims(head: ModuleHead): number {
  if (head.kind === "gaussian") return head.dim;
  if (head.kind === "composite") return head.parts.reduce((sum, part) => sum + gaussianDims(part), 0);
  return 0;
}

/**
 * Whether the head's actions are integers (class indices or bits) rather than floats. A composite's are
 * not (even with integer parts only): its action rows are float32, integer parts holding whole numbers.
 */
export function integerActions(head: ModuleHead): boolean {
  return (
    head.kind === "categorical" ||
    head.kind === "q_values" ||
    head.kind === "multi_categorical" ||
    head.kind === "bernoulli"
  );
}

/**
 * SAC's actor: one tower from the observation to the mean and the unsquashed log-std, with CleanRL's
 * gains (sqrt(2) hidden, 0.01 out: the first actions are near the Box's centre with std exp(-1.5)).
 */
function squashedActorSpec(
  observationSpace: Space,
  actionSpace: Space,
  model: ModelOptions,
  noiseCorrelation: number,
): ModuleSpec {
  const bounded =
    actionSpace instanceof Box &&
    !actionSpace.isInteger &&
    actionSpace.low.every(Number.isFinite) &&
    actionSpace.high.every(Number.isFinite);
  if (!bounded) {
    throw new TypeError(
      `action space ${actionSpace}: a squashed-Gaussian policy (SAC) needs a float Box with finite bounds`,
    );
  }
  const box = actionSpace as Box;
  const obsDim = observationSpace.flatDim;
  return {
    observationSpace: observationSpace.toJSON(),
    actionSpace: box.toJSON(),
    obsDim,
    // SAC's networks are MLPs on the flat observation: its critics read it beside the action.
    encoder: null,
    actionDim: box.size,
    actionStart: 0,
    head: {
      kind: "squashed_gaussian",
      dim: box.size,
      low: Array.from(box.low),
      high: Array.from(box.high),
      noiseCorrelation,
    },
    activation: model.activation,
    towers: [
      {
        name: "pi",
        input: -1,
        layers: chainShapes(obsDim, [...model.hiddens, 2 * box.size]),
        activateLast: false,
        outputGain: 0.01,
      },
    ],
    policyTower: 0,
    valueTower: -1,
    logStdDim: 0,
    initialLogStd: 0,
    initName: "pi-init",
  };
}

/**
 * `numCritics` critics Q_k(s, a) for the actor `actor` (SAC's twin Q), each a tower of `model.hiddens`
 * on the observation and the action in [-1, 1] concatenated; `initName` tells their initial weights apart
 * from a target's or another set's.
 */
export function qFunctionSpec(
  actor: ModuleSpec,
  model: Pick<ModelConfig, "hiddens" | "activation">,
  numCritics: number,
  initName = "q-init",
): ModuleSpec {
  const inDim = actor.obsDim + actor.actionDim;
  return {
    ...actor,
    obsDim: inDim,
    head: { kind: "state_action_values", n: numCritics },
    activation: model.activation,
    towers: Array.from({ length: numCritics }, (_, k) => ({
      name: `q${k + 1}`,
      input: -1,
      layers: chainShapes(inDim, [...model.hiddens, 1]),
      activateLast: false,
      outputGain: 1,
    })),
    policyTower: -1,
    valueTower: -1,
    logStdDim: 0,
    initialLogStd: 0,
    initName,
  };
}

/** Float32s in the module's flat weights: the CNN's (if any), the towers', the log-std. */
export function weightsSize(spec: ModuleSpec): number {
  return convEncoderSize(spec.encoder) + towersSize(spec.towers) + spec.logStdDim;
}

/** The towers' part of flat weights (after the CNN's). */
export function towerWeights(spec: ModuleSpec, flat: Float32Array): Float32Array {
  const start = convEncoderSize(spec.encoder);
  return flat.subarray(start, start + towersSize(spec.towers));
}

/** The initial weights for `seed` (CleanRL's orthogonal init; the log-std at `initialLogStd`). */
export function initialWeights(spec: ModuleSpec, seed: number): Float32Array {
  const flat = new Float32Array(weightsSize(spec));
  if (spec.encoder) initConvEncoder(flat, spec.encoder, `${spec.initName}-conv-${seed}`);
  initTowers(towerWeights(spec, flat), spec.towers, `${spec.initName}-${seed}`);
  flat.fill(spec.initialLogStd, weightsSize(spec) - spec.logStdDim);
  return flat;
}
