import { z } from "zod";
import { runConfigSchemaFor } from "../../config/schema.js";
import { scheduleSchema } from "../../utils/schedule.js";

/**
 * A2C's hyper-parameters, under RLlib's names. Defaults follow Stable-Baselines3's A2C (lr 7e-4, 5 steps
 * per env per update, GAE lambda 1 (plain n-step returns), value coefficient 0.5, global grad-norm 0.5,
 * no advantage normalisation), with Adam as RLlib's A2C uses it where SB3 defaults to RMSprop.
 */
export const a2cConfigSchema = z
  .object({
    /** Learning rate, or a schedule `[[timestep, lr], ...]`. */
    lr: scheduleSchema.default(7e-4),
    gamma: z.number().min(0).max(1).default(0.99),
    /** GAE lambda; 1 gives the n-step returns of the original A2C. */
    lambda: z.number().min(0).max(1).default(1.0),
    vf_loss_coeff: z.number().min(0).default(0.5),
    entropy_coeff: scheduleSchema.default(0),
    /** Env steps per update, over all env runners and envs (SB3: n_steps x n_envs = 5 x 8). */
    train_batch_size: z.number().int().positive().default(40),
    /** Global gradient-norm clip; `null` turns it off. */
    grad_clip: z.number().positive().nullable().default(0.5),
    normalize_advantages: z.boolean().default(false),
    adam_epsilon: z.number().positive().default(1e-5),
  })
  .strict();

export type A2CConfig = z.infer<typeof a2cConfigSchema>;

/** An A2C run config: the common sections and `a2c:`. */
export const a2cRunConfigSchema = runConfigSchemaFor("A2C", "a2c", a2cConfigSchema);
export type A2CRunConfig = z.infer<typeof a2cRunConfigSchema>;
export type A2CRunConfigInput = z.input<typeof a2cRunConfigSchema>;
