/**
 * CartPole-v1 whose every step also burns `step_cost_us` microseconds of CPU: a stand-in for an env
 * whose step is expensive (a physics engine, a simulator), registered as "SlowCartPole-v1" when this
 * module is imported (`env.module` in a config, so runner threads import it too). Used by
 * bench/dqn_async.ts to show sampling overlapping learning.
 */
import { CartPoleEnv } from "../src/envs/classic/cartpole.js";
import { parseKwargs } from "../src/envs/kwargs.js";
import { registerEnv } from "../src/envs/registry.js";

class SlowCartPole extends CartPoleEnv {
  private readonly stepCostMs: number;

  constructor(kwargs: Record<string, unknown> = {}) {
    const { step_cost_us } = parseKwargs("SlowCartPole-v1", kwargs, { step_cost_us: 200 });
    super();
    this.stepCostMs = step_cost_us / 1000;
  }

  override step(action: number) {
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
