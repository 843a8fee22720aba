/**
 * Loading an exported policy folder in Node: the files are read from disk (tfjs's `file://` loader
 * needs tfjs-node, which rlts does not require).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { loadLayersModel } from "../scheduler/checkpoint.js";
import { type GreedyPolicy, loadPolicy, POLICY_FILES } from "./policy.js";

/** Loads the policy in folder `dir` (`model.json`, `weights.bin`, `policy.json`). */
export function loadPolicyFromDir(dir: string): Promise<GreedyPolicy> {
  return loadPolicy({
    name: path.resolve(dir),
    model: () => loadLayersModel(dir),
    metadata: async () => JSON.parse(await readFile(path.join(dir, POLICY_FILES.metadata), "utf8")),
  });
}
