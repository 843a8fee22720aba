/**
 * `rlts export`: copies a checkpoint's policy (`<checkpoint>/model/`: model.json, weights.bin,
 * policy.json) into a folder of its own, for a web page or another program, and checks that the copy
 * loads and acts.
 */
import { copyFile, mkdir, stat } from "node:fs/promises";
import path from "node:path";
import { verifyCheckpoint } from "../algos/checkpoint.js";
import { POLICY_FILES, type PolicyMetadata } from "../models/policy.js";
import { loadPolicyFromDir } from "../models/policy_node.js";

export interface ExportResult {
  checkpointDir: string;
  outDir: string;
  metadata: PolicyMetadata;
}

/**
 * Exports the policy of a checkpoint folder (`<run>/checkpoint_NNNNNN/`), or of a run folder's newest
 * checkpoint, into `outDir` (created if needed; files of the same names are replaced).
 */
export async function exportPolicy(checkpointOrRunDir: string, outDir: string): Promise<ExportResult> {
  const checkpointDir = await verifyCheckpoint(checkpointOrRunDir);
  const modelDir = path.join(checkpointDir, "model");
  const files = [POLICY_FILES.model, POLICY_FILES.weights, POLICY_FILES.metadata];
  for (const name of files) {
    if (!(await stat(path.join(modelDir, name)).catch(() => null))?.isFile()) {
      throw new Error(
        `export: ${modelDir} has no ${name}; the checkpoint holds no exportable policy (checkpoints written before policy export existed lack policy.json)`,
      );
    }
  }
  await mkdir(outDir, { recursive: true });
  for (const name of files) await copyFile(path.join(modelDir, name), path.join(outDir, name));

  // Validate the copy, not the source: what a page will fetch must load and produce an action.
  const policy = await loadPolicyFromDir(outDir);
  try {
    policy.act(new Float32Array(policy.obsDim));
    return { checkpointDir, outDir: path.resolve(outDir), metadata: policy.metadata };
  } finally {
    policy.dispose();
  }
}
