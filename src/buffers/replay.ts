/**
 * Replay buffers for off-policy algorithms (DQN, SAC), in preallocated typed arrays.
 *
 * A transition is what the n-step accumulator (nstep.ts) emits: the observation, the action, the n-step
 * discounted reward sum, the discount to apply to the bootstrap value (gamma^k, 0 after a termination),
 * the observation to bootstrap from, and whether the window ended in a terminal state. Storing the next
 * observation beside the observation doubles the obs memory, but it keeps the n-step and truncation cases
 * (whose bootstrap observation is a final observation the ring never holds as an `obs`) simple and exact.
 *
 * `ReplayBuffer` samples uniformly with replacement. `PrioritizedReplayBuffer` samples transition i with
 * probability p_i^alpha / sum_k p_k^alpha (Schaul et al. 2016) from a sum-tree, and corrects the bias with
 * importance weights (N * P(i))^-beta normalised by the largest possible weight, which a min-tree gives.
 */
import { createRng, type Rng } from "../utils/rng.js";
import { allocateObs, type ObsArray, type ObsDtype } from "./fragment.js";

/** Transitions as struct-of-arrays; the first `count` rows are valid. */
export interface TransitionBatch {
  count: number;
  /** `[count * obsDim]`; uint8 in a buffer of unfiltered uint8 observations, float32 in a sample. */
  obs: ObsArray;
  /** `[count * actionDim]`: class indices (Discrete, relative to the space's start) or Box actions. */
  actions: Float32Array;
  /** n-step discounted reward sums. */
  rewards: Float32Array;
  /** gamma^k for a window of k steps; 0 when the window ended in a terminal state. */
  discounts: Float32Array;
  /** `[count * obsDim]`, the observation to bootstrap from. */
  nextObs: ObsArray;
  terminated: Uint8Array;
}

/**
 * A sampled minibatch: the transitions (observations as float32 whatever the buffer stores), where they
 * sit in the buffer, and their importance weights.
 */
export interface ReplaySample extends TransitionBatch {
  indices: Int32Array;
  /** All 1 for uniform sampling. */
  weights: Float32Array;
}

/**
 * Room for `rows` transitions. `shared`: in SharedArrayBuffers, so a rollout worker thread hands them to
 * the learner without a copy (only the views cross the thread boundary).
 */
export function allocateTransitions(
  rows: number,
  obsDim: number,
  actionDim: number,
  shared = false,
  obsDtype: ObsDtype = "float32",
): TransitionBatch {
  const array = <T>(Ctor: new (buffer: ArrayBufferLike) => T, bytesPerElement: number, length: number): T =>
    new Ctor(
      shared ? new SharedArrayBuffer(bytesPerElement * length) : new ArrayBuffer(bytesPerElement * length),
    );
  return {
    count: 0,
    obs: allocateObs(obsDtype, rows * obsDim, shared),
    actions: array(Float32Array, 4, rows * actionDim),
    rewards: array(Float32Array, 4, rows),
    discounts: array(Float32Array, 4, rows),
    nextObs: allocateObs(obsDtype, rows * obsDim, shared),
    terminated: array(Uint8Array, 1, rows),
  };
}

/** Copies `count` transitions from row `fromRow` of `from` to row `toRow` of `to`. */
export function copyTransitions(
  from: TransitionBatch,
  fromRow: number,
  to: TransitionBatch,
  toRow: number,
  count: number,
  obsDim: number,
  actionDim: number,
): void {
  const rows = (array: ObsArray, width: number) => array.subarray(fromRow * width, (fromRow + count) * width);
  to.obs.set(rows(from.obs, obsDim), toRow * obsDim);
  to.nextObs.set(rows(from.nextObs, obsDim), toRow * obsDim);
  to.actions.set(rows(from.actions, actionDim), toRow * actionDim);
  to.rewards.set(rows(from.rewards, 1), toRow);
  to.discounts.set(rows(from.discounts, 1), toRow);
  to.terminated.set(rows(from.terminated, 1), toRow);
}

/** What `getState()` returns (typed arrays: the checkpoint writer decides how to store them). */
export interface ReplayBufferState {
  type: "uniform" | "prioritized";
  capacity: number;
  obsDim: number;
  actionDim: number;
  size: number;
  next: number;
  rngState: object;
  /** The first `size` rows only. */
  transitions: Omit<TransitionBatch, "count">;
  /** Prioritized only: raw priorities (before `alpha`) of the first `size` slots, and their running max. */
  priorities?: Float64Array;
  maxPriority?: number;
}

