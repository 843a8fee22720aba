import type * as tf from "@tensorflow/tfjs";
import type { PolicyMetadata } from "../models/policy.js";

/**
 * What the scheduler needs from an algorithm (RLlib's `Algorithm`): one training iteration at a time,
 * evaluation, its policy for export, and its whole state as plain data (typed arrays allowed) for
 * checkpoints.
 */
export interface Algorithm {
  /** The tfjs backend the learner runs on. */
  readonly backend: string;
  /** One iteration: sample, learn, broadcast weights. Returns RLlib-named metrics. */
  train(): Promise<Record<string, number>>;
  /** Episodes with the greedy policy; returns `evaluation/...` metrics. */
  evaluate(episodes: number): Promise<Record<string, number>>;
  getState(): AlgorithmState | Promise<AlgorithmState>;
  setState(state: AlgorithmState): Promise<void>;
  /** The greedy policy's network (observation in; logits, Gaussian mean or Q-values out), saved in the tfjs layers format. */
  readonly policyModel: tf.LayersModel;
  /** What `policyModel`'s input and output mean: `policy.json` beside it. */
  policyMetadata(): PolicyMetadata;
  /** Stops rollout workers and remote envs and frees tensors. */
  stop(): Promise<void>;
}

/** Plain data: numbers, strings, booleans, typed arrays, arrays and objects of them. */
export type AlgorithmState = Record<string, unknown>;
