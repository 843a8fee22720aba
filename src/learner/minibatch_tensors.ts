import * as tf from "@tensorflow/tfjs";
import type { Minibatch } from "../buffers/train_batch.js";

/** An on-policy minibatch on the backend. */
export interface MinibatchTensors {
  obs: tf.Tensor2D;
  /** int32 `[n]` class indices for Discrete actions, float32 `[n, dim]` for Box. */
  actions: tf.Tensor;
  logp: tf.Tensor1D;
  values: tf.Tensor1D;
  advantages: tf.Tensor1D;
  returns: tf.Tensor1D;
}

/** The first `n` rows of `minibatch` as tensors; Discrete actions become int32 class indices. Call inside `tf.tidy`. */
export function minibatchTensors(minibatch: Minibatch, n: number, categorical: boolean): MinibatchTensors {
  const { obsDim, actionDim } = minibatch;
  const vector = (a: Float32Array) => tf.tensor1d(a.subarray(0, n));
  return {
    obs: tf.tensor2d(minibatch.obs.subarray(0, n * obsDim), [n, obsDim]),
    actions: categorical
      ? tf.tensor1d(Int32Array.from(minibatch.actions.subarray(0, n)), "int32")
      : tf.tensor2d(minibatch.actions.subarray(0, n * actionDim), [n, actionDim]),
    logp: vector(minibatch.logp),
    values: vector(minibatch.values),
    advantages: vector(minibatch.advantages),
    returns: vector(minibatch.returns),
  };
}
