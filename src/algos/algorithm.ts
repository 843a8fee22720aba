import type * as tf from "@tensorflow/tfjs";

/**
 * What the scheduler needs from an algorithm (RLlib's `Algorithm`): one training iteration at a time,
 * evaluation, and its whole state as plain data (typed arrays allowed) for checkpoints.
 */
export interface Algorithm {
  /** One iteration: sample, learn, broadcast weights. Returns RLlib-named metrics. */
  train(): Promise<Record<string, number>>;
  /** Episodes with the greedy policy; returns `evaluation/...` metrics. */
  evaluate(episodes: number): Promise<Record<string, number>>;
  getState(): Promise<AlgorithmState>;
  setState(state: AlgorithmState): Promise<void>;
  /** The policy network, saved in the tfjs layers format with every checkpoint. */
  readonly policyModel: tf.LayersModel;
  /** Stops rollout workers and remote envs and frees tensors. */
  stop(): Promise<void>;
}

/** Plain data: numbers, strings, booleans, typed arrays, arrays and objects of them. */
export type AlgorithmState = Record<string, unknown>;