export interface ReplayBufferOptions {
  /** Capacity in transitions; the oldest is overwritten first once full. */
  capacity: number;
  obsDim: number;
  /** Numbers per action: 1 for Discrete, the Box's size otherwise. */
  actionDim: number;
  /** uint8 for unfiltered uint8 observations (a quarter of float32's memory); float32 by default. */
  obsDtype?: ObsDtype;
  seed?: number;
}

function checkPositiveInt(value: number, name: string): void {
  if (!Number.isInteger(value) || value <= 0)
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
}

/** Ring buffer with uniform sampling. */
export class ReplayBuffer {
  readonly type: ReplayBufferState["type"] = "uniform";
  readonly capacity: number;
  readonly obsDim: number;
  readonly actionDim: number;
  protected readonly storage: TransitionBatch;
  protected rng: Rng;
  /** Slot the next transition goes to. */
  protected next = 0;
  protected stored = 0;

  constructor({ capacity, obsDim, actionDim, obsDtype = "float32", seed }: ReplayBufferOptions) {
    checkPositiveInt(capacity, "replay_buffer_config.capacity");
    checkPositiveInt(obsDim, "replay buffer obsDim");
    checkPositiveInt(actionDim, "replay buffer actionDim");
    this.capacity = capacity;
    this.obsDim = obsDim;
    this.actionDim = actionDim;
    this.storage = allocateTransitions(capacity, obsDim, actionDim, false, obsDtype);
    this.rng = createRng(seed);
  }

  /** Transitions stored (at most `capacity`). */
  get size(): number {
    return this.stored;
  }

  /** Bytes held by the transition arrays (and, for the prioritized buffer, its trees). */
  memoryBytes(): number {
    const { obs, actions, rewards, discounts, nextObs, terminated } = this.storage;
    return [obs, actions, rewards, discounts, nextObs, terminated].reduce((sum, a) => sum + a.byteLength, 0);
  }

  addBatch(batch: TransitionBatch): void {
    const { obsDim, actionDim, storage } = this;
    if (batch.obs.length < batch.count * obsDim || batch.nextObs.length < batch.count * obsDim) {
      throw new RangeError(
        `replay buffer: a batch of ${batch.count} transitions needs obs of ${batch.count * obsDim}`,
      );
    }
    // In contiguous runs: up to the end of the ring, then from its start.
    for (let done = 0; done < batch.count; ) {
      const count = Math.min(batch.count - done, this.capacity - this.next);
      copyTransitions(batch, done, storage, this.next, count, obsDim, actionDim);
      for (let k = 0; k < count; k++) this.onInsert(this.next + k);
      this.next = (this.next + count) % this.capacity;
      this.stored = Math.min(this.stored + count, this.capacity);
      done += count;
    }
  }

  /** Hook for subclasses that keep per-slot data (priorities). */
  protected onInsert(_slot: number): void {}

  /** `batchSize` transitions drawn uniformly with replacement. `_beta` is the prioritized buffer's. */
  sample(batchSize: number, _beta?: number): ReplaySample {
    this.checkSampleable(batchSize);
    const indices = new Int32Array(batchSize);
    for (let i = 0; i < batchSize; i++) indices[i] = Math.floor(this.rng() * this.stored);
    return this.gather(indices, new Float32Array(batchSize).fill(1));
  }

  protected checkSampleable(batchSize: number): void {
    checkPositiveInt(batchSize, "train_batch_size");
    if (this.stored === 0) throw new Error("replay buffer is empty: add transitions before sampling");
  }

  protected gather(indices: Int32Array, weights: Float32Array): ReplaySample {
    const { obsDim, actionDim, storage } = this;
    // Observations as float32 (allocateTransitions' default), whatever the buffer stores.
    const sample: ReplaySample = {
      ...allocateTransitions(indices.length, obsDim, actionDim),
      indices,
      weights,
    };
    sample.count = indices.length;
    // Row by row without `copyTransitions`' six views a row: this runs for every gradient step.
    for (let i = 0; i < indices.length; i++) {
      const slot = indices[i];
      sample.obs.set(storage.obs.subarray(slot * obsDim, (slot + 1) * obsDim), i * obsDim);
      sample.nextObs.set(storage.nextObs.subarray(slot * obsDim, (slot + 1) * obsDim), i * obsDim);
      for (let k = 0; k < actionDim; k++)
        sample.actions[i * actionDim + k] = storage.actions[slot * actionDim + k];
      sample.rewards[i] = storage.rewards[slot];
      sample.discounts[i] = storage.discounts[slot];
      sample.terminated[i] = storage.terminated[slot];
    }
    return sample;
  }

