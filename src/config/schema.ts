/**
 * The sections every run config has, validated with zod, and `runConfigSchemaFor`, which adds an
 * algorithm's own section: what `rlts train <config.yaml>` reads is the union of those over the
 * algorithm registry (src/algos/index.ts), discriminated on `algo`. Keys use RLlib's names (snake_case,
 * `env_runners`, `num_env_runners`, ...) so settings carry over from Python.
 */
import { z } from "zod";
import { TRANSPORTS } from "../envs/remote/protocol.js";
import { type Schedule, scheduleSchema } from "../utils/schedule.js";

const envConfigSchema = z
  .object({
    /** A registered id (`rlts envs` lists them) or, with backend gymnasium, any `gymnasium.make` id. */
    id: z.string().min(1),
    /** `builtin`: an env registered in rlts (classic control, or your own via `module`); `gymnasium`: a real Python Gymnasium env over ZeroMQ. */
    backend: z.enum(["builtin", "gymnasium"]).default("builtin"),
    kwargs: z.record(z.string(), z.unknown()).default({}),
    /** A module (path relative to the config file, or a package name) that calls `registerEnv`; loaded in every rollout worker too. */
    module: z.string().optional(),
    /** gymnasium backend: connect to a server started elsewhere (`tcp://host:port`) instead of spawning one. */
    address: z.string().optional(),
    /**
     * gymnasium backend with `address`: the file holding the shared key the server was started with
     * (`--key-file`); the client proves it knows the key, which never travels.
     */
    key_file: z.string().optional(),
    /** gymnasium backend with `address`: the public key (Z85) of a CURVE server (what placement ray sets up). */
    curve_server_key: z.string().length(40).optional(),
    /** gymnasium backend: Python modules the server imports before `gymnasium.make` (ones that register envs). */
    python_modules: z.array(z.string().min(1)).default([]),
    /**
     * gymnasium backend: `gymnasium.wrappers` the server applies, first to last, next to the simulator:
     * `[{name: AtariPreprocessing, kwargs: {frame_skip: 1}}, {name: FrameStackObservation, kwargs: {stack_size: 4}}]`.
     */
    wrappers: z
      .array(
        z.object({ name: z.string().min(1), kwargs: z.record(z.string(), z.unknown()).default({}) }).strict(),
      )
      .default([]),
    /**
     * gymnasium backend: how rlts talks to the server it spawns: `shm` (shared memory, the default on Linux
     * x86-64), `ipc` (a unix socket, the default elsewhere) or `tcp` (127.0.0.1). Not used with `address`.
     */
    transport: z.enum(TRANSPORTS).optional(),
    /** gymnasium backend: the Python interpreter (default: python/.venv, or $RLTS_PYTHON). */
    python: z.string().optional(),
    /** gymnasium backend: how long one request may take before it is an error. */
    timeout_ms: z.number().int().positive().default(30_000),
    /** Overrides the registered time limit. */
    max_episode_steps: z.number().int().positive().optional(),
    /** Box actions: clip to the space's bounds before they reach the env (SB3 does this too). */
    clip_actions: z.boolean().default(true),
  })
  .strict();

const rayConfigSchema = z
  .object({
    /** The cluster: `auto` (the one `ray start` made on this machine, or $RAY_ADDRESS) or `host:port` of its head. */
    address: z.string().min(1).default("auto"),
    /** CPUs each env runner reserves on its node (Ray's `num_cpus`); a placement group holds them for the run. */
    num_cpus_per_env_runner: z.number().positive().default(1),
    /** Ray's runtime_env for the runners (env_vars, working_dir, pip, ...), passed through as it is. */
    runtime_env: z.record(z.string(), z.unknown()).default({}),
    /**
     * How each node starts an env runner (`rlts env-runner`): by default this Node and this rlts, at the
     * same paths (install rlts alike on every node, as Ray asks of Python code).
     */
    env_runner_command: z.array(z.string().min(1)).min(1).optional(),
    /** The Python that runs the agent (`python -m rlts_ray`); default: as for the gymnasium backend. */
    python: z.string().optional(),
  })
  .strict();

