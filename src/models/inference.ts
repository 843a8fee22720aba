/**
 * An RLModule's forward pass on the env runners, for every module the catalog builds: a CNN encoder (if
 * any) on the thread's tfjs backend (conv.ts's `ConvInference`), then the towers in
 * dense_wasm.ts's SIMD kernel from the flat weights (float32, as tfjs computes them; at batches of 1-64
 * tfjs spends more time dispatching ops than computing), and the head acts in plain TypeScript —
 * sampling a categorical or Gaussian (exploring) or taking its mode (greedy), each part of a Tuple's or
 * Dict's composite head in turn, epsilon-greedy on Q values,
 * or a tanh-squashed Gaussian scaled to the Box (SAC; its epsilon is the chance of a uniform action).
 */
import { createRng, normal, type Rng } from "../utils/rng.js";
import { normalCdf } from "../utils/stats.js";
import {
  actionNumbers,
  type ModuleHead,
  type ModuleSpec,
  type PartHead,
  policyOutputs,
  towerWeights,
  weightsSize,
} from "./catalog.js";
import { ConvInference } from "./conv.js";
import { WasmDenseLayers } from "./dense_wasm.js";
import { towerViews } from "./mlp.js";
import { squashedLogStd, unitToBounds } from "./squashed_gaussian.js";

const LOG_2PI = Math.log(2 * Math.PI);

/** Outputs of `act`, written into arrays the caller owns: row i belongs to observation i. */
export interface ActOutputs {
  /**
   * `[batch * actionDim]`: a class index from 0 (Discrete; one per entry for MultiDiscrete), 0/1 bits
   * (MultiBinary), the raw, unclipped Gaussian sample (Box), the squashed sample scaled to the Box's
   * bounds, or a Tuple's or Dict's parts' numbers of those kinds one after another.
   */
  actions: Float32Array;
  /** Actor-critic modules: log pi(a|s) of each action (untouched by squashed-Gaussian actors). */
  logp: Float32Array;
  /** Actor-critic modules: V(s). */
  values: Float32Array;
}

/**
 * How to act: the head's mode, or exploring (Q modules and squashed Gaussians: each row with its own
 * epsilon, the chance of a uniformly random action).
 */
export type ActMode = { greedy: true } | { greedy: false; epsilons?: ArrayLike<number> };

/** Where one part of an actor-critic head (the whole head unless composite) sits in a row. */
interface PartLayout {
  head: PartHead;
  /** Its first policy output, action number and log-std value. */
  output: number;
  action: number;
  logStd: number;
}

/** One kernel call: a chain of hidden layers from the observation, then linear heads on its output. */
interface Pass {
  trunk: number[];
  heads: number[];
  /** Which output buffer each head fills: 0 policy, 1 value. */
  outputs: number[];
  /** Those buffers, refreshed when they grow (no array per call on the per-step path). */
  buffers: Float32Array[];
}

export class ModuleInference {
  readonly size: number;
  private readonly layers: WasmDenseLayers;
  /** Image observations: the CNN whose features the towers read. */
  private readonly cnn: ConvInference | null;
  /** Passes computing both outputs, and the value output alone. */
  private readonly passes: Pass[];
  private readonly valuePass: Pass | null;
  private readonly logStd: Float64Array;
  /** exp(logit - max logit) per class, for one row at a time. */
  private readonly expLogits: Float64Array;
  private rng: Rng;
  /** The log-probability of the class `categorical` chose last. */
  private lastLogp = 0;
  /** The policy tower's outputs per row. */
  private readonly policyWidth: number;
  /** An actor-critic head's parts (one unless composite); empty for Q modules and squashed Gaussians. */
  private readonly parts: PartLayout[];
  /** Correlated exploration noise: each env's last draw per action dimension (NaN before the first). */
  private noise = new Float64Array(0);
  // Outputs, grown to the largest batch seen.
  private capacity = 0;
  private policyOut = new Float32Array(0);
  private valueOut = new Float32Array(0);
  private qBuffer = new Float32Array(0);

