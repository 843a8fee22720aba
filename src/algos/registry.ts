import type { z } from "zod";
import type { Algorithm } from "./algorithm.js";

/**
 * How an algorithm plugs in: its name (the config's `algo`), its run config schema (the common sections
 * plus its own, `runConfigSchemaFor`) and a factory. `algos/index.ts` lists every definition.
 */
export interface AlgorithmDefinition<Schema extends z.ZodType> {
  name: string;
  runConfigSchema: Schema;
  create(config: z.infer<Schema>): Promise<Algorithm>;
}
