/**
 * The browser bundle's entry (`scripts/build-browser.mjs` bundles it into `dist-browser/rlts.js`): load an
 * exported policy, run it greedily, and step and draw the built-in envs in a web page, with no server.
 * Everything here must stay free of Node built-ins; the build fails if one sneaks in.
 */
import * as tf from "@tensorflow/tfjs";
import type { RgbArray } from "../envs/types.js";

export * from "../envs/classic/index.js";
export { envRegistration, listEnvs, makeEnv, registerEnv } from "../envs/registry.js";
export * from "../envs/spaces.js";
export type * from "../envs/types.js";
export { TimeLimit, Wrapper } from "../envs/wrappers.js";
export {
  GreedyPolicy,
  loadPolicy,
  type ObservationNormalization,
  POLICY_FILES,
  type PolicyActionHead,
  PolicyFormatError,
  type PolicyLoader,
  type PolicyMetadata,
  type PolicyPartHead,
  parsePolicyMetadata,
  urlPolicyLoader,
} from "../models/policy.js";
/** The bundled TensorFlow.js, e.g. for `tf.setBackend("cpu")`. */
export { tf };

/**
 * An env's `rgb_array` frame as RGBA pixels, the layout `new ImageData(data, width, height)` takes, so a
 * page can `ctx.putImageData` it onto a canvas.
 */
export function rgbaPixels(frame: RgbArray): { data: Uint8ClampedArray; width: number; height: number } {
  const { width, height, data: rgb } = frame;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let p = 0, q = 0; p < rgb.length; p += 3, q += 4) {
    data[q] = rgb[p];
    data[q + 1] = rgb[p + 1];
    data[q + 2] = rgb[p + 2];
    data[q + 3] = 255;
  }
  return { data, width, height };
}
