/**
 * DQN's env runner: a vector env acting epsilon-greedily on plain-TypeScript Q values (one batched
 * forward pass per vector step), turning its steps into n-step transitions for the replay buffer.
 *
 * It differs from the PPO `EnvRunner` in what it hands back: transitions rather than fragments, because
 * the n-step window needs each step's final observation (the fragment keeps only V(final obs)). Like
 * that runner it is built from plain data, so it can move into a worker thread for Ape-X style sampling.
 */

import type { EnvConfig, EnvRunnersConfig, ModelConfig } from "../../config/schema.js";
import { Discrete, type SpaceJSON } from "../../envs/spaces.js";
import type { VectorEnv } from "../../envs/types.js";
import { type VectorEnvFactory, vectorEnvFactory } from "../../rollout/env_runner.js";
import { type EpisodeMetrics, EpisodeTracker, evaluateEpisodes } from "../../rollout/episodes.js";
import { createRng, type Rng } from "../../utils/rng.js";
import type { DQNConfig } from "./config.js";
import { NStepAccumulator } from "./nstep.js";
import { QInference, type QNetworkSpec } from "./q_network.js";
import { allocateTransitions, type TransitionBatch } from "./replay.js";

export interface DQNRunnerOptions {
  numEnvs: number;
  /** Sub-env i is reset with seed `seed + index * numEnvs + i`; exploration draws are seeded too. */
  seed: number;
  index: number;
  nStep: number;
  gamma: number;
  encoderHiddens: number[];
  headHiddens: number[];
  activation: "tanh" | "relu";
  dueling: boolean;
  /** Transitions in SharedArrayBuffers (a runner in a worker thread). */
  shared?: boolean;
}

/** What one `sample()` call hands the replay buffer. */
export interface SampledTransitions extends TransitionBatch {
  /** Env steps taken (vector steps x envs); the n-step windows make `count` differ from it. */
  numEnvSteps: number;
  /** The weights version that chose the greedy actions. */
  weightsVersion: number;
}

/** The parts of the run config the DQN runner reads. */
export interface DQNRunnerConfig {
  seed: number;
  env: EnvConfig;
  env_runners: EnvRunnersConfig;
  model: ModelConfig;
  dqn: DQNConfig;
}

/** The Q network a runner acts with, and the env's spaces (what an exported policy's metadata says). */
export interface QPolicySpec extends QNetworkSpec {
  observationSpace: SpaceJSON;
  actionSpace: SpaceJSON;
}

/** The Q network that fits `env`'s spaces; DQN needs a Discrete action space. */
export function qNetworkSpecFor(
  env: VectorEnv,
  options: Omit<DQNRunnerOptions, "numEnvs" | "seed" | "index" | "nStep" | "gamma">,
): QPolicySpec {
  const space = env.singleActionSpace;
  if (!(space instanceof Discrete)) {
    throw new TypeError(`DQN needs a Discrete action space; this env's action space is ${space}`);
  }
  return {
    obsDim: env.obsDim,
    numActions: space.n,
    encoderHiddens: [...options.encoderHiddens],
    headHiddens: [...options.headHiddens],
    activation: options.activation,
    dueling: options.dueling,
    observationSpace: env.singleObservationSpace.toJSON(),
    actionSpace: space.toJSON(),
  };
}

export class DQNRunner {
  readonly spec: QPolicySpec;
  private readonly q: QInference;
  private readonly nStep: NStepAccumulator;
  private rng: Rng;
  private readonly obs: Float32Array;
  private readonly qValues: Float32Array;
  /** Class indices relative to the space's `start`, as the Q head numbers them. */
  private readonly actions: Int32Array;
  /** What the env receives: `start + action`. */
  private readonly envActions: Int32Array;
  private readonly actionStart: number;
  private needsReset = true;
  private weightsVersion = 0;
  private readonly episodes: EpisodeTracker;
  private evaluationEnv: VectorEnv | null = null;

  private constructor(
    private readonly env: VectorEnv,
    private readonly makeEnv: VectorEnvFactory,
    private readonly options: DQNRunnerOptions,
  ) {
    this.spec = qNetworkSpecFor(env, options);
    this.actionStart = (env.singleActionSpace as Discrete).start;
    this.q = new QInference(this.spec);
    const n = env.numEnvs;
    this.nStep = new NStepAccumulator({
      numEnvs: n,
      obsDim: env.obsDim,
      nStep: options.nStep,
      gamma: options.gamma,
    });
    this.rng = createRng(`${options.seed}-dqn-runner-${options.index}`);
    this.obs = new Float32Array(n * env.obsDim);
    this.qValues = new Float32Array(n * this.spec.numActions);
    this.actions = new Int32Array(n);
    this.envActions = new Int32Array(n);
    this.episodes = new EpisodeTracker(n);
  }

  static async create(makeEnv: VectorEnvFactory, options: DQNRunnerOptions): Promise<DQNRunner> {
    return new DQNRunner(await makeEnv(options.numEnvs), makeEnv, options);
  }

