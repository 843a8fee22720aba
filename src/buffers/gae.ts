/**
 * Generalized Advantage Estimation (Schulman et al. 2016) over a fragment, backwards in time per env:
 *   delta_t = r_t + gamma * V_next - V(s_t),   A_t = delta_t + gamma * lambda * A_{t+1}
 * With same-step autoreset, step t+1 of an env that ended at t belongs to a new episode, so the chain is
 * cut at every episode end. What V_next is depends on how the episode ended:
 *   terminated -> 0 (no future reward); truncated -> V(final observation) (`bootstrapValues`);
 *   otherwise -> V(s_{t+1}), which at the fragment's last step is `lastValues`.
 */
import type { Fragment } from "./fragment.js";

export interface GaeResult {
  /** `[T * N]`, time-major as the fragment. */
  advantages: Float32Array;
  /** `advantages + values`: the value function's regression targets. */
  returns: Float32Array;
}

export function computeGae(fragment: Fragment, gamma: number, lambda: number): GaeResult {
  const { numSteps, numEnvs } = fragment.spec;
  const { rewards, terminated, truncated, values, bootstrapValues, lastValues } = fragment;
  const advantages = new Float32Array(numSteps * numEnvs);
  const returns = new Float32Array(numSteps * numEnvs);
  for (let i = 0; i < numEnvs; i++) {
    let nextAdvantage = 0;
    for (let t = numSteps - 1; t >= 0; t--) {
      const row = t * numEnvs + i;
      const ended = terminated[row] || truncated[row];
      let nextValue: number;
      if (terminated[row]) nextValue = 0;
      else if (truncated[row]) nextValue = bootstrapValues[row];
      else nextValue = t === numSteps - 1 ? lastValues[i] : values[row + numEnvs];
      const delta = rewards[row] + gamma * nextValue - values[row];
      nextAdvantage = delta + (ended ? 0 : gamma * lambda * nextAdvantage);
      advantages[row] = nextAdvantage;
      returns[row] = nextAdvantage + values[row];
    }
  }
  return { advantages, returns };
}
