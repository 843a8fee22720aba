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

/**
 * The standard normal CDF, by Abramowitz & Stegun 7.1.26's erf (absolute error below 1.5e-7): turns a
 * standard normal draw into a uniform one in [0, 1].
 */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-z * z);
  return 0.5 * (1 + (x >= 0 ? erf : -erf));
}
