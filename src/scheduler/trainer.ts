/**
 * The training loop (RLlib's Algorithm.train() driven by Tune, in one function): iterations until a stop
 * condition, evaluation, checkpoints, metrics to progress.jsonl / TensorBoard / the terminal, and a clean
 * shutdown on success, error and Ctrl-C.
 */
import { appendFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import YAML from "yaml";
import type { Algorithm, AlgorithmState } from "../algos/algorithm.js";
import {
  checkpointDirName,
  type LoadedCheckpoint,
  pruneCheckpoints,
  readCheckpoint,
} from "../algos/checkpoint.js";
import { createAlgorithm, parseRunConfig, type RunConfig } from "../algos/index.js";
import { applyOverride, ConfigError } from "../config/load.js";
import { ProgressLogger, type ProgressMode } from "../logging/progress.js";
import { createRunDir, lockRunDir } from "./run_dir.js";
import { reachedStop, stopCriteria } from "./stop.js";

export interface TrainOptions {
  /** Continue from a run folder or checkpoint folder: same counters, schedules, RNG and weights. */
  resume?: string;
  /** With `resume`: `key.path=value` changes to the saved config (a later stop condition, say). */
  overrides?: string[];
  mode?: ProgressMode;
  /** Where `output` is resolved from (default: the process's cwd). */
  cwd?: string;
  /** Stops after the current iteration when aborted (the CLI wires Ctrl-C to it). */
  signal?: AbortSignal;
}

export interface TrainSummary {
  runDir: string;
  backend: string;
  iterations: number;
  metrics: Record<string, number>;
  /** Why training stopped: a stop criterion (`metric >= target`) or `interrupted`. */
  stoppedBy: string;
  checkpoint?: string;
}

/** Trains `config`, or with `options.resume` the saved config of that run (plus `options.overrides`). */
export async function train(
  config: RunConfig | undefined,
  options: TrainOptions = {},
): Promise<TrainSummary> {
  if (config && options.resume) {
    throw new ConfigError(
      "train: give a config or a run to resume, not both (a resumed run keeps its saved config; change it with --set key=value)",
    );
  }
  const resumed = options.resume ? await readCheckpoint(options.resume) : undefined;
  if (resumed) {
    const saved = resumed.config as Record<string, unknown>;
    for (const assignment of options.overrides ?? []) applyOverride(saved, assignment);
    config = parseRunConfig(saved, `${resumed.dir}/config.yaml`);
  }
  if (!config) throw new ConfigError("train: give a config or a run to resume");
  const runDir = resumed ? path.dirname(resumed.dir) : await createRunDir(config, options.cwd);
  const unlock = lockRunDir(runDir);
  try {
    return await trainInRunDir(config, runDir, resumed, options);
  } finally {
    unlock();
  }
}

/** The training loop proper, in a run folder this process holds the lock of. */
async function trainInRunDir(
  config: RunConfig,
  runDir: string,
  resumed: LoadedCheckpoint | undefined,
  options: TrainOptions,
): Promise<TrainSummary> {
  await writeFile(path.join(runDir, "config.yaml"), YAML.stringify(config));
  const criteria = stopCriteria(config.stop);
  const logger = new ProgressLogger({
    runDir,
    mode: options.mode ?? "line",
    stop: criteria,
    resumedFrom: resumed && {
      iteration: resumed.iteration,
      // TensorBoard's step is the env steps sampled (ProgressLogger.log).
      step: (resumed.state as { numEnvStepsSampled: number }).numEnvStepsSampled,
    },
  });

  let algorithm: Algorithm | undefined;
  let iteration = resumed?.iteration ?? 0;
  let metrics: Record<string, number> = {};
  let checkpoint: string | undefined;
  const saveCheckpoint = async (algorithm: Algorithm) => {
    checkpoint = await algorithm.save(path.join(runDir, checkpointDirName(iteration)));
    await pruneCheckpoints(runDir, config.checkpoint.keep);
  };
  try {
    try {
      algorithm = await createAlgorithm(config);
    } catch (error) {
      // A run that never started leaves no folder behind (a resumed one keeps its own, of course).
      logger.close();
      if (!resumed) await rm(runDir, { recursive: true, force: true });
      throw error;
    }
    // Temp folders of checkpoints a crash interrupted.
    if (resumed) await pruneCheckpoints(runDir, config.checkpoint.keep);
    logger.note(
      `rlts: ${config.algo} on ${config.env.id}, tfjs backend ${algorithm.backend}, run folder ${runDir}`,
    );
    logger.logText("config", `backend: ${algorithm.backend}\n\n\`\`\`yaml\n${YAML.stringify(config)}\`\`\``);
    if (resumed) await algorithm.setState(resumed.state as AlgorithmState);
    let stoppedBy = "";
    while (!stoppedBy) {
      // One turn of the event loop per iteration: a main-thread iteration awaits only settled promises,
      // so without it a SIGINT handler (and the abort it signals) would never run until training ends.
      await new Promise((resolve) => setImmediate(resolve));
      metrics = await algorithm.train();
      const restarts = algorithm.drainRestarts();
      if (restarts.length > 0) {
        await appendFile(
          path.join(runDir, "faults.jsonl"),
          restarts.map((r) => `${JSON.stringify(r)}\n`).join(""),
        );
      }
      // The algorithm counts its iterations (a resumed one goes on from its checkpoint's).
      iteration = metrics.training_iteration;
      if (config.evaluation.interval > 0 && iteration % config.evaluation.interval === 0) {
        Object.assign(metrics, await algorithm.evaluate(config.evaluation.duration));
      }
      const interval = config.logging.histogram_interval;
      logger.log(
        iteration,
        metrics,
        interval > 0 && iteration % interval === 0 ? algorithm.histograms() : {},
      );
      const reached = reachedStop(criteria, metrics);
      if (reached) stoppedBy = `${reached.metric} >= ${reached.target}`;
      else if (options.signal?.aborted) stoppedBy = "interrupted";
      const periodic = config.checkpoint.frequency > 0 && iteration % config.checkpoint.frequency === 0;
      if (periodic || (stoppedBy && (config.checkpoint.at_end || stoppedBy === "interrupted")))
        await saveCheckpoint(algorithm);
    }
    logger.note(
      `rlts: stopped after ${iteration} iterations (${stoppedBy}); ${checkpoint ? `checkpoint ${checkpoint}` : "no checkpoint"}`,
    );
    return { runDir, backend: algorithm.backend, iterations: iteration, metrics, stoppedBy, checkpoint };
  } finally {
    await algorithm?.stop();
    logger.close();
  }
}