  getState(): ReplayBufferState {
    const rows = this.stored;
    const { obsDim, storage } = this;
    return {
      type: this.type,
      capacity: this.capacity,
      obsDim,
      actionDim: this.actionDim,
      size: rows,
      next: this.next,
      rngState: this.rng.state(),
      transitions: {
        obs: storage.obs.slice(0, rows * obsDim),
        actions: storage.actions.slice(0, rows * this.actionDim),
        rewards: storage.rewards.slice(0, rows),
        discounts: storage.discounts.slice(0, rows),
        nextObs: storage.nextObs.slice(0, rows * obsDim),
        terminated: storage.terminated.slice(0, rows),
      },
    };
  }

  setState(state: ReplayBufferState): void {
    const { type, capacity, obsDim, actionDim } = this;
    if (
      state.type !== type ||
      state.capacity !== capacity ||
      state.obsDim !== obsDim ||
      state.actionDim !== actionDim
    ) {
      throw new Error(
        `replay buffer state is a ${state.type} buffer of capacity ${state.capacity}, obsDim ${state.obsDim} and actionDim ${state.actionDim}; ` +
          `this is a ${type} buffer of capacity ${capacity}, obsDim ${obsDim} and actionDim ${actionDim}`,
      );
    }
    const { transitions } = state;
    const { storage } = this;
    if (transitions.obs.constructor !== storage.obs.constructor) {
      throw new Error(
        `replay buffer state holds ${transitions.obs.constructor.name} observations, this buffer stores ${storage.obs.constructor.name} ones (uint8 frames are stored as float32 under a MeanStdFilter): restore with the observation_filter the checkpoint was written with`,
      );
    }
    storage.obs.set(transitions.obs);
    storage.nextObs.set(transitions.nextObs);
    storage.actions.set(transitions.actions);
    storage.rewards.set(transitions.rewards);
    storage.discounts.set(transitions.discounts);
    storage.terminated.set(transitions.terminated);
    this.stored = state.size;
    this.next = state.next;
    this.rng = createRng(undefined, state.rngState);
  }
}

/**
 * A complete binary tree over `capacity` leaves (rounded up to a power of two) where each inner node holds
 * `combine` of its children, so a range's aggregate and a point update cost O(log n).
 */
class SegmentTree {
  protected readonly leaves: number;
  protected readonly nodes: Float64Array;

  constructor(
    capacity: number,
    private readonly combine: (a: number, b: number) => number,
    private readonly neutral: number,
  ) {
    this.leaves = 2 ** Math.ceil(Math.log2(Math.max(capacity, 1)));
    this.nodes = new Float64Array(2 * this.leaves).fill(neutral);
  }

  set(index: number, value: number): void {
    let node = index + this.leaves;
    this.nodes[node] = value;
    for (node >>= 1; node >= 1; node >>= 1) {
      this.nodes[node] = this.combine(this.nodes[2 * node], this.nodes[2 * node + 1]);
    }
  }

  get(index: number): number {
    return this.nodes[index + this.leaves];
  }

  /** The aggregate over all leaves. */
  root(): number {
    return this.nodes[1];
  }

  reset(): void {
    this.nodes.fill(this.neutral);
  }

  get byteLength(): number {
    return this.nodes.byteLength;
  }
}

class SumTree extends SegmentTree {
  constructor(capacity: number) {
    super(capacity, (a, b) => a + b, 0);
  }

  /** The leaf i where the prefix sum of leaves before i is <= mass < that prefix plus leaf i. */
  findPrefixSum(mass: number): number {
    let node = 1;
    while (node < this.leaves) {
      const left = 2 * node;
      if (this.nodes[left] > mass) node = left;
      else {
        mass -= this.nodes[left];
        node = left + 1;
      }
    }
    return node - this.leaves;
  }
}

export interface PrioritizedReplayBufferOptions extends ReplayBufferOptions {
  /** How much prioritisation is used: 0 is uniform, 1 fully proportional. */
  alpha: number;
  /** Added to |TD error| so no transition gets probability 0. */
  epsilon?: number;
}

