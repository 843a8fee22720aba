/**
 * The env runner (RLlib's EnvRunner): a vector env plus the policy's inference kernel, sampling fragments
 * with one batched forward pass per vector step. It is built from plain data (config, weights), so the
 * same class runs in the main thread or inside a worker thread.
 */
import type { EnvConfig, ModelConfig, RunConfig } from "../config/schema.js";
import { makeVectorEnvFrom } from "../envs/make.js";
import { Box } from "../envs/spaces.js";
import type { VectorEnv } from "../envs/types.js";
import { type ActOutputs, PolicyInference } from "../models/inference.js";
import { type PolicySpec, policySpecFor } from "../models/network.js";
import { type EpisodeMetrics, EpisodeTracker, evaluateEpisodes } from "./episodes.js";
import { allocateFragment, type Fragment } from "./fragment.js";

export type { EpisodeMetrics } from "./episodes.js";

/** Makes a vector env of `numEnvs` copies of the configured env. */
export type VectorEnvFactory = (numEnvs: number) => VectorEnv | Promise<VectorEnv>;

export interface EnvRunnerOptions {
  model: ModelConfig;
  numEnvs: number;
  /** Sub-env i of runner k is reset with seed `seed + k * numEnvs + i`; action sampling is seeded too. */
  seed: number;
  /** This runner's index k among its group (0 for a local runner). */
  index: number;
  /** Box actions: clip to the bounds before they reach the env (the fragment keeps the raw sample). */
  clipActions: boolean;
}

/** The env factory the config describes: built-in envs in a SyncVectorEnv, or Gymnasium envs over ZeroMQ. */
export function vectorEnvFactory(env: EnvConfig): VectorEnvFactory {
  return (numEnvs) => makeVectorEnvFrom(env, numEnvs);
}

export class EnvRunner {
  readonly spec: PolicySpec;
  private readonly policy: PolicyInference;
  private readonly evaluationPolicy: PolicyInference;
  private readonly actionBox: Box | null;
  /** What the env receives: int32 class indices, or float32 actions (clipped when configured). */
  private readonly envActions: Float32Array | Int32Array;
  private readonly obs: Float32Array;
  private readonly finalValues: Float32Array;
  private weightsVersion = 0;
  private needsReset = true;
  private readonly episodes: EpisodeTracker;
  private evaluationEnv: VectorEnv | null = null;

  private constructor(
    private readonly env: VectorEnv,
    private readonly makeEnv: VectorEnvFactory,
    private readonly options: EnvRunnerOptions,
  ) {
    this.spec = policySpecFor(env.singleObservationSpace, env.singleActionSpace, options.model);
    this.policy = new PolicyInference(this.spec, `${options.seed}-runner-${options.index}`);
    this.evaluationPolicy = new PolicyInference(this.spec, `${options.seed}-evaluation-${options.index}`);
    const space = env.singleActionSpace;
    this.actionBox = space instanceof Box && options.clipActions ? space : null;
    const n = env.numEnvs;
    this.envActions =
      this.spec.action.kind === "categorical" ? new Int32Array(n) : new Float32Array(n * env.actionDim);
    this.obs = new Float32Array(n * env.obsDim);
    this.finalValues = new Float32Array(n);
    this.episodes = new EpisodeTracker(n);
  }

  static async create(makeEnv: VectorEnvFactory, options: EnvRunnerOptions): Promise<EnvRunner> {
    return new EnvRunner(await makeEnv(options.numEnvs), makeEnv, options);
  }

  /** Runner `index` of a group, as the run config describes it. */
  static fromConfig(config: RunConfig, index: number): Promise<EnvRunner> {
    return EnvRunner.create(vectorEnvFactory(config.env), {
      model: config.model,
      numEnvs: config.env_runners.num_envs_per_env_runner,
      seed: config.seed,
      index,
      clipActions: config.env.clip_actions,
    });
  }

  get numEnvs(): number {
    return this.env.numEnvs;
  }

  setWeights(flat: Float32Array, version: number): void {
    this.policy.setWeights(flat);
    this.evaluationPolicy.setWeights(flat);
    this.weightsVersion = version;
  }

  /** Steps every sub-env `numSteps` times with the sampling policy. */
  async sample(numSteps: number): Promise<Fragment> {
    const { numEnvs: n, obsDim } = this.env;
    const actionDim = this.policy.actionDim;
    const fragment = allocateFragment({ numSteps, numEnvs: n, obsDim, actionDim });
    fragment.weightsVersion = this.weightsVersion;
    if (this.needsReset) {
      const { observations } = await this.env.reset({ seed: this.options.seed + this.options.index * n });
      this.obs.set(observations);
      this.needsReset = false;
    }
    for (let t = 0; t < numSteps; t++) {
      const rows = t * n;
      fragment.obs.set(this.obs, rows * obsDim);
      const out: ActOutputs = {
        actions: fragment.actions.subarray(rows * actionDim, (rows + n) * actionDim),
        logp: fragment.logp.subarray(rows, rows + n),
        values: fragment.values.subarray(rows, rows + n),
      };
      this.policy.act(this.obs, n, false, out);
      const result = await this.env.step(this.toEnvActions(out.actions));
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
      this.episodes.record(result.rewards, result.terminated, result.truncated, result.infos);
      this.obs.set(result.observations);
    }
    fragment.lastObs.set(this.obs);
    this.policy.values(this.obs, n, fragment.lastValues);
    return fragment;
  }

  /** Episodes completed since the last call. */
  getMetrics(): EpisodeMetrics {
    return this.episodes.drain();
  }

  /** Greedy-policy episodes on this runner's own env copies (see `evaluateEpisodes`). */
  async evaluate(numEpisodes: number): Promise<EpisodeMetrics> {
    this.evaluationEnv ??= await this.makeEnv(this.env.numEnvs);
    const n = this.evaluationEnv.numEnvs;
    const out: ActOutputs = {
      actions: new Float32Array(n * this.policy.actionDim),
      logp: new Float32Array(n),
      values: new Float32Array(n),
    };
    return evaluateEpisodes(
      this.evaluationEnv,
      numEpisodes,
      this.options.seed + this.options.index * n,
      (obs) => {
        this.evaluationPolicy.act(obs, n, true, out);
        return this.toEnvActions(out.actions);
      },
    );
  }

  /** Sampling RNG state (checkpoints); the envs themselves restart from a reset on restore. */
  getState(): { rng: object; evaluationRng: object } {
    return { rng: this.policy.rngState(), evaluationRng: this.evaluationPolicy.rngState() };
  }

  setState(state: { rng: object; evaluationRng: object }): void {
    this.policy.setRngState(state.rng);
    this.evaluationPolicy.setRngState(state.evaluationRng);
  }

  async stop(): Promise<void> {
    await this.env.close();
    await this.evaluationEnv?.close();
  }

  private toEnvActions(actions: Float32Array): Float32Array | Int32Array {
    this.envActions.set(actions);
    const box = this.actionBox;
    if (box) {
      const dim = box.size;
      for (let k = 0; k < this.envActions.length; k++) {
        const j = k % dim;
        this.envActions[k] = Math.min(box.high[j], Math.max(box.low[j], this.envActions[k]));
      }
    }
    return this.envActions;
  }
}
