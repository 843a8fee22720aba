/**
 * `rlts evaluate`: runs a checkpoint's exported policy (its `model/` folder, the same files a browser
 * loads) greedily on fresh copies of the env the run trained on.
 */
import path from "node:path";
import { readCheckpoint } from "../algos/checkpoint.js";
import { parseRunConfig, type RunConfig } from "../algos/index.js";
import { loadEnvModule, remoteEnvOptions } from "../envs/make.js";
import { makeEnv } from "../envs/registry.js";
import { makeRemoteEnv } from "../envs/remote/index.js";
import type { Info, RenderFrame, ResetOptions, StepResult } from "../envs/types.js";
import { loadPolicyFromDir } from "../models/policy_node.js";

export interface EvaluateOptions {
  episodes: number;
  seed: number;
  render?: "ansi";
  /** Where rendered frames go (stdout by default). */
  print?: (frame: string) => void;
}

export interface EvaluateResult {
  returns: number[];
  lengths: number[];
  returnMean: number;
  lengthMean: number;
}

/** The part of an env evaluation needs: a built-in env answers at once, a remote one with promises. */
interface EvaluationEnv {
  reset(opts?: ResetOptions): [unknown, Info] | Promise<[unknown, Info]>;
  step(action: unknown): StepResult<unknown> | Promise<StepResult<unknown>>;
  render(): RenderFrame | Promise<RenderFrame>;
  close(): void | Promise<void>;
  readonly observationSpace: { flatten(x: unknown): Float32Array };
}

/** The run's built-in or user env: its `env.module` (custom envs) is imported first, as training did. */
async function makeBuiltinEnv(
  env: RunConfig["env"],
  kwargs: Record<string, unknown>,
): Promise<EvaluationEnv> {
  if (env.module) await loadEnvModule(env.module);
  return makeEnv(env.id, kwargs, { maxEpisodeSteps: env.max_episode_steps });
}

export async function evaluateCheckpoint(target: string, options: EvaluateOptions): Promise<EvaluateResult> {
  const checkpoint = await readCheckpoint(target);
  const config = parseRunConfig(checkpoint.config, `${checkpoint.dir}/config.yaml`);
  const policy = await loadPolicyFromDir(path.join(checkpoint.dir, "model"));
  const kwargs = options.render ? { ...config.env.kwargs, render_mode: options.render } : config.env.kwargs;
  const env: EvaluationEnv =
    config.env.backend === "gymnasium"
      ? await makeRemoteEnv(remoteEnvOptions(config.env, kwargs))
      : await makeBuiltinEnv(config.env, kwargs);
  const print = options.print ?? ((frame: string) => process.stdout.write(`${frame}\n`));
  const returns: number[] = [];
  const lengths: number[] = [];
  try {
    for (let episode = 0; episode < options.episodes; episode++) {
      let [obs] = await env.reset({ seed: options.seed + episode });
      let episodeReturn = 0;
      let length = 0;
      for (let done = false; !done; ) {
        const action = policy.act(env.observationSpace.flatten(obs));
        const [next, reward, terminated, truncated] = await env.step(action);
        obs = next;
        episodeReturn += reward;
        length += 1;
        done = terminated || truncated;
        if (options.render) print(String(await env.render()));
      }
      returns.push(episodeReturn);
      lengths.push(length);
    }
  } finally {
    await env.close();
    policy.dispose();
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return { returns, lengths, returnMean: mean(returns), lengthMean: mean(lengths) };
}
