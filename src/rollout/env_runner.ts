/**
 * The env runner (RLlib's SingleAgentEnvRunner): a vector env plus its RLModule's inference kernel,
 * stepping all sub-envs with one batched forward pass per vector step. It owns stepping, same-step
 * autoreset (the vector env's), episode tracking, the action generator and its state. The algorithm says
 * how to act (exploring, with per-env epsilons for Q modules, or greedy for evaluation) and what to write:
 * on-policy fragments (`collect: fragments`) or n-step transitions for replay (`collect: transitions`).
 *
 * It is built from plain data (its config slice and the module request), so the same class runs in the
 * main thread or inside a worker thread.
 */
import { allocateFragment, type Fragment, type ObsDtype } from "../buffers/fragment.js";
import { NStepAccumulator } from "../buffers/nstep.js";
import { allocateTransitions, copyTransitions, type TransitionBatch } from "../buffers/replay.js";
import type { EnvConfig, EnvRunnersConfig, ModelConfig } from "../config/schema.js";
import { makeVectorEnvFrom } from "../envs/make.js";
import { actionClipBounds, actionStarts } from "../envs/spaces.js";
import type { VectorEnv, VectorStepResult } from "../envs/types.js";
import {
  integerActions,
  type ModuleRequest,
  type ModuleSpec,
  moduleSpecFor,
  weightsSize,
} from "../models/catalog.js";
import { readyInferenceBackend } from "../models/conv.js";
import { type ActOutputs, ModuleInference } from "../models/inference.js";
import { type EpisodeMetrics, EpisodeTracker, evaluateEpisodes } from "./episodes.js";
import { MeanStdFilter, RewardNormalizer, type RunnerFilterStates } from "./observation_filter.js";

export type { EpisodeMetrics } from "./episodes.js";

/** What a runner writes: on-policy fragments, or n-step transitions for a replay buffer. */
export type CollectSpec = { kind: "fragments" } | { kind: "transitions"; nStep: number };

/** What one `sample()` call of a transitions runner hands the replay buffer. */
export interface SampledTransitions extends TransitionBatch {
  /** Env steps taken (vector steps x envs); the n-step windows make `count` differ from it. */
  numEnvSteps: number;
  /** The weights version that chose the actions. */
  weightsVersion: number;
}

/** The sample type a collect spec produces. */
export type SampleOf<C extends CollectSpec> = C extends { kind: "fragments" } ? Fragment : SampledTransitions;

/** Everything an env runner is built from: plain data, so it crosses into a worker thread. */
export interface EnvRunnerConfig<C extends CollectSpec = CollectSpec> {
  /** Sub-env i of runner k is reset with seed `seed + k * numEnvs + i`; action sampling is seeded too. */
  seed: number;
  env: EnvConfig;
  env_runners: EnvRunnersConfig;
  /** The RLModule the runner acts with, as the algorithm asks the catalog for it. */
  module: ModuleRequest;
  /** The algorithm's discount: n-step returns, and the return whose spread `normalize_rewards` divides by. */
  gamma: number;
  collect: C;
  /** Vector steps per fragment. */
  numSteps: number;
}

/**
 * How runners store observations in fragments and transitions (and the replay buffer, to match): uint8
 * for a uint8 or bool Box seen unfiltered (image frames, a quarter of float32's memory; the module scales them),
 * float32 otherwise (a MeanStdFilter's output is fractional).
 */
export function observationDtype(
  spec: ModuleSpec,
  envRunners: Pick<EnvRunnersConfig, "observation_filter">,
): ObsDtype {
  const space = spec.observationSpace;
  const uint8 = space.type === "Box" && (space.dtype === "uint8" || space.dtype === "bool");
  return uint8 && envRunners.observation_filter !== "MeanStdFilter" ? "uint8" : "float32";
}

/**
 * An on-policy runner config: actor-critic fragments of `trainBatchSize` steps split evenly over all envs
 * of all runners (rounded up, so an iteration samples at least that many), unless
 * `rollout_fragment_length` is set.
 */
