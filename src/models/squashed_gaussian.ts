/**
 * The squashed Gaussian of SAC's actor (Haarnoja et al. 2018, appendix C), as CleanRL's
 * `sac_continuous_action.py` writes it: the network's second half is squashed into a log-std in
 * [LOG_STD_MIN, LOG_STD_MAX] by tanh (smooth, unlike a clamp), the action is tanh of a Gaussian sample,
 * then scaled from [-1, 1] to the Box's bounds. Plain numbers, shared by the runners, the exported policy
 * and the learner's loss (which writes the same on tensors).
 */
export const LOG_STD_MIN = -5;
export const LOG_STD_MAX = 2;

/** The log-std from the network's raw output: LOG_STD_MIN + (MAX - MIN) (tanh(raw) + 1) / 2. */
export function squashedLogStd(raw: number): number {
  return LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (Math.tanh(raw) + 1);
}

/** `unit` in [-1, 1] scaled to [low, high]. */
export function unitToBounds(unit: number, low: number, high: number): number {
  return low + 0.5 * (high - low) * (unit + 1);
}
