import type { AlgorithmDefinition } from "../registry.js";
import { A2C } from "./a2c.js";
import { a2cRunConfigSchema } from "./config.js";

export const a2c = {
  name: "A2C",
  runConfigSchema: a2cRunConfigSchema,
  create: (config) => A2C.create(config),
} satisfies AlgorithmDefinition<typeof a2cRunConfigSchema>;
