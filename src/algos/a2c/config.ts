import { z } from "zod";
import { actorCriticFields, runConfigSchemaFor, trainingFields } from "../../config/schema.js";

/**
 * A2C's hyper-parameters, under RLlib's names. Defaults follow Stable-Baselines3's A2C (lr 7e-4, 5 steps
 * per env per update, GAE lambda 1 (plain n-step returns), value coefficient 0.5, global grad-norm 0.5,
 * no advantage normalisation), with Adam as RLlib's A2C uses it where SB3 defaults to RMSprop.
 */
export const a2cConfigSchema = z
  .object({
    ...trainingFields({ lr: 7e-4, train_batch_size: 40, grad_clip: 0.5, adam_epsilon: 1e-5 }),
    ...actorCriticFields({ lambda: 1.0, normalize_advantages: false }),
  })
  .strict();

export type A2CConfig = z.infer<typeof a2cConfigSchema>;

/** An A2C run config: the common sections and `a2c:`. */
export const a2cRunConfigSchema = runConfigSchemaFor("A2C", "a2c", a2cConfigSchema);
export type A2CRunConfig = z.infer<typeof a2cRunConfigSchema>;
export type A2CRunConfigInput = z.input<typeof a2cRunConfigSchema>;
