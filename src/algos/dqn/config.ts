import { z } from "zod";
import { runConfigSchemaFor, trainingFields } from "../../config/schema.js";
import { scheduleSchema } from "../../utils/schedule.js";
import { offPolicyFields } from "../off_policy_config.js";

/**
 * DQN's hyper-parameters under RLlib's names and, where it has them, RLlib's defaults
 * (rllib/algorithms/dqn/dqn.py; see shared/notes/ANCHORS.md): Double DQN and dueling heads on, prioritized
 * replay of 50k transitions, target update every 500 sampled steps (a hard copy), 1000 steps before
 * learning starts, Huber loss, grad-norm clip 40. The encoder is the run config's `model` section;
 * `hiddens` here is the Q head on top of it.
 */
export const dqnConfigSchema = z
  .object({
    ...trainingFields({ lr: 5e-4, train_batch_size: 32, grad_clip: 40, adam_epsilon: 1e-8 }),
    ...offPolicyFields({
      replay: { type: "prioritized", capacity: 50_000 },
      learningStarts: 1000,
      targetNetworkUpdateFreq: 500,
      tau: 1.0,
    }),
    td_error_loss_fn: z.enum(["huber", "mse"]).default("huber"),
    /** Double DQN: the online network picks the next action, the target network values it. */
    double_q: z.boolean().default(true),
    /** Dueling heads: Q = V + A - mean(A), each stream with its own `hiddens`. */
    dueling: z.boolean().default(true),
    /** Hidden layers of the Q head (of each stream when dueling), after the `model` encoder. */
    hiddens: z.array(z.number().int().positive()).default([256]),
    /** Epsilon-greedy exploration: a constant or `[[timestep, epsilon], ...]`. */
    epsilon: scheduleSchema.default([
      [0, 1.0],
      [10_000, 0.05],
    ]),
    /**
     * Ape-X exploration: env i of N explores with the fixed epsilon 0.4^(1 + 7 i / (N - 1)) over all env
     * runners' envs, instead of the `epsilon` schedule.
     */
    per_worker_exploration: z.boolean().default(false),
  })
  .strict();

export type DQNConfig = z.infer<typeof dqnConfigSchema>;

/** A DQN run config: the common sections and `dqn:`. */
export const dqnRunConfigSchema = runConfigSchemaFor("DQN", "dqn", dqnConfigSchema);
export type DQNRunConfig = z.infer<typeof dqnRunConfigSchema>;
/** What `DQN.create` accepts: defaults may be left out, `algo` too. */
export type DQNRunConfigInput = z.input<typeof dqnRunConfigSchema>;
