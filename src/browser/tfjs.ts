/**
 * What the browser bundle gets for `@tensorflow/tfjs` (scripts/build-browser.mjs aliases the import to
 * this file): the core, the layers API and the cpu backend. A greedy policy is one forward pass of a
 * small MLP per step, where the cpu backend beats webgl (no GPU upload and readback) and computes the same
 * float32 numbers as tfjs in Node; leaving out webgl, the converter and tf.data shrinks the bundle by ~40%.
 */
import "@tensorflow/tfjs-backend-cpu";

export * from "@tensorflow/tfjs-core";
export * from "@tensorflow/tfjs-layers";
