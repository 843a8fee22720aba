import type { AlgorithmDefinition } from "../registry.js";
import { ppoRunConfigSchema } from "./config.js";
import { PPO } from "./ppo.js";

export const ppo = {
  name: "PPO",
  runConfigSchema: ppoRunConfigSchema,
  create: (config) => PPO.create(config),
} satisfies AlgorithmDefinition<typeof ppoRunConfigSchema>;
