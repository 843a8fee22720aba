/**
 * Policy folders on disk in Node: the network in the tfjs layers format (`model.json` + `weights.bin`,
 * written and read here: tfjs's `file://` handlers need tfjs-node, which rlts does not require) and
 * `policy.json` beside it.
 */
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { writeFileDurably } from "../utils/files.js";
import { type GreedyPolicy, loadPolicy, POLICY_FILES, type PolicyMetadata } from "./policy.js";

/**
 * Serialises a tfjs LayersModel into `model.json` + `weights.bin` in `dir` (the tfjs layers format).
 * @public (test fixtures write policy folders of a given shape with it)
 */
export async function saveLayersModel(model: tf.LayersModel, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData
        ? tf.io.CompositeArrayBuffer.join(artifacts.weightData)
        : new ArrayBuffer(0);
      const modelJson = {
        format: "layers-model",
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: "rlts",
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [POLICY_FILES.weights], weights: artifacts.weightSpecs ?? [] }],
      };
      writeFileDurably(path.join(dir, POLICY_FILES.model), JSON.stringify(modelJson));
      writeFileDurably(path.join(dir, POLICY_FILES.weights), new Uint8Array(weightData));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
}

/** Loads a model written by `saveLayersModel` (Node needs no tfjs-node: the files are read here). */
export async function loadLayersModel(dir: string): Promise<tf.LayersModel> {
  const modelJson = JSON.parse(await readFile(path.join(dir, POLICY_FILES.model), "utf8"));
  const weights = await readFile(path.join(dir, POLICY_FILES.weights));
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength);
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest[0].weights,
      weightData,
    }),
  );
}

/** Writes a policy folder: the network and its `policy.json`. */
export async function savePolicy(
  dir: string,
  model: tf.LayersModel,
  metadata: PolicyMetadata,
): Promise<void> {
  await saveLayersModel(model, dir);
  writeFileDurably(path.join(dir, POLICY_FILES.metadata), JSON.stringify(metadata, null, 2));
}

/** Loads the policy in folder `dir` (`model.json`, `weights.bin`, `policy.json`). */
export function loadPolicyFromDir(dir: string): Promise<GreedyPolicy> {
  return loadPolicy({
    name: path.resolve(dir),
    model: () => loadLayersModel(dir),
    metadata: async () => JSON.parse(await readFile(path.join(dir, POLICY_FILES.metadata), "utf8")),
  });
}