  constructor(
    readonly spec: ModuleSpec,
    seed: number | string,
  ) {
    this.rng = createRng(seed);
    const towers = spec.towers;
    const firstLayer: number[] = [];
    towers.reduce((n, tower) => {
      firstLayer.push(n);
      return n + tower.layers.length;
    }, 0);
    this.size = weightsSize(spec);
    this.cnn = spec.encoder ? new ConvInference(spec.encoder) : null;
    this.layers = new WasmDenseLayers(
      towers.flatMap((t) => t.layers),
      spec.activation,
    );
    /** The layers from the observation to tower `t`'s last hidden layer, and its output layer. */
    const path = (t: number): { trunk: number[]; head: number } => {
      const own = towers[t].layers.map((_, i) => firstLayer[t] + i);
      const before: number[] = [];
      for (let p = towers[t].input; p >= 0; p = towers[p].input) {
        before.unshift(...towers[p].layers.map((_, i) => firstLayer[p] + i));
      }
      return { trunk: [...before, ...own.slice(0, -1)], head: own[own.length - 1] };
    };
    const policy = path(spec.policyTower);
    const value = spec.valueTower >= 0 ? path(spec.valueTower) : null;
    if (value && value.trunk.join() === policy.trunk.join()) {
      // A shared trunk: one pass, two heads.
      this.passes = [{ trunk: policy.trunk, heads: [policy.head, value.head], outputs: [0, 1], buffers: [] }];
    } else {
      this.passes = [{ trunk: policy.trunk, heads: [policy.head], outputs: [0], buffers: [] }];
      if (value) this.passes.push({ trunk: value.trunk, heads: [value.head], outputs: [1], buffers: [] });
    }
    this.valuePass = value ? { trunk: value.trunk, heads: [value.head], outputs: [1], buffers: [] } : null;
    this.logStd = new Float64Array(spec.logStdDim);
    const head = spec.head;
    this.parts = partLayouts(head);
    const classes = this.parts.map(({ head: part }) =>
      part.kind === "categorical" ? part.n : part.kind === "multi_categorical" ? Math.max(...part.nvec) : 0,
    );
    this.expLogits = new Float64Array(head.kind === "q_values" ? head.n : Math.max(0, ...classes));
    this.policyWidth = policyOutputs(head);
  }

  /** Loads flat weights (the catalog's layout). */
  setWeights(flat: Float32Array): void {
    if (flat.length !== this.size) {
      throw new RangeError(
        `module weights: expected ${this.size} float32s for this module, got ${flat.length}`,
      );
    }
    this.cnn?.setWeights(flat);
    towerViews(this.spec.towers, towerWeights(this.spec, flat))
      .flat()
      .forEach((layer, index) => {
        this.layers.setLayer(index, layer.kernel, layer.bias);
      });
    this.logStd.set(flat.subarray(flat.length - this.spec.logStdDim));
  }

  /** The action-sampling generator's state and the correlated noise, for checkpoints. */
  rngState(): object {
    return { rng: this.rng.state(), noise: Array.from(this.noise) };
  }

  setRngState(state: object): void {
    const saved = state as { rng: object; noise: number[] };
    this.rng = createRng(undefined, saved.rng);
    this.noise = Float64Array.from(saved.noise);
  }

  /** Actions for `batch` observations (`obs`: `[batch * obsDim]`), with log-probabilities and values where the module has them. */
  act(obs: Float32Array, batch: number, mode: ActMode, out: ActOutputs): void {
    const head = this.spec.head;
    const epsilons = mode.greedy ? null : (mode.epsilons ?? null);
    if (head.kind === "q_values") {
      this.epsilonGreedy(obs, batch, epsilons, out);
      return;
    }
    this.run(this.prepare(obs, batch), batch, this.passes);
    if (head.kind === "squashed_gaussian") {
      for (let b = 0; b < batch; b++) this.squashedGaussian(head, b, mode.greedy, epsilons?.[b] ?? 0, out);
      return;
    }
    const { parts, policyWidth } = this;
    const actionDim = this.spec.actionDim;
    for (let b = 0; b < batch; b++) {
      out.values[b] = this.valueOut[b];
      let logp = 0;
      for (const part of parts) {
        logp += this.actPart(part, b * policyWidth, out.actions, b * actionDim, mode.greedy);
      }
      out.logp[b] = logp;
    }
  }

  /**
   * One part of row b's action (the row's outputs at `policyOut[output...]`, its action numbers at
   * `actions[action...]`): sampled, or its mode (greedy); returns its log-probability.
   */
  private actPart(
    part: PartLayout,
    output: number,
    actions: Float32Array,
    action: number,
    greedy: boolean,
  ): number {
    const { head } = part;
    const logits = output + part.output;
    const at = action + part.action;
    switch (head.kind) {
      case "categorical":
        actions[at] = this.categorical(logits, head.n, greedy);
        return this.lastLogp;
      case "multi_categorical":
        return this.multiCategorical(head.nvec, logits, actions, at, greedy);
      case "bernoulli":
        return this.bernoulli(head.n, logits, actions, at, greedy);
      case "gaussian":
        return this.gaussian(head.dim, logits, part.logStd, actions, at, greedy);
    }
  }

  /** V(s) only (`out`: `[batch]`), e.g. V(final observation) for truncated episodes. */
  values(obs: Float32Array, batch: number, out: Float32Array): void {
    if (!this.valuePass || this.spec.head.kind === "q_values") {
      throw new Error("values(): this module has no value function");
    }
    this.run(this.prepare(obs, batch), batch, [this.valuePass]);
    for (let b = 0; b < batch; b++) out[b] = this.valueOut[b];
  }