export function onPolicyRunnerConfig(
  config: Pick<EnvRunnerConfig, "seed" | "env" | "env_runners"> & { model: ModelConfig },
  section: { train_batch_size: number; gamma: number },
): EnvRunnerConfig<{ kind: "fragments" }> {
  const trainBatchSize = section.train_batch_size;
  const { rollout_fragment_length, num_env_runners, num_envs_per_env_runner } = config.env_runners;
  const envs = Math.max(1, num_env_runners) * num_envs_per_env_runner;
  return {
    seed: config.seed,
    env: config.env,
    env_runners: config.env_runners,
    module: { type: "actor_critic", model: config.model },
    gamma: section.gamma,
    collect: { kind: "fragments" },
    numSteps: rollout_fragment_length === "auto" ? Math.ceil(trainBatchSize / envs) : rollout_fragment_length,
  };
}

/** The runner state a checkpoint keeps: the generators (envs restart from a reset on restore). */
export interface EnvRunnerState {
  rng: object;
  evaluationRng: object;
}

/** One vector step's worth of what the runner saw: the observations acted on, the act outputs, the result. */
interface StepWriter<Sample> {
  begin(numSteps: number, weightsVersion: number): void;
  /** Where `act` writes step `t`'s outputs. */
  outputsFor(t: number): ActOutputs;
  write(t: number, obs: Float32Array, act: ActOutputs, result: VectorStepResult): void;
  finish(lastObs: Float32Array): Sample;
  /** The envs were reset outside of an episode end: open windows are void. */
  clear(): void;
}

/** On-policy fragments, with V(final observation) at truncations and V(last observation) to bootstrap from. */
class FragmentWriter implements StepWriter<Fragment> {
  private fragment: Fragment | undefined;
  private readonly finalValues: Float32Array;

  constructor(
    private readonly spec: ModuleSpec,
    private readonly numEnvs: number,
    private readonly policy: ModuleInference,
    private readonly obsDtype: ObsDtype,
  ) {
    this.finalValues = new Float32Array(numEnvs);
  }

  begin(numSteps: number, weightsVersion: number): void {
    const { obsDim, actionDim } = this.spec;
    const { numEnvs, obsDtype } = this;
    this.fragment = allocateFragment({ numSteps, numEnvs, obsDim, actionDim, obsDtype });
    this.fragment.weightsVersion = weightsVersion;
  }

  /** The fragment's rows for step `t`, which `act` writes straight into. */
  outputsFor(t: number): ActOutputs {
    const fragment = this.fragment!;
    const n = this.numEnvs;
    const { actionDim } = this.spec;
    return {
      actions: fragment.actions.subarray(t * n * actionDim, (t + 1) * n * actionDim),
      logp: fragment.logp.subarray(t * n, (t + 1) * n),
      values: fragment.values.subarray(t * n, (t + 1) * n),
    };
  }

  write(t: number, obs: Float32Array, _act: ActOutputs, result: VectorStepResult): void {
    const fragment = this.fragment!;
    const n = this.numEnvs;
    const rows = t * n;
    fragment.obs.set(obs, rows * this.spec.obsDim);
    let anyTruncated = false;
    for (let i = 0; i < n; i++) {
      const row = rows + i;
      fragment.rewards[row] = result.rewards[i];
      fragment.terminated[row] = result.terminated[i];
      fragment.truncated[row] = result.truncated[i];
      if (result.truncated[i] && !result.terminated[i]) anyTruncated = true;
    }
    if (anyTruncated) {
      // One batched pass over all final observations; only the truncated rows are read.
      this.policy.values(result.finalObservations, n, this.finalValues);
      for (let i = 0; i < n; i++) {
        if (result.truncated[i] && !result.terminated[i])
          fragment.bootstrapValues[rows + i] = this.finalValues[i];
      }
    }
  }

  finish(lastObs: Float32Array): Fragment {
    const fragment = this.fragment!;
    fragment.lastObs.set(lastObs);
    this.policy.values(lastObs, this.numEnvs, fragment.lastValues);
    this.fragment = undefined;
    return fragment;
  }

  clear(): void {}
}

/** n-step transitions (windows still open carry over to the next call). */
class TransitionWriter implements StepWriter<SampledTransitions> {
  private readonly nStep: NStepAccumulator;
  private out: SampledTransitions | undefined;
  /** Each step's act outputs, before the n-step windows take them. */
  private readonly act: ActOutputs;

