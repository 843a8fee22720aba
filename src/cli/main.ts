/**
 * `rlts`: train, evaluate, list envs, plot runs. Errors print one clear message and exit non-zero;
 * Ctrl-C stops after the current iteration (checkpoint saved), a second Ctrl-C exits at once after
 * closing workers and env servers.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { Command, Option } from "commander";
import { loadRunConfig } from "../algos/index.js";
import { ConfigError } from "../config/load.js";
import { loadEnvModule } from "../envs/make.js";
import { listEnvs } from "../envs/registry.js";
import { closeAllRemoteEnvs } from "../envs/remote/index.js";
import { plotRuns } from "../logging/plot.js";
import type { ProgressMode } from "../logging/progress.js";
import { runEnvRunnerService } from "../rollout/cluster/env_runner_service.js";
import { evaluateCheckpoint } from "../scheduler/evaluate.js";
import { train } from "../scheduler/trainer.js";
import { exportPolicy } from "./export.js";
import { serveDemo } from "./serve_demo.js";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function outputMode(options: { quiet?: boolean; json?: boolean }): ProgressMode {
  return options.json ? "json" : options.quiet ? "quiet" : "line";
}

/** Ctrl-C: the first asks training to stop after this iteration; the second exits now. */
function interruptController(): AbortController {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      console.error(`\nrlts: ${signal} again, exiting now`);
      closeAllRemoteEnvs();
      process.exit(130);
    }
    console.error(`\nrlts: ${signal} received, stopping after this iteration (Ctrl-C again to exit now)`);
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return controller;
}

export function buildCli(): Command {
  const program = new Command("rlts")
    .description(
      "Reinforcement learning for TypeScript: PPO, DQN, A2C and SAC on Gymnasium-style environments",
    )
    .version(packageVersion(), "-V, --version")
    .option("--verbose", "print the stack of an error, not just its one line")
    .showHelpAfterError();

  program
    .command("train")
    .description("train an algorithm from a YAML config")
    .argument("[config]", "the run config (YAML); optional with --resume")
    .option("--set <key=value>", "override a config value, e.g. --set ppo.lr=1e-3 (repeatable)", collect, [])
    .option("--resume <dir>", "continue a run from its folder or from a checkpoint folder")
    .addOption(new Option("--quiet", "no per-iteration line").conflicts("json"))
    .option("--json", "one JSON object per iteration on stdout")
    .action(
      async (
        file: string | undefined,
        options: { set: string[]; resume?: string; quiet?: boolean; json?: boolean },
      ) => {
        if (!file && !options.resume)
          throw new ConfigError("rlts train: give a config file or --resume <run dir>");
        // With --resume the run's saved config is used and --set changes it (train() refuses both).
        const config = file ? loadRunConfig(file, options.set) : undefined;
        const controller = interruptController();
        const summary = await train(config, {
          resume: options.resume,
          overrides: options.set,
          mode: outputMode(options),
          signal: controller.signal,
        });
        if (options.json) console.log(JSON.stringify({ done: true, ...summary }));
      },
    );

  program
    .command("evaluate")
    .description("run a checkpoint's greedy policy for some episodes")
    .argument("<checkpoint>", "a checkpoint folder, or a run folder (its newest checkpoint)")
    .option("--episodes <n>", "episodes to run", (v) => Number.parseInt(v, 10), 10)
    .option("--seed <n>", "seed of the first episode", (v) => Number.parseInt(v, 10), 0)
    .addOption(new Option("--render <mode>", "print each frame").choices(["ansi"]))
    .action(async (checkpoint: string, options: { episodes: number; seed: number; render?: "ansi" }) => {
      const result = await evaluateCheckpoint(checkpoint, options);
      console.log(
        `episodes ${result.returns.length}: return mean ${result.returnMean.toFixed(2)} ` +
          `(min ${Math.min(...result.returns).toFixed(2)}, max ${Math.max(...result.returns).toFixed(2)}), ` +
          `length mean ${result.lengthMean.toFixed(1)}`,
      );
    });

  program
    .command("envs")
    .description("list the registered environments")
    .option("--module <module>", "first import a module that registers your own envs (as env.module)")
    .action(async (options: { module?: string }) => {
      if (options.module) await loadEnvModule(path.resolve(options.module));
      for (const env of listEnvs()) {
        const limit = env.maxEpisodeSteps ? `max steps ${env.maxEpisodeSteps}` : "no step limit";
        const threshold = env.rewardThreshold !== undefined ? `, solved at ${env.rewardThreshold}` : "";
        console.log(`${env.id.padEnd(28)} ${limit}${threshold}`);
      }
      console.log("Any gymnasium.make id also works with `env: {backend: gymnasium, id: ...}`.");
    });

  program
    .command("plot")
    .description("draw learning curves of runs (SVG) from their progress.jsonl")
    .argument("<runs...>", "run folders, or experiment folders holding runs")
    .option("--out <file>", "the SVG to write", "learning-curves.svg")
    .option("--metric <name>", "the y metric", "env_runners/episode_return_mean")
    .option("--x <name>", "the x metric", "num_env_steps_sampled_lifetime")
    .action((runs: string[], options: { out: string; metric: string; x: string }) => {
      const curves = plotRuns(runs.flatMap(runFolders), {
        out: path.resolve(options.out),
        metric: options.metric,
        x: options.x,
        onSkip: (dir) => console.error(`rlts plot: skipping ${dir}: no progress rows yet`),
      });
      console.log(`wrote ${options.out} (${curves.length} curve${curves.length === 1 ? "" : "s"})`);
    });

  program
    .command("export")
    .description("write a checkpoint's policy (tfjs layers model + policy.json) to a folder, for the browser")
    .argument("<checkpoint>", "a checkpoint folder, or a run folder (its newest checkpoint)")
    .requiredOption("--out <dir>", "the folder to write")
    .action(async (checkpoint: string, options: { out: string }) => {
      const result = await exportPolicy(checkpoint, options.out);
      console.log(
        `exported ${result.metadata.algo} policy for ${result.metadata.envId} from ${result.checkpointDir} to ${result.outDir}`,
      );
    });

  program
    .command("serve-demo")
    .description("serve the browser demo (examples/browser) with an exported policy on localhost")
    .argument("<export-dir>", "a folder written by `rlts export`")
    .option("--port <n>", "the port (0 picks a free one)", (v) => Number.parseInt(v, 10), 8080)
    .action(async (exportDir: string, options: { port: number }) => {
      const server = await serveDemo(exportDir, { port: options.port });
      console.log(`rlts demo at ${server.url} (Ctrl-C to stop)`);
      await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
      await server.close();
    });

  program
    .command("env-runner")
    .description(
      "serve one env runner to a learner on another host over ZeroMQ (what env_runners.placement ray starts on each node)",
    )
    .requiredOption(
      "--bind <endpoint>",
      "tcp://<this host's address>:<port or *>; the endpoint is printed as JSON",
    )
    .option("--parent-pid <pid>", "exit when this process is gone", (v) => Number.parseInt(v, 10))
    .action(async (options: { bind: string; parentPid?: number }) => {
      const curveSecretKey = process.env.RLTS_CURVE_SECRET_KEY ?? "";
      if (curveSecretKey.length !== 40) {
        throw new ConfigError(
          "rlts env-runner: set RLTS_CURVE_SECRET_KEY to the run's CURVE secret key (40 Z85 characters; the Ray agent does)",
        );
      }
      console.error(
        await runEnvRunnerService({ bind: options.bind, curveSecretKey, parentPid: options.parentPid }),
      );
      // The runner's envs are closed; nothing of it is left to wait for.
      process.exit(0);
    });

  return program;
}

