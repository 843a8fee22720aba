/**
 * A trajectory fragment: T vector steps of N envs in typed arrays, time-major (row `t * N + i` is env i at
 * step t). Every array lives in a SharedArrayBuffer, so a worker thread can hand a fragment to the
 * learner without copying; the arrays are plain data and survive `postMessage` as views of shared memory.
 */

export interface FragmentSpec {
  numSteps: number;
  numEnvs: number;
  obsDim: number;
  /** Numbers per action (1 for Discrete). */
  actionDim: number;
}

export interface Fragment {
  spec: FragmentSpec;
  /** `[T * N * obsDim]`: the observation each action was taken in. */
  obs: Float32Array;
  /** `[T * N * actionDim]`: the policy's actions as sampled (Box: before clipping to the bounds). */
  actions: Float32Array;
  rewards: Float32Array;
  terminated: Uint8Array;
  truncated: Uint8Array;
  /** Log-probability of each action under the policy that sampled it. */
  logp: Float32Array;
  /** V(obs) under that policy. */
  values: Float32Array;
  /** V(final observation) where the episode was truncated at that step, else 0. */
  bootstrapValues: Float32Array;
  /** `[N * obsDim]`: the observation after the last step (to bootstrap from). */
  lastObs: Float32Array;
  /** `[N]`: V(lastObs). */
  lastValues: Float32Array;
  /** The weights version that sampled this fragment. */
  weightsVersion: number;
}

function shared<T>(Ctor: new (buffer: SharedArrayBuffer) => T, bytesPerElement: number, length: number): T {
  return new Ctor(new SharedArrayBuffer(bytesPerElement * length));
}

export function allocateFragment(spec: FragmentSpec): Fragment {
  const { numSteps, numEnvs, obsDim, actionDim } = spec;
  for (const [name, value] of Object.entries(spec)) {
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`fragment spec: ${name} must be a positive integer, got ${value}`);
  }
  const rows = numSteps * numEnvs;
  return {
    spec: { ...spec },
    obs: shared(Float32Array, 4, rows * obsDim),
    actions: shared(Float32Array, 4, rows * actionDim),
    rewards: shared(Float32Array, 4, rows),
    terminated: shared(Uint8Array, 1, rows),
    truncated: shared(Uint8Array, 1, rows),
    logp: shared(Float32Array, 4, rows),
    values: shared(Float32Array, 4, rows),
    bootstrapValues: shared(Float32Array, 4, rows),
    lastObs: shared(Float32Array, 4, numEnvs * obsDim),
    lastValues: shared(Float32Array, 4, numEnvs),
    weightsVersion: 0,
  };
}

/** What every sample an env runner hands back carries. */
export interface VersionedSample {
  /** The weights version that sampled it. */
  weightsVersion: number;
}
