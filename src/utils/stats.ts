/** The arithmetic mean; NaN for no values (as numpy's, so an empty episode window logs as NaN). */
export function mean(x: ArrayLike<number>): number {
  if (x.length === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i];
  return sum / x.length;
}

/** The population variance (numpy's `var`); NaN for no values. */
function variance(x: ArrayLike<number>): number {
  const m = mean(x);
  let squares = 0;
  for (let i = 0; i < x.length; i++) squares += (x[i] - m) * (x[i] - m);
  return squares / x.length;
}

/** 1 - Var(targets - predictions) / Var(targets): how much of the targets' variance the predictions explain. */
export function explainedVariance(predictions: Float32Array, targets: Float32Array): number {
  const varTargets = variance(targets);
  return varTargets === 0 ? Number.NaN : 1 - variance(targets.map((t, i) => t - predictions[i])) / varTargets;
}