  constructor(
    private readonly spec: ModuleSpec,
    private readonly numEnvs: number,
    collect: { nStep: number; gamma: number },
    private readonly shared: boolean,
    private readonly obsDtype: ObsDtype,
  ) {
    this.nStep = new NStepAccumulator({
      numEnvs,
      obsDim: spec.obsDim,
      actionDim: spec.actionDim,
      ...collect,
    });
    this.act = {
      actions: new Float32Array(numEnvs * spec.actionDim),
      logp: new Float32Array(numEnvs),
      values: new Float32Array(numEnvs),
    };
  }

  outputsFor(): ActOutputs {
    return this.act;
  }

  begin(numSteps: number, weightsVersion: number): void {
    const { obsDim, actionDim } = this.spec;
    // Each step completes at most one transition per env, plus the windows open before this call.
    const rows = (numSteps + this.nStep.nStep) * this.numEnvs;
    this.out = {
      ...allocateTransitions(rows, obsDim, actionDim, this.shared, this.obsDtype),
      numEnvSteps: numSteps * this.numEnvs,
      weightsVersion,
    };
  }

  write(_t: number, obs: Float32Array, act: ActOutputs, result: VectorStepResult): void {
    const out = this.out!;
    const done = this.nStep.add(obs, act.actions, result);
    copyTransitions(done, 0, out, out.count, done.count, this.spec.obsDim, this.spec.actionDim);
    out.count += done.count;
  }

  finish(): SampledTransitions {
    const out = this.out!;
    this.out = undefined;
    return out;
  }

  clear(): void {
    this.nStep.clear();
  }
}

export class EnvRunner<C extends CollectSpec = CollectSpec> {
  readonly spec: ModuleSpec;
  private readonly policy: ModuleInference;
  private readonly evaluationPolicy: ModuleInference;
  private readonly writer: StepWriter<SampleOf<C>>;
  /** `clip_actions`: each action number's bounds (a Box's, or a Tuple's or Dict's Box parts'); null: no clipping. */
  private readonly actionBounds: { low: Float64Array; high: Float64Array } | null;
  /**
   * What the env receives: int32 class indices (plus the space's start), or float32 actions (clipped when
   * configured; a Tuple's or Dict's parts side by side, whole numbers plus their starts in integer parts).
   */
  private readonly envActions: Float32Array | Int32Array;
  /** Each action number's offset to the env's value (Discrete's start, MultiDiscrete's per entry); null: all 0. */
  private readonly actionStarts: Int32Array | null;
  private readonly obs: Float32Array;
  /** The newest weights, for the evaluation policy. */
  private readonly weights: Float32Array;
  private weightsVersion = 0;
  /** Vector steps this runner has taken (error messages name the step). */
  private numVectorSteps = 0;
  private needsReset = true;
  private readonly episodes: EpisodeTracker;
  private evaluationEnv: VectorEnv | null = null;
  /** `observation_filter: MeanStdFilter`; null without a filter. */
  private readonly filter: MeanStdFilter | null;
  /** `normalize_rewards`: the rewards the learner sees are scaled (episode returns stay raw). */
  private readonly rewardNormalizer: RewardNormalizer | null;

