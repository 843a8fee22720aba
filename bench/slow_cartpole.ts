/**
 * CartPole-v1 whose every step also burns `step_cost_us` microseconds of CPU, or sleeps
 * `step_sleep_us` (a step that costs wall time but no CPU: a remote simulator, a real robot): a
 * stand-in for an env whose step is expensive, registered as "SlowCartPole-v1" when this module is
 * imported (`env.module` in a config, so runner threads and processes import it too). Used by
 * bench/dqn_async.ts to show sampling overlapping learning, and by bench/ray.ts to scale past the cores.
 */
import { CartPoleEnv } from "../src/envs/classic/cartpole.js";
import { parseKwargs } from "../src/envs/kwargs.js";
import { registerEnv } from "../src/envs/registry.js";

class SlowCartPole extends CartPoleEnv {
  private readonly stepCostMs: number;
  private readonly stepSleepMs: number;
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));

  constructor(kwargs: Record<string, unknown> = {}) {
    const { step_cost_us, step_sleep_us } = parseKwargs("SlowCartPole-v1", kwargs, {
      step_cost_us: 200,
      step_sleep_us: 0,
    });
    super();
    this.stepCostMs = step_cost_us / 1000;
    this.stepSleepMs = step_sleep_us / 1000;
  }

  override step(action: number) {
    if (this.stepSleepMs > 0) Atomics.wait(this.sleeper, 0, 0, this.stepSleepMs);
    const until = performance.now() + this.stepCostMs;
    while (performance.now() < until) {
      // busy: the cost of a real simulator step
    }
    return super.step(action);
  }
}

registerEnv("SlowCartPole-v1", (kwargs) => new SlowCartPole(kwargs), {
  maxEpisodeSteps: 500,
  override: true,
});
