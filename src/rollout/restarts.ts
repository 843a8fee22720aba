/**
 * When a failed env runner is replaced, and when its failure ends the run: RLlib's
 * `restart_failed_env_runners` and `max_num_env_runner_restarts`, plus one rule of ours — the same error
 * `MAX_REPEATED_FAILURES` times in a row with no fragment in between is a bug, not a transient fault, and
 * restarting it would spin for ever. Every env runner group (main thread, threads) follows it.
 */
import type { EnvRunnersConfig } from "../config/schema.js";

/** Failures in a row with the same error, with no fragment in between, that end the run. */
const MAX_REPEATED_FAILURES = 3;
/** A restarted runner gets fresh seeds, so it does not replay its predecessor's episodes. */
export const RESTART_SEED_STRIDE = 1_000_000;

/** A runner failure that ends the run; its message is complete (one line for the CLI). */
export class EnvRunnerError extends Error {
  override name = "EnvRunnerError";
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One restart, as the run folder's `faults.jsonl` records it. */
export interface RestartRecord {
  /** Unix time, seconds. */
  time: number;
  worker: number;
  cause: string;
  /** Restarts over the group's life, this one included. */
  restart: number;
}

export class RestartPolicy {
  /** Runners replaced over the group's life (`fault/num_worker_restarts`). */
  numRestarts = 0;
  private records: RestartRecord[] = [];
  /** Per runner: the last failure's error (numbers aside) and how many times in a row it happened. */
  private readonly repeated = new Map<number, { shape: string; count: number }>();

  constructor(private readonly config: EnvRunnersConfig) {}

  /** Runner `index` has just failed with `reason`: the error that ends the run, or null to replace it. */
  check(index: number, reason: unknown): EnvRunnerError | null {
    const text = errorMessage(reason);
    // Numbers aside: the step of a deterministic bug moves with the restarted runner's seeds.
    const shape = text.replace(/\d+/g, "#");
    const previous = this.repeated.get(index);
    const count = previous?.shape === shape ? previous.count + 1 : 1;
    this.repeated.set(index, { shape, count });
    const { restart_failed_env_runners, max_num_env_runner_restarts } = this.config;
    let rule: string | null = null;
    if (!restart_failed_env_runners) rule = "(env_runners.restart_failed_env_runners is off)";
    else if (this.numRestarts >= max_num_env_runner_restarts) {
      rule = `after env_runners.max_num_env_runner_restarts (${max_num_env_runner_restarts}) restarts`;
    } else if (count >= MAX_REPEATED_FAILURES) {
      rule = `${count} times in a row with the same error and no fragment in between (a bug, not a transient fault)`;
    }
    return rule === null
      ? null
      : new EnvRunnerError(`rollout worker ${index} failed ${rule}: ${text}`, { cause: reason });
  }

  /** Runner `index` is being replaced after `reason`: counted, and one line on stderr. */
  restarting(index: number, reason: unknown): number {
    this.numRestarts += 1;
    const cause = errorMessage(reason);
    console.error(
      `rlts: rollout worker ${index} failed (${cause}); restarting it ` +
        `(restart ${this.numRestarts} of at most ${this.config.max_num_env_runner_restarts})`,
    );
    this.records.push({ time: Date.now() / 1000, worker: index, cause, restart: this.numRestarts });
    return this.numRestarts;
  }

  /** The restarts since the last call. */
  drainRecords(): RestartRecord[] {
    const records = this.records;
    this.records = [];
    return records;
  }

  /** Runner `index` delivered a fragment: its failures no longer count as in a row. */
  succeeded(index: number): void {
    this.repeated.delete(index);
  }
}