  private constructor(
    private readonly env: VectorEnv,
    private readonly config: EnvRunnerConfig<C>,
    /** This runner's index k in its group (0 for a local runner). */
    private readonly index: number,
    shared: boolean,
  ) {
    this.spec = moduleSpecFor(env.singleObservationSpace, env.singleActionSpace, config.module);
    this.policy = new ModuleInference(this.spec, `${config.seed}-runner-${index}`);
    this.evaluationPolicy = new ModuleInference(this.spec, `${config.seed}-evaluation-${index}`);
    this.weights = new Float32Array(weightsSize(this.spec));
    const n = env.numEnvs;
    const collect: CollectSpec = config.collect;
    const obsDtype = observationDtype(this.spec, config.env_runners);
    this.writer = (collect.kind === "fragments"
      ? new FragmentWriter(this.spec, n, this.policy, obsDtype)
      : new TransitionWriter(
          this.spec,
          n,
          { nStep: collect.nStep, gamma: config.gamma },
          shared,
          obsDtype,
        )) as unknown as StepWriter<SampleOf<C>>;
    const space = env.singleActionSpace;
    this.actionBounds = config.env.clip_actions ? actionClipBounds(space) : null;
    this.envActions = integerActions(this.spec.head)
      ? new Int32Array(n * this.spec.actionDim)
      : new Float32Array(n * this.spec.actionDim);
    const starts = actionStarts(space);
    this.actionStarts = starts.some((start) => start !== 0) ? starts : null;
    this.obs = new Float32Array(n * env.obsDim);
    this.episodes = new EpisodeTracker(n);
    this.filter =
      config.env_runners.observation_filter === "MeanStdFilter" ? new MeanStdFilter(env.obsDim) : null;
    if (this.filter && this.spec.encoder && this.spec.encoder.inputScale !== 1) {
      throw new RangeError(
        `env_runners.observation_filter: MeanStdFilter on uint8 frames (${env.singleObservationSpace}): the CNN scales them by 1/255 itself; use NoFilter`,
      );
    }
    this.rewardNormalizer = config.env_runners.normalize_rewards
      ? new RewardNormalizer(n, config.gamma)
      : null;
  }

  /**
   * Runner `index` of a group. `shared`: transitions in SharedArrayBuffers (a runner in a worker thread;
   * fragments always are).
   */
  static async create<C extends CollectSpec>(
    config: EnvRunnerConfig<C>,
    index: number,
    { shared = false } = {},
  ): Promise<EnvRunner<C>> {
    const env = await makeVectorEnvFrom(config.env, config.env_runners.num_envs_per_env_runner);
    const runner = new EnvRunner(env, config, index, shared);
    if (runner.spec.encoder) await readyInferenceBackend();
    return runner;
  }

  get numEnvs(): number {
    return this.env.numEnvs;
  }

  setWeights(flat: Float32Array, version: number): void {
    this.policy.setWeights(flat);
    this.weights.set(flat);
    this.weightsVersion = version;
  }

  /** Steps every sub-env `config.numSteps` times exploring (sub-env i with `epsilons[i]` for Q modules). */
  async sample(epsilons?: ArrayLike<number>): Promise<SampleOf<C>> {
    const { numEnvs: n } = this.env;
    if (epsilons && epsilons.length !== n) {
      throw new RangeError(`env runner ${this.index}: ${epsilons.length} epsilons for ${n} envs`);
    }
    const numSteps = this.config.numSteps;
    if (this.needsReset) {
      const { observations } = await this.env.reset({ seed: this.config.seed + this.index * n });
      this.obs.set(observations);
      this.filter?.apply(this.obs, n, true);
      this.writer.clear();
      this.needsReset = false;
    }
    const writer = this.writer;
    writer.begin(numSteps, this.weightsVersion);
    const mode = { greedy: false as const, epsilons };
    for (let t = 0; t < numSteps; t++) {
      const out = writer.outputsFor(t);
      this.policy.act(this.obs, n, mode, out);
      const result = await this.env.step(this.toEnvActions(out.actions));
      this.checkFinite(result);
      if (this.filter) {
        // In place: the env rewrites its result arrays every step. Final observations are normalised
        // for the bootstrap values, but do not join the statistics (each episode's last one would count twice).
        this.filter.apply(result.observations, n, true);
        const dim = this.env.obsDim;
        for (let i = 0; i < n; i++) {
          if (!(result.terminated[i] || result.truncated[i])) continue;
          this.filter.apply(result.finalObservations.subarray(i * dim, (i + 1) * dim), 1, false);
        }
      }
      // Episodes count raw rewards; the writer gets the scaled ones when rewards are normalised.
      this.episodes.record(result.rewards, result.terminated, result.truncated, result.infos);
      this.rewardNormalizer?.apply(result.rewards, result.terminated);
      writer.write(t, this.obs, out, result);
      this.obs.set(result.observations);
    }
    return writer.finish(this.obs);
  }

