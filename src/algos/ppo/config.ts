import { z } from "zod";
import { actorCriticFields, runConfigSchemaFor, trainingFields } from "../../config/schema.js";
import { scheduleSchema } from "../../utils/schedule.js";

/**
 * PPO's hyper-parameters, under RLlib's names so settings carry over. Defaults follow CleanRL's ppo.py
 * (clip 0.2, GAE lambda 0.95, Adam eps 1e-5, global grad-norm 0.5, advantage normalisation), which is
 * tuned for small control tasks; RLlib's own defaults are listed in ../shared/notes/ANCHORS.md.
 */
export const ppoConfigSchema = z
  .object({
    ...trainingFields({ lr: 3e-4, train_batch_size: 2048, grad_clip: 0.5, adam_epsilon: 1e-5 }),
    ...actorCriticFields({ lambda: 0.95, normalize_advantages: true }),
    /** The surrogate's clip range, or a schedule (SB3's rl-zoo anneals it: `[[0, 0.2], [T, 0]]`). */
    clip_param: scheduleSchema.default(0.2),
    /**
     * Value clipping as in the PPO2/CleanRL/SB3 implementations: the new value prediction is kept within
     * old value ± vf_clip_param. `null` turns it off. (RLlib instead clips the value loss itself.)
     */
    vf_clip_param: z.number().positive().nullable().default(null),
    minibatch_size: z.number().int().positive().default(64),
    num_epochs: z.number().int().positive().default(10),
    /** Stops the epochs of an iteration early once the approximate KL exceeds this (CleanRL `target_kl`). */
    kl_target: z.number().positive().nullable().default(null),
  })
  .strict()
  .refine((ppo) => ppo.minibatch_size <= ppo.train_batch_size, {
    path: ["minibatch_size"],
    message: "must be at most train_batch_size (a minibatch is drawn from one iteration's batch)",
  });

export type PPOConfig = z.infer<typeof ppoConfigSchema>;

/** A PPO run config: the common sections and `ppo:`. */
export const ppoRunConfigSchema = runConfigSchemaFor("PPO", "ppo", ppoConfigSchema);
export type PPORunConfig = z.infer<typeof ppoRunConfigSchema>;
/** What `PPO.create` accepts: defaults may be left out, `algo` too. */
export type PPORunConfigInput = z.input<typeof ppoRunConfigSchema>;