const envRunnersConfigSchema = z
  .object({
    /**
     * Env runners: worker threads (`placement: threads`) or Ray actors (`placement: ray`); 0 samples in
     * the main thread (no threads, so a debugger works).
     */
    num_env_runners: z.number().int().min(0).default(0),
    /**
     * Where the env runners run: `main` (the calling thread; num_env_runners 0), `threads` (worker
     * threads of this process) or `ray` (actors on a Ray cluster, `ray:` below). Default: main for 0
     * runners, threads otherwise.
     */
    placement: z.enum(["main", "threads", "ray"]).optional(),
    ray: rayConfigSchema.prefault({}),
    num_envs_per_env_runner: z.number().int().positive().default(8),
    /** Steps each env runner samples per fragment; `auto` divides the train batch evenly. */
    rollout_fragment_length: z.union([z.literal("auto"), z.number().int().positive()]).default("auto"),
    restart_failed_env_runners: z.boolean().default(true),
    max_num_env_runner_restarts: z.number().int().min(0).default(1000),
    /** A fragment that takes longer than this counts as a failed worker. */
    sample_timeout_s: z.number().positive().default(60),
    /**
     * RLlib's observation filter: `MeanStdFilter` normalises observations with running statistics merged
     * from every runner each iteration (kept in checkpoints, used by evaluation and the exported policy).
     */
    observation_filter: z.enum(["NoFilter", "MeanStdFilter"]).default("NoFilter"),
    /**
     * SB3's VecNormalize `norm_reward`: the learner's rewards are divided by the running standard deviation
     * of the discounted return (the algorithm's gamma), merged from every runner; episode returns stay raw.
     */
    normalize_rewards: z.boolean().default(false),
  })
  .strict()
  .superRefine((runners, ctx) => {
    const placement = runners.placement;
    const count = runners.num_env_runners;
    const wrong =
      placement === "main" && count > 0
        ? `placement main samples in the calling thread: num_env_runners must be 0, got ${count}`
        : placement !== undefined && placement !== "main" && count === 0
          ? `placement ${placement} needs num_env_runners of at least 1 (0 samples in the main thread)`
          : null;
    if (wrong) ctx.addIssue({ code: "custom", path: ["placement"], message: wrong });
  });

/** Where `env_runners` puts its runners (`placement`, or what `num_env_runners` implies). */
export function envRunnerPlacement(
  runners: Pick<EnvRunnersConfig, "placement" | "num_env_runners">,
): "main" | "threads" | "ray" {
  return runners.placement ?? (runners.num_env_runners === 0 ? "main" : "threads");
}

const learnerConfigSchema = z
  .object({
    /** `auto` takes the first that loads: tensorflow-gpu, tensorflow, wasm, cpu. */
    backend: z.enum(["auto", "tensorflow-gpu", "tensorflow", "wasm", "cpu"]).default("auto"),
    /**
     * `auto`: on wasm, matrix products of at least 4M multiply-adds go to a native CBLAS if the machine
     * has one (OpenBLAS: `apt install libopenblas0`; `RLTS_BLAS` names another library); smaller ones, and
     * every product without one, stay on wasm. `off` keeps wasm's own kernels for all.
     */
    blas: z.enum(["auto", "off"]).default("auto"),
    /**
     * `auto`: on the wasm and cpu backends, PPO (categorical or Gaussian head) and DQN train MLP modules
     * by the fused WebAssembly step (src/learner/fused_mlp.ts: forward, loss, backward and Adam for a
     * minibatch in one call); other modules and backends keep the tfjs path. `off`: always the tfjs path.
     */
    fused: z.enum(["auto", "off"]).default("auto"),
    /**
     * Threads the fused step splits its long loops over (large matrix products, native BLAS ones too,
     * activations, Adam; src/learner/kernel_threads.ts), the learner's own included; `auto`: every core
     * but those that sample beside the learner (env runner threads; the main thread when
     * `num_learners` is 1), at least 1.
     */
    num_threads: z.union([z.literal("auto"), z.number().int().min(1)]).default("auto"),
    /**
     * Where the learner runs, as RLlib's `num_learners`: 0 in the main thread, 1 in a worker thread of
     * its own (which selects `backend` itself and puts the weights into the object store after every
     * update). Several learners (data-parallel across machines or GPUs) are not supported.
     */
    num_learners: z
      .number()
      .int()
      .min(0)
      .max(1, "only 0 (the main thread) or 1 (one learner thread) is supported on one machine")
      .default(0),
  })
  .strict();

const sideSchema = z.union([
  z.number().int().positive(),
  z.tuple([z.number().int().positive(), z.number().int().positive()]),
]);
const convFilterSchema = z.union([
  z.tuple([z.number().int().positive(), sideSchema, sideSchema]),
  z.tuple([z.number().int().positive(), sideSchema, sideSchema, z.enum(["valid", "same"])]),
]);

/** The `model` section with an algorithm's defaults (SAC's networks are wider and ReLU, as CleanRL's and SB3's). */
export function modelConfigSchemaWith(defaults: { hiddens: number[]; activation: "tanh" | "relu" }) {
  return z
    .object({
      hiddens: z.array(z.number().int().positive()).min(1).default(defaults.hiddens),
      activation: z.enum(["tanh", "relu"]).default(defaults.activation),
      /** One trunk for policy and value (true) or two separate networks (false, as CleanRL). */
      vf_share_layers: z.boolean().default(false),
      /** Gaussian policies: the initial state-independent log standard deviation. */
      initial_log_std: z.number().default(0),
      /**
       * Image observations ([h, w, c]): the CNN encoder's layers, RLlib's `[out_channels, [kh, kw], stride]`
       * with an optional fourth "valid" (the default) or "same"; null picks the default for the image's
       * size (the Nature CNN at 84x84, one 3x3 layer of 16 up to 16x16), [] flattens the image for the MLP.
       */
      conv_filters: z.array(convFilterSchema).nullable().default(null),
    })
    .strict();
}