/** `dir` itself when it is a run folder (has progress.jsonl), else the run folders inside it. */
function runFolders(dir: string): string[] {
  if (existsSync(path.join(dir, "progress.jsonl"))) return [dir];
  const runs = existsSync(dir)
    ? readdirSync(dir)
        .map((name) => path.join(dir, name))
        .filter((sub) => existsSync(path.join(sub, "progress.jsonl")))
    : [];
  if (runs.length === 0) throw new ConfigError(`plot: ${dir} is neither a run folder nor a folder of runs`);
  return runs;
}

/** rlts's version, from its package.json (two folders up from src/cli and from dist/cli alike). */
function packageVersion(): string {
  return JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version;
}

/** Entry point of bin/rlts.js. */
export async function runCli(argv: string[]): Promise<void> {
  // `rlts evaluate --render ansi | head`: the reader went away, which is no error of ours.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    closeAllRemoteEnvs();
    process.exit(0);
  });
  // The CLI picks the backend itself (and prints it), so tfjs's "install tfjs-node" banner is noise.
  tf.enableProdMode();
  try {
    await buildCli().parseAsync(argv);
  } catch (error) {
    const err = error as Error;
    // Our own errors carry a complete message; anything else gets its stack for a bug report.
    const known = [
      "ConfigError",
      "CheckpointError",
      "PolicyFormatError",
      "RangeError",
      "RemoteEnvError",
      "EnvRunnerError",
      "EnvKwargsError",
    ].includes(err.name);
    const verbose = argv.includes("--verbose");
    console.error(`rlts: ${known && !verbose ? err.message : (err.stack ?? String(err))}`);
    process.exitCode = 1;
  } finally {
    closeAllRemoteEnvs();
  }
}