/** Proportional prioritized replay (Schaul et al. 2016), as RLlib's and OpenAI Baselines' buffers. */
export class PrioritizedReplayBuffer extends ReplayBuffer {
  override readonly type = "prioritized";
  readonly alpha: number;
  readonly epsilon: number;
  private readonly sumTree: SumTree;
  private readonly minTree: SegmentTree;
  /** Raw priorities (before `alpha`), kept so a checkpoint restores the trees exactly. */
  private readonly priorities: Float64Array;
  /** New transitions get the largest priority seen so far, so each is replayed at least once soon. */
  private maxPriority = 1;

  constructor({ alpha, epsilon = 1e-6, ...options }: PrioritizedReplayBufferOptions) {
    super(options);
    if (!(alpha >= 0)) throw new RangeError(`replay_buffer_config.alpha must be >= 0, got ${alpha}`);
    if (!(epsilon > 0)) throw new RangeError(`replay_buffer_config.epsilon must be > 0, got ${epsilon}`);
    this.alpha = alpha;
    this.epsilon = epsilon;
    this.sumTree = new SumTree(this.capacity);
    this.minTree = new SegmentTree(this.capacity, Math.min, Number.POSITIVE_INFINITY);
    this.priorities = new Float64Array(this.capacity);
  }

  override memoryBytes(): number {
    return (
      super.memoryBytes() + this.sumTree.byteLength + this.minTree.byteLength + this.priorities.byteLength
    );
  }

  protected override onInsert(slot: number): void {
    this.setPriority(slot, this.maxPriority);
  }

  private setPriority(slot: number, priority: number): void {
    this.priorities[slot] = priority;
    const scaled = priority ** this.alpha;
    this.sumTree.set(slot, scaled);
    this.minTree.set(slot, scaled);
  }

  /** Probability of drawing `slot` in one draw. */
  probability(slot: number): number {
    return this.sumTree.get(slot) / this.sumTree.root();
  }

  /**
   * `batchSize` transitions drawn with replacement in proportion to priority^alpha, with importance
   * weights (N * P(i))^-beta / max_j (N * P(j))^-beta, so the largest weight is at most 1.
   */
  override sample(batchSize: number, beta = 1): ReplaySample {
    this.checkSampleable(batchSize);
    if (!(beta >= 0)) throw new RangeError(`replay_buffer_config.beta must be >= 0, got ${beta}`);
    const total = this.sumTree.root();
    const indices = new Int32Array(batchSize);
    for (let i = 0; i < batchSize; i++) {
      // Rounding in the tree's partial sums can walk past the filled slots onto an empty leaf; the filled
      // slots are 0..size-1, so clamping keeps the draw on a real transition.
      indices[i] = Math.min(this.sumTree.findPrefixSum(this.rng() * total), this.stored - 1);
    }
    const n = this.stored;
    const maxWeight = ((this.minTree.root() / total) * n) ** -beta;
    const weights = new Float32Array(batchSize);
    for (let i = 0; i < batchSize; i++) {
      weights[i] = ((this.sumTree.get(indices[i]) / total) * n) ** -beta / maxWeight;
    }
    return this.gather(indices, weights);
  }

  /** Sets the priorities of sampled transitions to |TD error| + epsilon. */
  updatePriorities(indices: Int32Array, tdErrors: ArrayLike<number>): void {
    if (indices.length !== tdErrors.length) {
      throw new RangeError(`updatePriorities: ${indices.length} indices but ${tdErrors.length} TD errors`);
    }
    for (let i = 0; i < indices.length; i++) {
      const slot = indices[i];
      if (!(slot >= 0 && slot < this.stored)) {
        throw new RangeError(`updatePriorities: index ${slot} is not a stored slot (0..${this.stored - 1})`);
      }
      const td = tdErrors[i];
      if (!Number.isFinite(td)) {
        throw new RangeError(
          `updatePriorities: TD error ${td} at slot ${slot} is not finite (diverged Q values?)`,
        );
      }
      const priority = Math.abs(td) + this.epsilon;
      this.setPriority(slot, priority);
      this.maxPriority = Math.max(this.maxPriority, priority);
    }
  }

  override getState(): ReplayBufferState {
    return {
      ...super.getState(),
      priorities: this.priorities.slice(0, this.stored),
      maxPriority: this.maxPriority,
    };
  }

  override setState(state: ReplayBufferState): void {
    super.setState(state);
    if (!state.priorities || state.maxPriority === undefined) {
      throw new Error("prioritized replay buffer state has no priorities");
    }
    this.sumTree.reset();
    this.minTree.reset();
    this.priorities.fill(0);
    for (let slot = 0; slot < state.size; slot++) this.setPriority(slot, state.priorities[slot]);
    this.maxPriority = state.maxPriority;
  }
}