  /** Q values `[batch * n]` into `out` (dueling: V + A - mean(A)). */
  qValues(obs: Float32Array, batch: number, out: Float32Array): void {
    this.run(this.prepare(obs, batch), batch, this.passes);
    const n = this.expLogits.length;
    const dueling = this.spec.valueTower >= 0;
    for (let b = 0; b < batch; b++) {
      let mean = 0;
      if (dueling) {
        for (let a = 0; a < n; a++) mean += this.policyOut[b * n + a];
        mean /= n;
      }
      for (let a = 0; a < n; a++) {
        out[b * n + a] = dueling
          ? this.policyOut[b * n + a] + this.valueOut[b] - mean
          : this.policyOut[b * n + a];
      }
    }
  }

  /** The towers' passes on `input`: the observations, or the CNN's features of them. */
  private run(input: Float32Array, batch: number, passes: Pass[]): void {
    for (const pass of passes) this.layers.run(input, batch, pass.trunk, pass.heads, pass.buffers);
  }

  /** Frees the CNN's tensors (the dense kernel's memory goes with this object). */
  dispose(): void {
    this.cnn?.dispose();
  }

  /**
   * Row b explores (a uniform action) with probability `epsilons[b]` (none when null), else takes the
   * argmax of Q; Q values are computed only if some row needs them.
   */
  private epsilonGreedy(
    obs: Float32Array,
    batch: number,
    epsilons: ArrayLike<number> | null,
    out: ActOutputs,
  ): void {
    const n = this.expLogits.length;
    let anyGreedy = false;
    for (let b = 0; b < batch; b++) {
      const epsilon = epsilons ? epsilons[b] : 0;
      const explore = epsilon > 0 && this.rng() < epsilon;
      out.actions[b] = explore ? Math.floor(this.rng() * n) : -1;
      anyGreedy ||= !explore;
    }
    if (!anyGreedy) return;
    const q = this.qScratch(batch);
    this.qValues(obs, batch, q);
    for (let b = 0; b < batch; b++) {
      if (out.actions[b] >= 0) continue;
      let best = 0;
      for (let a = 1; a < n; a++) if (q[b * n + a] > q[b * n + best]) best = a;
      out.actions[b] = best;
    }
  }

  private qScratch(batch: number): Float32Array {
    const length = batch * this.expLogits.length;
    if (this.qBuffer.length < length) this.qBuffer = new Float32Array(length);
    return this.qBuffer;
  }

  /**
   * A class from the `n` logits at `policyOut[start...]`: sampled, or the most likely (greedy); its
   * log-probability is left in `lastLogp`.
   */
  private categorical(start: number, n: number, greedy: boolean): number {
    const { policyOut: logits, expLogits } = this;
    let max = Number.NEGATIVE_INFINITY;
    let argmax = 0;
    for (let k = 0; k < n; k++) {
      if (logits[start + k] > max) {
        max = logits[start + k];
        argmax = k;
      }
    }
    let sumExp = 0;
    for (let k = 0; k < n; k++) {
      expLogits[k] = Math.exp(logits[start + k] - max);
      sumExp += expLogits[k];
    }
    let action = argmax;
    if (!greedy) {
      // Inverse CDF: the first class whose cumulative probability passes u.
      let u = this.rng() * sumExp;
      action = n - 1;
      for (let k = 0; k < n; k++) {
        u -= expLogits[k];
        if (u < 0) {
          action = k;
          break;
        }
      }
    }
    this.lastLogp = logits[start + action] - max - Math.log(sumExp);
    return action;
  }

  /**
   * A MultiDiscrete action: one categorical per entry, over consecutive slices of the logits from
   * `policyOut[start]`, into `actions[at...]`; returns its log-probability.
   */
  private multiCategorical(
    nvec: readonly number[],
    start: number,
    actions: Float32Array,
    at: number,
    greedy: boolean,
  ): number {
    let logits = start;
    let logp = 0;
    for (let j = 0; j < nvec.length; j++) {
      actions[at + j] = this.categorical(logits, nvec[j], greedy);
      logp += this.lastLogp;
      logits += nvec[j];
    }
    return logp;
  }

  /**
   * A MultiBinary action from the `n` logits at `policyOut[start]` into `actions[at...]`: each entry 1
   * with probability sigmoid(logit) (greedy: logit > 0); returns its log-probability.
   */
  private bernoulli(n: number, start: number, actions: Float32Array, at: number, greedy: boolean): number {
    let logp = 0;
    for (let j = 0; j < n; j++) {
      const logit = this.policyOut[start + j];
      const p = 1 / (1 + Math.exp(-logit));
      const bit = greedy ? (logit > 0 ? 1 : 0) : this.rng() < p ? 1 : 0;
      actions[at + j] = bit;
      // log p(bit) = bit * logit - softplus(logit), softplus written to stay finite for large logits.
      logp += bit * logit - (Math.max(logit, 0) + Math.log1p(Math.exp(-Math.abs(logit))));
    }
    return logp;
  }