  /** Episodes completed since the last call, and (with filters) the statistics gathered since then. */
  getMetrics(): EpisodeMetrics {
    const metrics = this.episodes.drain();
    if (!this.filter && !this.rewardNormalizer) return metrics;
    const deltas: RunnerFilterStates = {
      ...(this.filter ? { observations: this.filter.takeDelta() } : {}),
      ...(this.rewardNormalizer ? { returns: this.rewardNormalizer.takeDelta() } : {}),
    };
    return { ...metrics, filterDeltas: [deltas] };
  }

  /** The statistics merged over every runner, to normalise with from now on. */
  setFilters(states: RunnerFilterStates): void {
    if (states.observations) this.filter?.setGlobal(states.observations);
    if (states.returns) this.rewardNormalizer?.setGlobal(states.returns);
  }

  /** Greedy-policy episodes on this runner's own env copies (see `evaluateEpisodes`). */
  async evaluate(numEpisodes: number): Promise<EpisodeMetrics> {
    // Loaded here, not on every sync: off-policy runners sync after every few steps.
    this.evaluationPolicy.setWeights(this.weights);
    this.evaluationEnv ??= await makeVectorEnvFrom(this.config.env, this.env.numEnvs);
    const n = this.evaluationEnv.numEnvs;
    const out: ActOutputs = {
      actions: new Float32Array(n * this.spec.actionDim),
      logp: new Float32Array(n),
      values: new Float32Array(n),
    };
    const filtered = new Float32Array(n * this.env.obsDim);
    return evaluateEpisodes(this.evaluationEnv, numEpisodes, this.config.seed + this.index * n, (obs) => {
      filtered.set(obs);
      // The statistics stay as training left them: evaluation observes, it does not update.
      this.filter?.apply(filtered, n, false);
      this.evaluationPolicy.act(filtered, n, { greedy: true }, out);
      return this.toEnvActions(out.actions);
    });
  }

  getState(): EnvRunnerState {
    return { rng: this.policy.rngState(), evaluationRng: this.evaluationPolicy.rngState() };
  }

  /** Restores the generators; the envs start over from a reset, so no episode is half counted. */
  setState(state: EnvRunnerState): void {
    this.policy.setRngState(state.rng);
    this.evaluationPolicy.setRngState(state.evaluationRng);
    this.needsReset = true;
    this.episodes.resetInProgress();
  }

  async stop(): Promise<void> {
    this.policy.dispose();
    this.evaluationPolicy.dispose();
    await this.env.close();
    await this.evaluationEnv?.close();
  }

  /**
   * Every env's rewards and observations must be finite: one NaN reaches the loss, and from there every
   * weight. Checked here, where every env's steps pass (built-in, user and Gymnasium envs alike).
   */
  private checkFinite(result: VectorStepResult): void {
    this.numVectorSteps += 1;
    const { rewards, observations, finalObservations, terminated, truncated } = result;
    const obsDim = this.env.obsDim;
    for (let i = 0; i < rewards.length; i++) {
      let problem = Number.isFinite(rewards[i]) ? null : `reward ${rewards[i]}`;
      const ended = terminated[i] || truncated[i];
      for (let k = 0; problem === null && k < obsDim; k++) {
        const value = observations[i * obsDim + k];
        const final = ended ? finalObservations[i * obsDim + k] : 0;
        if (!Number.isFinite(value)) problem = `observation element ${k} = ${value}`;
        else if (!Number.isFinite(final)) problem = `final observation element ${k} = ${final}`;
      }
      if (problem !== null) {
        throw new RangeError(
          `env ${this.config.env.id} (env runner ${this.index}, sub-env ${i}, vector step ${this.numVectorSteps}): ` +
            `${problem}; rewards and observations must be finite numbers`,
        );
      }
    }
  }

  private toEnvActions(actions: Float32Array): Float32Array | Int32Array {
    const envActions = this.envActions;
    envActions.set(actions);
    const starts = this.actionStarts;
    if (starts) for (let i = 0; i < envActions.length; i++) envActions[i] += starts[i % starts.length];
    const bounds = this.actionBounds;
    if (bounds) {
      const { low, high } = bounds;
      const dim = low.length;
      for (let k = 0; k < envActions.length; k++) {
        const j = k % dim;
        envActions[k] = Math.min(high[j], Math.max(low[j], envActions[k]));
      }
    }
    return envActions;
  }
}