  /** Runner `index` of a group, as the run config describes it. */
  static fromConfig(
    config: DQNRunnerConfig,
    index: number,
    { shared = false, makeEnv = vectorEnvFactory(config.env) } = {},
  ): Promise<DQNRunner> {
    const { dqn, model } = config;
    return DQNRunner.create(makeEnv, {
      numEnvs: config.env_runners.num_envs_per_env_runner,
      seed: config.seed,
      index,
      nStep: dqn.n_step,
      gamma: dqn.gamma,
      encoderHiddens: model.hiddens,
      headHiddens: dqn.hiddens,
      activation: model.activation,
      dueling: dqn.dueling,
      shared,
    });
  }

  get numEnvs(): number {
    return this.env.numEnvs;
  }

  setWeights(flat: Float32Array, version: number): void {
    this.q.setWeights(flat);
    this.weightsVersion = version;
  }

  /**
   * Steps every sub-env `numSteps` times, sub-env i exploring with `epsilons[i]`, and returns the
   * n-step transitions completed meanwhile (windows still open carry over to the next call).
   */
  async sample(numSteps: number, epsilons: ArrayLike<number>): Promise<SampledTransitions> {
    const { numEnvs: n, obsDim } = this.env;
    if (epsilons.length !== n)
      throw new RangeError(`DQNRunner.sample: ${epsilons.length} epsilons for ${n} envs`);
    // Each step completes at most one transition per env, plus the windows open before this call.
    const out: SampledTransitions = {
      ...allocateTransitions((numSteps + this.options.nStep) * n, obsDim, this.options.shared),
      numEnvSteps: numSteps * n,
      weightsVersion: this.weightsVersion,
    };
    if (this.needsReset) {
      const { observations } = await this.env.reset({ seed: this.options.seed + this.options.index * n });
      this.obs.set(observations);
      this.nStep.clear();
      this.needsReset = false;
    }
    for (let t = 0; t < numSteps; t++) {
      this.act(this.obs, epsilons);
      const result = await this.env.step(this.envActions);
      const done = this.nStep.add(this.obs, this.actions, result);
      appendTransitions(out, done, obsDim);
      this.episodes.record(result.rewards, result.terminated, result.truncated, result.infos);
      this.obs.set(result.observations);
    }
    return out;
  }

  /** Epsilon-greedy actions for the current observations; Q values are computed only if some env needs them. */
  private act(obs: Float32Array, epsilons: ArrayLike<number>): void {
    const n = this.env.numEnvs;
    const numActions = this.spec.numActions;
    let anyGreedy = false;
    for (let i = 0; i < n; i++) {
      const explore = epsilons[i] > 0 && this.rng() < epsilons[i];
      this.actions[i] = explore ? Math.floor(this.rng() * numActions) : -1;
      anyGreedy ||= !explore;
    }
    if (anyGreedy) this.q.qValues(obs, n, this.qValues);
    for (let i = 0; i < n; i++) {
      if (this.actions[i] < 0) this.actions[i] = argmax(this.qValues, i * numActions, numActions);
      this.envActions[i] = this.actions[i] + this.actionStart;
    }
  }

  /** Episodes completed since the last call. */
  getMetrics(): EpisodeMetrics {
    return this.episodes.drain();
  }

  /** Greedy-policy episodes on this runner's own env copies (see `evaluateEpisodes`). */
  async evaluate(numEpisodes: number): Promise<EpisodeMetrics> {
    this.evaluationEnv ??= await this.makeEnv(this.env.numEnvs);
    const n = this.evaluationEnv.numEnvs;
    const greedy = new Float64Array(n);
    return evaluateEpisodes(
      this.evaluationEnv,
      numEpisodes,
      this.options.seed + this.options.index * n,
      (obs) => {
        this.act(obs, greedy);
        return this.envActions;
      },
    );
  }

  /** Exploration RNG state (checkpoints); the envs restart from a reset after a restore. */
  getState(): { rng: object } {
    return { rng: this.rng.state() };
  }

  setState(state: { rng: object }): void {
    this.rng = createRng(undefined, state.rng);
    this.needsReset = true;
    this.episodes.resetInProgress();
  }

  async stop(): Promise<void> {
    await this.env.close();
    await this.evaluationEnv?.close();
  }
}

function argmax(values: Float32Array, offset: number, length: number): number {
  let best = 0;
  for (let k = 1; k < length; k++) if (values[offset + k] > values[offset + best]) best = k;
  return best;
}

/** Appends the first `from.count` rows of `from` to `to`. */
function appendTransitions(to: TransitionBatch, from: TransitionBatch, obsDim: number): void {
  const at = to.count;
  const rows = from.count;
  to.obs.set(from.obs.subarray(0, rows * obsDim), at * obsDim);
  to.nextObs.set(from.nextObs.subarray(0, rows * obsDim), at * obsDim);
  to.actions.set(from.actions.subarray(0, rows), at);
  to.rewards.set(from.rewards.subarray(0, rows), at);
  to.discounts.set(from.discounts.subarray(0, rows), at);
  to.terminated.set(from.terminated.subarray(0, rows), at);
  to.count += rows;
}
