import { z } from "zod";
import { runConfigSchemaFor } from "../../config/schema.js";
import { scheduleSchema } from "../../utils/schedule.js";

/**
 * PPO's hyper-parameters, under RLlib's names so settings carry over. Defaults follow CleanRL's ppo.py
 * (clip 0.2, GAE lambda 0.95, Adam eps 1e-5, global grad-norm 0.5, advantage normalisation), which is
 * tuned for small control tasks; RLlib's own defaults are listed in ../shared/notes/ANCHORS.md.
 */
export const ppoConfigSchema = z
  .object({
    /** Learning rate, or a schedule `[[timestep, lr], ...]` (CleanRL's annealing: `[[0, 2.5e-4], [T, 0]]`). */
    lr: scheduleSchema.default(3e-4),
    gamma: z.number().min(0).max(1).default(0.99),
    /** GAE lambda (RLlib `lambda`, SB3 `gae_lambda`). */
    lambda: z.number().min(0).max(1).default(0.95),
    /** The surrogate's clip range, or a schedule (SB3's rl-zoo anneals it: `[[0, 0.2], [T, 0]]`). */
    clip_param: scheduleSchema.default(0.2),
    /**
     * Value clipping as in the PPO2/CleanRL/SB3 implementations: the new value prediction is kept within
     * old value ± vf_clip_param. `null` turns it off. (RLlib instead clips the value loss itself.)
     */
    vf_clip_param: z.number().positive().nullable().default(null),
    vf_loss_coeff: z.number().min(0).default(0.5),
    entropy_coeff: scheduleSchema.default(0),
    /** Env steps per training iteration, over all env runners and envs. */
    train_batch_size: z.number().int().positive().default(2048),
    minibatch_size: z.number().int().positive().default(64),
    num_epochs: z.number().int().positive().default(10),
    /** Global gradient-norm clip; `null` turns it off. */
    grad_clip: z.number().positive().nullable().default(0.5),
    normalize_advantages: z.boolean().default(true),
    /** Stops the epochs of an iteration early once the approximate KL exceeds this (CleanRL `target_kl`). */
    kl_target: z.number().positive().nullable().default(null),
    adam_epsilon: z.number().positive().default(1e-5),
  })
  .strict();

export type PPOConfig = z.infer<typeof ppoConfigSchema>;

/** A PPO run config: the common sections and `ppo:`. */
export const ppoRunConfigSchema = runConfigSchemaFor("PPO", "ppo", ppoConfigSchema);
export type PPORunConfig = z.infer<typeof ppoRunConfigSchema>;
/** What `PPO.create` accepts: defaults may be left out, `algo` too. */
export type PPORunConfigInput = z.input<typeof ppoRunConfigSchema>;
