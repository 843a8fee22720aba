/**
 * The learner (RLlib's Learner): one algorithm's loss and optimizer over its RLModule, built from plain
 * data so that the learner actor can build it in the main thread or in a thread of its own. Each
 * algorithm's learner module exports `createLearner(spec)`; lower layers never import it, the learner
 * actor loads it by URL.
 */
import * as tf from "@tensorflow/tfjs";
import { initialWeights, type ModuleSpec } from "../models/catalog.js";
import type { TrainableModule } from "../models/rl_module.js";
import { Adam, BackendAdam, type FlatOptimizer, type OptimizerState } from "./adam.js";

/** What a checkpoint keeps of a learner: plain data, typed arrays allowed. */
export type LearnerState = Record<string, unknown>;

export interface Learner<Batch, Result> {
  /** One update on `batch` (PPO: an iteration's epochs of minibatches; DQN: one gradient step). */
  update(batch: Batch): Result;
  /**
   * The module's weights in the catalog's flat layout (what the runners act with): a view the next update
   * changes, so the actor copies it (into the object store) rather than keeping it.
   */
  getWeights(): Readonly<Float32Array>;
  getState(): LearnerState;
  setState(state: LearnerState): void;
  dispose(): void;
  /** Whether updates run the fused WebAssembly step (fused_mlp.ts), the one user of kernel threads. */
  readonly usesFusedStep?: boolean;
}

/** What a learner is built from (plain data, so a learner thread builds the same one). */
export interface LearnerSpec<Section> {
  module: ModuleSpec;
  /** The algorithm's own config section (`ppo:`, `dqn:`, ...). */
  config: Section;
  /** Seeds the initial weights: every learner of the same seed starts alike. */
  seed: number;
  /**
   * Adam's moments and the weights on the backend (`BackendAdam`) rather than on the host (`Adam`).
   * Default: on the backend for tfjs-node's native backends (CPU or GPU), where reading the gradient
   * back every step would cost more than the step; on the host for wasm and cpu, where it is faster.
   */
  optimizerOnBackend?: boolean;
  /**
   * `learner.fused`: `auto` (the default) lets an algorithm train a module the fused WebAssembly step
   * covers that way on the wasm and cpu backends (`fused_mlp.ts`); `off` keeps the tfjs path.
   */
  fused?: "auto" | "off";
}

/** The native tfjs-node backends (`tensorflow`, for both CPU and GPU builds), where BackendAdam pays. */
const NATIVE_BACKENDS = new Set(["tensorflow"]);

/** Where the learner actor finds an algorithm's learner: a module URL exporting `createLearner(spec)`. */
export interface LearnerSource<Spec> {
  module: string;
  /** Plain data, handed to `createLearner` (in a learner thread too). */
  spec: Spec;
}

/** What a learner module exports. */
export interface LearnerModule<Spec, Batch, Result> {
  createLearner(spec: Spec): Learner<Batch, Result>;
}

/**
 * Sums metrics over minibatches on the backend as one packed vector (one add per minibatch whatever the
 * number of metrics); `read()` fetches their means in one transfer. Every minibatch reports the same names.
 */
export class MetricsAccumulator {
  private names: readonly string[] = [];
  private sum: tf.Tensor1D | null = null;
  private count = 0;

  /** Metric `names[i]` is `values[i]`; takes ownership of `values`. */
  addPacked(names: readonly string[], values: tf.Tensor1D): void {
    if (this.sum === null) {
      this.names = names;
      this.sum = values;
    } else {
      if (names.join() !== this.names.join()) {
        throw new Error(`metrics: expected the names [${this.names}] of earlier minibatches, got [${names}]`);
      }
      const previous = this.sum;
      this.sum = tf.tidy(() => tf.add(previous, values) as tf.Tensor1D);
      tf.dispose([previous, values]);
    }
    this.count += 1;
  }

  /** Means since the last read, then starts over. */
  read(): Record<string, number> {
    if (this.sum === null) return {};
    const values = this.sum.dataSync();
    this.sum.dispose();
    const means = Object.fromEntries(this.names.map((n, i) => [n, values[i] / this.count]));
    this.sum = null;
    this.count = 0;
    return means;
  }
}

/** The optimizer settings every algorithm's section has (`trainingFields`). */
interface OptimizerSettings {
  adam_epsilon: number;
  grad_clip: number | null;
}

/**
 * A learner whose module trains with one `Adam`: it builds the module from the catalog's initial weights,
 * and the module's weights and the optimizer's moments are its checkpoint, plus whatever `getExtraState`
 * adds (a shuffle generator, a target network).
 */
export abstract class OptimizerLearner<
  Module extends TrainableModule,
  Section extends OptimizerSettings,
  Batch,
  Result,
> implements Learner<Batch, Result>
{
  protected readonly module: Module;
  protected readonly optimizer: FlatOptimizer;
  protected readonly config: Section;

  protected constructor(
    spec: LearnerSpec<Section>,
    ModuleClass: new (module: ModuleSpec, weights: Float32Array) => Module,
  ) {
    this.module = new ModuleClass(spec.module, initialWeights(spec.module, spec.seed));
    this.config = spec.config;
    const options = { adamEpsilon: spec.config.adam_epsilon, gradClip: spec.config.grad_clip };
    const onBackend = spec.optimizerOnBackend ?? NATIVE_BACKENDS.has(tf.getBackend());
    this.optimizer = onBackend ? new BackendAdam(this.module, options) : new Adam(this.module, options);
  }

  abstract update(batch: Batch): Result;

  getWeights(): Readonly<Float32Array> {
    return this.optimizer.weights;
  }

  getState(): LearnerState {
    this.syncHost();
    return {
      weights: this.optimizer.getFlatWeights(),
      optimizer: this.optimizer.getOptimizerState(),
      ...this.getExtraState(),
    };
  }

  setState(state: LearnerState): void {
    this.optimizer.setFlatWeights(state.weights as Float32Array);
    this.optimizer.setOptimizerState(state.optimizer as OptimizerState);
    this.setExtraState(state);
    this.hostStateChanged();
  }

  /** A learner whose fused kernel holds newer weights and moments copies them to the host here (a checkpoint). */
  protected syncHost(): void {}

  /** The host's state was replaced (a restore): a fused kernel loads it before its next step. */
  protected hostStateChanged(): void {}

  protected getExtraState(): LearnerState {
    return {};
  }

  protected setExtraState(_state: LearnerState): void {}

  /** The optimizer owns the module: disposing it frees both (BackendAdam's moments too). */
  dispose(): void {
    this.optimizer.dispose();
  }
}
