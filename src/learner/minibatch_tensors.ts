import * as tf from "@tensorflow/tfjs";
import type { Minibatch } from "../buffers/train_batch.js";
import { integerActions, type ModuleHead } from "../models/catalog.js";

/** An on-policy minibatch on the backend. */
export interface MinibatchTensors {
  obs: tf.Tensor2D;
  /**
   * int32 `[n]` class indices for Discrete actions, int32 `[n, entries]` for MultiDiscrete (class indices
   * from 0) and MultiBinary, float32 `[n, dim]` for Box.
   */
  actions: tf.Tensor;
  logp: tf.Tensor1D;
  values: tf.Tensor1D;
  advantages: tf.Tensor1D;
  returns: tf.Tensor1D;
}

/**
 * The first `n` rows of `minibatch` as tensors, its actions as the distribution of `head` reads them.
 * Call inside `tf.tidy`.
 */
export function minibatchTensors(minibatch: Minibatch, n: number, head: ModuleHead): MinibatchTensors {
  const { obsDim, actionDim } = minibatch;
  const vector = (a: Float32Array) => tf.tensor1d(a.subarray(0, n));
  const rows = minibatch.actions.subarray(0, n * actionDim);
  let actions: tf.Tensor;
  if (head.kind === "categorical") actions = tf.tensor1d(Int32Array.from(rows), "int32");
  else if (integerActions(head)) actions = tf.tensor2d(Int32Array.from(rows), [n, actionDim], "int32");
  else actions = tf.tensor2d(rows, [n, actionDim]);
  return {
    obs: tf.tensor2d(minibatch.obs.subarray(0, n * obsDim), [n, obsDim]),
    actions,
    logp: vector(minibatch.logp),
    values: vector(minibatch.values),
    advantages: vector(minibatch.advantages),
    returns: vector(minibatch.returns),
  };
}
