import type { AlgorithmDefinition } from "../registry.js";
import { dqnRunConfigSchema } from "./config.js";
import { DQN } from "./dqn.js";

export const dqn = {
  name: "DQN",
  runConfigSchema: dqnRunConfigSchema,
  create: (config) => DQN.create(config),
} satisfies AlgorithmDefinition<typeof dqnRunConfigSchema>;
