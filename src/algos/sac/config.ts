import { z } from "zod";
import { modelConfigSchemaWith, runConfigSchemaFor, trainingFields } from "../../config/schema.js";
import { offPolicyFields } from "../off_policy_config.js";

/** SAC's networks default to two ReLU layers of 256, as RLlib's, SB3's and CleanRL's. */
const SAC_MODEL_DEFAULTS = { hiddens: [256, 256], activation: "relu" } as const;

// SAC has three learning rates of its own instead of `lr`.
const { lr: _lr, ...sacTrainingFields } = trainingFields({
  lr: 3e-4,
  train_batch_size: 256,
  grad_clip: null,
  adam_epsilon: 1e-8,
});

/**
 * SAC's hyper-parameters under RLlib's names (rllib/algorithms/sac/sac.py) with the defaults SB3 and
 * CleanRL share where RLlib's differ: uniform replay of 1M transitions, Polyak `tau` 0.005 after every
 * gradient step, learning rates 3e-4, alpha from 1.0 tuned toward -|A|. The actor is the run config's
 * `model` section; the critics are `q_model` (RLlib's old `q_model_config`).
 */
export const sacConfigSchema = z
  .object({
    ...sacTrainingFields,
    ...offPolicyFields({
      replay: { type: "uniform", capacity: 1_000_000 },
      learningStarts: 1500,
      targetNetworkUpdateFreq: 0,
      tau: 0.005,
    }),
    actor_lr: z.number().positive().default(3e-4),
    critic_lr: z.number().positive().default(3e-4),
    alpha_lr: z.number().positive().default(3e-4),
    /** Two critics and the smaller of their values in every target and in the actor loss (clipped double Q). */
    twin_q: z.boolean().default(true),
    /** The entropy temperature alpha to start from. */
    initial_alpha: z.number().positive().default(1.0),
    /** The entropy alpha is tuned toward; `auto`: -(action dimensions), as the paper. */
    target_entropy: z.union([z.literal("auto"), z.number()]).default("auto"),
    /**
     * The correlation of each env's exploration noise between consecutive steps: 0 (the paper) draws it
     * afresh; near 1 (0.99: about 100 steps) it sweeps, as Ornstein-Uhlenbeck noise, while every step's
     * action still follows the policy (the warm-up's uniform actions too). Sparse rewards reached only by
     * sustained pushes (MountainCarContinuous) need it.
     */
    exploration_noise_correlation: z.number().min(0).lt(1).default(0),
    /** Tune alpha toward `target_entropy` (false: keep `initial_alpha`, SB3's fixed `ent_coef`). */
    autotune_alpha: z.boolean().default(true),
    q_model: z
      .object({
        hiddens: z
          .array(z.number().int().positive())
          .min(1)
          .default([...SAC_MODEL_DEFAULTS.hiddens]),
        activation: z.enum(["tanh", "relu"]).default(SAC_MODEL_DEFAULTS.activation),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type SACConfig = z.infer<typeof sacConfigSchema>;

/** A SAC run config: the common sections and `sac:`. */
export const sacRunConfigSchema = runConfigSchemaFor(
  "SAC",
  "sac",
  sacConfigSchema,
  modelConfigSchemaWith({
    hiddens: [...SAC_MODEL_DEFAULTS.hiddens],
    activation: SAC_MODEL_DEFAULTS.activation,
  }),
);
export type SACRunConfig = z.infer<typeof sacRunConfigSchema>;
/** What `SAC.create` accepts: defaults may be left out, `algo` too. */
export type SACRunConfigInput = z.input<typeof sacRunConfigSchema>;
