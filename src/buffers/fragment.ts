/**
 * A trajectory fragment: T vector steps of N envs in typed arrays, time-major (row `t * N + i` is env i at
 * step t). Every array lives in a SharedArrayBuffer, so a worker thread can hand a fragment to the
 * learner without copying; the arrays are plain data and survive `postMessage` as views of shared memory.
 */

/**
 * How observations are stored: float32, or uint8 for a uint8 (image) observation space seen unfiltered,
 * a quarter of the memory in fragments and replay; the module scales them (a CNN by 1/255).
 */
export type ObsDtype = "float32" | "uint8";
export type ObsArray = Float32Array | Uint8Array;

/** Room for `length` observation values of `dtype`, in a SharedArrayBuffer when `shared`. */
export function allocateObs(dtype: ObsDtype, length: number, shared: boolean): ObsArray {
  const bytes = (dtype === "uint8" ? 1 : 4) * length;
  const buffer = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  return dtype === "uint8" ? new Uint8Array(buffer) : new Float32Array(buffer);
}

export interface FragmentSpec {
  numSteps: number;
  numEnvs: number;
  obsDim: number;
  /** Numbers per action (1 for Discrete). */
  actionDim: number;
  obsDtype: ObsDtype;
}

export interface Fragment {
  spec: FragmentSpec;
  /** `[T * N * obsDim]`: the observation each action was taken in. */
  obs: ObsArray;
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
  lastObs: ObsArray;
  /** `[N]`: V(lastObs). */
  lastValues: Float32Array;
  /** The weights version that sampled this fragment. */
  weightsVersion: number;
}

function shared<T>(Ctor: new (buffer: SharedArrayBuffer) => T, bytesPerElement: number, length: number): T {
  return new Ctor(new SharedArrayBuffer(bytesPerElement * length));
}

export function allocateFragment(spec: FragmentSpec): Fragment {
  const { numSteps, numEnvs, obsDim, actionDim, obsDtype } = spec;
  for (const [name, value] of Object.entries({ numSteps, numEnvs, obsDim, actionDim })) {
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`fragment spec: ${name} must be a positive integer, got ${value}`);
  }
  const rows = numSteps * numEnvs;
  return {
    spec: { ...spec },
    obs: allocateObs(obsDtype, rows * obsDim, true),
    actions: shared(Float32Array, 4, rows * actionDim),
    rewards: shared(Float32Array, 4, rows),
    terminated: shared(Uint8Array, 1, rows),
    truncated: shared(Uint8Array, 1, rows),
    logp: shared(Float32Array, 4, rows),
    values: shared(Float32Array, 4, rows),
    bootstrapValues: shared(Float32Array, 4, rows),
    lastObs: allocateObs(obsDtype, numEnvs * obsDim, true),
    lastValues: shared(Float32Array, 4, numEnvs),
    weightsVersion: 0,
  };
}

/** What every sample an env runner hands back carries. */
export interface VersionedSample {
  /** The weights version that sampled it. */
  weightsVersion: number;
}
