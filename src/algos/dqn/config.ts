import { z } from "zod";
import { runConfigSchemaFor, trainingFields } from "../../config/schema.js";
import { scheduleSchema } from "../../utils/schedule.js";

/**
 * DQN's hyper-parameters under RLlib's names and, where it has them, RLlib's defaults
 * (rllib/algorithms/dqn/dqn.py; see shared/notes/ANCHORS.md): Double DQN and dueling heads on, prioritized
 * replay of 50k transitions, target update every 500 sampled steps, Huber loss, grad-norm clip 40.
 * The encoder is the run config's `model` section; `hiddens` here is the Q head on top of it.
 */
const replayBufferConfigSchema = z
  .object({
    /** `prioritized`: proportional prioritized replay (sum-tree); `uniform`: a plain ring buffer. */
    type: z.enum(["uniform", "prioritized"]).default("prioritized"),
    /** Capacity in transitions. */
    capacity: z.number().int().positive().default(50_000),
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

export const dqnConfigSchema = z
  .object({
    ...trainingFields({ lr: 5e-4, train_batch_size: 32, grad_clip: 40, adam_epsilon: 1e-8 }),
    td_error_loss_fn: z.enum(["huber", "mse"]).default("huber"),
    /** Env steps sampled (with the exploration schedule) before the first gradient step. */
    num_steps_sampled_before_learning_starts: z.number().int().min(0).default(1000),
    /** Every this many sampled env steps the target network moves towards the online one by `tau`. */
    target_network_update_freq: z.number().int().positive().default(500),
    /** 1.0: hard copy; smaller: Polyak averaging target <- tau * online + (1 - tau) * target. */
    tau: z.number().gt(0).max(1).default(1.0),
    /** Steps summed into one transition's return (1 is plain DQN). */
    n_step: z.number().int().positive().default(1),
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
    /**
     * Replay ratio: transitions trained on per env step sampled (RLlib `training_intensity`). `null`: one
     * gradient step per sampled fragment (`num_envs_per_env_runner` x `rollout_fragment_length` steps).
     */
    training_intensity: z.number().positive().nullable().default(null),
    /** Env steps sampled per training iteration (one progress row); RLlib's name. */
    min_sample_timesteps_per_iteration: z.number().int().positive().default(1000),
    replay_buffer_config: replayBufferConfigSchema.prefault({}),
    /** Saves the replay buffer with every checkpoint (large: capacity x 2 observations). */
    store_buffer_in_checkpoints: z.boolean().default(false),
  })
  .strict();

export type DQNConfig = z.infer<typeof dqnConfigSchema>;

/** A DQN run config: the common sections and `dqn:`. */
export const dqnRunConfigSchema = runConfigSchemaFor("DQN", "dqn", dqnConfigSchema);
export type DQNRunConfig = z.infer<typeof dqnRunConfigSchema>;
/** What `DQN.create` accepts: defaults may be left out, `algo` too. */
export type DQNRunConfigInput = z.input<typeof dqnRunConfigSchema>;
