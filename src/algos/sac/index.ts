import type { AlgorithmDefinition } from "../registry.js";
import { sacRunConfigSchema } from "./config.js";
import { SAC } from "./sac.js";

export const sac = {
  name: "SAC",
  runConfigSchema: sacRunConfigSchema,
  create: (config) => SAC.create(config),
} satisfies AlgorithmDefinition<typeof sacRunConfigSchema>;
