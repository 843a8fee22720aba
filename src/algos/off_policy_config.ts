/**
 * The options every off-policy algorithm (DQN, SAC) shares, under RLlib's names: the replay buffer, n-step
 * returns, the replay ratio, when learning starts, the iteration size and the target networks. Each
 * algorithm's section spreads `offPolicyFields(defaults)` with its own defaults.
 */
import { z } from "zod";
import { scheduleSchema } from "../utils/schedule.js";

function replayBufferConfigSchema(defaults: { type: "uniform" | "prioritized"; capacity: number }) {
  return z
    .object({
      /** `prioritized`: proportional prioritized replay (sum-tree); `uniform`: a plain ring buffer. */
      type: z.enum(["uniform", "prioritized"]).default(defaults.type),
      /** Capacity in transitions. */
      capacity: z.number().int().positive().default(defaults.capacity),
      /** Prioritisation exponent: 0 is uniform, 1 fully proportional. */
      alpha: z.number().min(0).default(0.6),
      /**
       * Importance-sampling exponent, or a schedule `[[timestep, beta], ...]`; annealing it to 1 removes the
       * sampling bias by the end of training (Schaul et al. 2016 anneal 0.4 -> 1).
       */
      beta: scheduleSchema.default([
        [0, 0.4],
        [100_000, 1.0],
      ]),
      /** Added to |TD error| so no transition's priority is 0. */
      epsilon: z.number().positive().default(1e-6),
    })
    .strict();
}

export function offPolicyFields(defaults: {
  replay: { type: "uniform" | "prioritized"; capacity: number };
  learningStarts: number;
  targetNetworkUpdateFreq: number;
  tau: number;
}) {
  return {
    /** Env steps sampled before the first gradient step. */
    num_steps_sampled_before_learning_starts: z.number().int().min(0).default(defaults.learningStarts),
    /**
     * Every this many sampled env steps the target networks move towards the online ones by `tau`; 0:
     * after every gradient step.
     */
    target_network_update_freq: z.number().int().min(0).default(defaults.targetNetworkUpdateFreq),
    /** 1.0: hard copy; smaller: Polyak averaging target <- tau * online + (1 - tau) * target. */
    tau: z.number().gt(0).max(1).default(defaults.tau),
    /** Steps summed into one transition's return (1: one-step targets). */
    n_step: z.number().int().positive().default(1),
    /**
     * Replay ratio: transitions trained on per env step sampled (RLlib `training_intensity`). `null`: one
     * gradient step per sampled fragment (`num_envs_per_env_runner` x `rollout_fragment_length` steps).
     */
    training_intensity: z.number().positive().nullable().default(null),
    /** Env steps sampled per training iteration (one progress row); RLlib's name. */
    min_sample_timesteps_per_iteration: z.number().int().positive().default(1000),
    replay_buffer_config: replayBufferConfigSchema(defaults.replay).prefault({}),
    /** Saves the replay buffer with every checkpoint (large: capacity x 2 observations). */
    store_buffer_in_checkpoints: z.boolean().default(false),
  };
}

/** The shared off-policy options as the loop reads them. */
export type OffPolicyConfig = z.infer<z.ZodObject<ReturnType<typeof offPolicyFields>>> & {
  gamma: number;
  train_batch_size: number;
};