  /**
   * A Box action from the `dim` means at `policyOut[start]` and the log-stds at `logStd[logStdAt]` into
   * `actions[at...]` (greedy: the mean); returns its log-probability.
   */
  private gaussian(
    dim: number,
    start: number,
    logStdAt: number,
    actions: Float32Array,
    at: number,
    greedy: boolean,
  ): number {
    let logp = -0.5 * dim * LOG_2PI;
    for (let k = 0; k < dim; k++) {
      const z = greedy ? 0 : normal(this.rng);
      const logStd = this.logStd[logStdAt + k];
      actions[at + k] = this.policyOut[start + k] + z * Math.exp(logStd);
      logp -= 0.5 * z * z + logStd;
    }
    return logp;
  }

  /**
   * Row `b`'s action from the mean and unsquashed log-std: tanh(mean + std z) (greedy: tanh(mean)), or
   * with probability `epsilon` a uniform draw from [-1, 1] (2 Phi(z) - 1); scaled to the Box's bounds.
   * z is standard normal, drawn afresh or, with the head's `noiseCorrelation`, carried on from row b's
   * previous step (rows are envs, in order, on every call).
   */
  private squashedGaussian(
    head: Extract<ModuleHead, { kind: "squashed_gaussian" }>,
    b: number,
    greedy: boolean,
    epsilon: number,
    out: ActOutputs,
  ): void {
    const { dim, low, high } = head;
    const row = b * 2 * dim;
    const uniform = epsilon > 0 && this.rng() < epsilon;
    for (let k = 0; k < dim; k++) {
      let unit: number;
      if (greedy) unit = Math.tanh(this.policyOut[row + k]);
      else {
        const z = this.explorationNoise(b * dim + k, head.noiseCorrelation);
        const std = Math.exp(squashedLogStd(this.policyOut[row + dim + k]));
        unit = uniform ? 2 * normalCdf(z) - 1 : Math.tanh(this.policyOut[row + k] + std * z);
      }
      out.actions[b * dim + k] = unitToBounds(unit, low[k], high[k]);
    }
  }

  /** A standard normal draw for noise element `i`: fresh, or AR(1) on its last one with correlation `rho`. */
  private explorationNoise(i: number, rho: number): number {
    if (rho === 0) return normal(this.rng);
    const previous = this.noise[i];
    const z = Number.isNaN(previous)
      ? normal(this.rng)
      : rho * previous + Math.sqrt(1 - rho * rho) * normal(this.rng);
    this.noise[i] = z;
    return z;
  }

  /**
   * Checks the observations' length, grows the output buffers to `batch` rows and returns what the
   * towers read: the observations, or their CNN features.
   */
  private prepare(obs: Float32Array, batch: number): Float32Array {
    const { obsDim } = this.spec;
    if (obs.length < batch * obsDim) {
      throw new RangeError(
        `observations: expected ${batch} x ${obsDim} = ${batch * obsDim} numbers, got ${obs.length}`,
      );
    }
    const input = this.cnn ? this.cnn.features(obs, batch) : obs;
    if (batch <= this.capacity) return input;
    this.capacity = batch;
    const head = this.spec.head;
    this.policyOut = new Float32Array(batch * this.policyWidth);
    this.valueOut = new Float32Array(batch);
    for (const pass of [...this.passes, ...(this.valuePass ? [this.valuePass] : [])]) {
      pass.buffers = pass.outputs.map((o) => (o === 0 ? this.policyOut : this.valueOut));
    }
    if (head.kind === "squashed_gaussian") {
      // New rows start with no previous draw; existing ones (a restored state) keep theirs.
      const noise = new Float64Array(batch * head.dim).fill(Number.NaN);
      noise.set(this.noise.subarray(0, noise.length));
      this.noise = noise;
    }
    return input;
  }
}

/** Where each part of an actor-critic head sits in a row (the head itself unless composite); none for other heads. */
function partLayouts(head: ModuleHead): PartLayout[] {
  const parts: PartHead[] =
    head.kind === "composite"
      ? head.parts
      : head.kind === "q_values" || head.kind === "squashed_gaussian" || head.kind === "state_action_values"
        ? []
        : [head];
  const at = { output: 0, action: 0, logStd: 0 };
  return parts.map((part) => {
    const layout = { head: part, ...at };
    at.output += policyOutputs(part);
    at.action += actionNumbers(part);
    at.logStd += part.kind === "gaussian" ? part.dim : 0;
    return layout;
  });
}