export const modelConfigSchema = modelConfigSchemaWith({ hiddens: [64, 64], activation: "tanh" });

const stopConfigSchema = z
  .object({
    num_env_steps_sampled_lifetime: z.number().int().positive().optional(),
    "env_runners/episode_return_mean": z.number().optional(),
    /** The greedy policy's mean return, checked on the iterations that evaluate (`evaluation.interval`). */
    "evaluation/env_runners/episode_return_mean": z.number().optional(),
    training_iteration: z.number().int().positive().optional(),
    time_total_s: z.number().positive().optional(),
  })
  .strict();

const checkpointConfigSchema = z
  .object({
    /** Every N iterations; 0 saves only at the end. */
    frequency: z.number().int().min(0).default(10),
    at_end: z.boolean().default(true),
    /** Checkpoints kept (oldest removed first); 0 keeps all. */
    keep: z.number().int().min(0).default(3),
  })
  .strict();

const evaluationConfigSchema = z
  .object({
    /** Evaluate every N iterations with the greedy policy; 0 turns evaluation off. */
    interval: z.number().int().min(0).default(0),
    duration: z.number().int().positive().default(10),
  })
  .strict();

/**
 * The training options every gradient-based algorithm has (RLlib's `AlgorithmConfig.training()`), each
 * algorithm with its own defaults.
 */
export function trainingFields(defaults: {
  lr: Schedule;
  train_batch_size: number;
  grad_clip: number | null;
  adam_epsilon: number;
}) {
  return {
    /** Learning rate, or a schedule `[[timestep, lr], ...]` (CleanRL's annealing: `[[0, 2.5e-4], [T, 0]]`). */
    lr: scheduleSchema.default(defaults.lr),
    gamma: z.number().min(0).max(1).default(0.99),
    /**
     * On-policy algorithms: env steps per training iteration, over all env runners and envs. Off-policy
     * ones: transitions per gradient step. (RLlib's meaning for each.)
     */
    train_batch_size: z.number().int().positive().default(defaults.train_batch_size),
    /** Global gradient-norm clip; `null` turns it off. */
    grad_clip: z.number().positive().nullable().default(defaults.grad_clip),
    adam_epsilon: z.number().positive().default(defaults.adam_epsilon),
  };
}

/** The actor-critic options on-policy algorithms share (PPO, A2C), each with its own defaults. */
export function actorCriticFields(defaults: { lambda: number; normalize_advantages: boolean }) {
  return {
    /** GAE lambda (RLlib `lambda`, SB3 `gae_lambda`); 1 gives plain n-step returns. */
    lambda: z.number().min(0).max(1).default(defaults.lambda),
    vf_loss_coeff: z.number().min(0).default(0.5),
    /** The entropy bonus, or a schedule `[[timestep, coeff], ...]`. */
    entropy_coeff: scheduleSchema.default(0),
    /** Advantages normalised to mean 0 and std 1 per minibatch. */
    normalize_advantages: z.boolean().default(defaults.normalize_advantages),
  };
}

const loggingConfigSchema = z
  .object({
    /** Every N iterations, histograms (weights; actions and advantages, or TD errors) go to TensorBoard; 0: never. */
    histogram_interval: z.number().int().min(0).default(10),
  })
  .strict();

/** The sections shared by every algorithm's run config. */
const commonShape = {
  /** Experiment name: runs go to `<output>/<name>/<run-id>/`. */
  name: z.string().min(1).default("default"),
  seed: z.number().int().min(0).default(0),
  output: z.string().default("experiments"),
  env: envConfigSchema,
  env_runners: envRunnersConfigSchema.prefault({}),
  learner: learnerConfigSchema.prefault({}),
  model: modelConfigSchema.prefault({}),
  stop: stopConfigSchema.prefault({}),
  checkpoint: checkpointConfigSchema.prefault({}),
  evaluation: evaluationConfigSchema.prefault({}),
  logging: loggingConfigSchema.prefault({}),
};

/**
 * An algorithm's run config: the common sections, `algo: <name>`, and its own section under `key`
 * (`ppo:`, `dqn:`, ...). Strict: another algorithm's section is an unknown key.
 */
export function runConfigSchemaFor<Name extends string, Key extends string, Section extends z.ZodObject>(
  name: Name,
  key: Key,
  section: Section,
  model: typeof modelConfigSchema = modelConfigSchema,
) {
  return z
    .object({
      ...commonShape,
      model: model.prefault({}),
      algo: z.literal(name).default(name),
      ...({ [key]: section.prefault({} as z.input<Section>) } as { [K in Key]: z.ZodPrefault<Section> }),
    })
    .strict();
}

/** What every run config holds, whatever its algorithm. */
export type CommonRunConfig = z.infer<z.ZodObject<typeof commonShape>> & { algo: string };
export type EnvConfig = z.infer<typeof envConfigSchema>;
export type EnvRunnersConfig = z.infer<typeof envRunnersConfigSchema>;
export type ModelConfig = z.infer<typeof modelConfigSchema>;
export type LearnerConfig = z.infer<typeof learnerConfigSchema>;
