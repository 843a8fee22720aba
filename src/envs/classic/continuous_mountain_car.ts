/**
 * MountainCarContinuous-v0, ported line by line from Gymnasium 1.4
 * (gymnasium/envs/classic_control/continuous_mountain_car.py).
 *
 * This env stores its state as a float32 array after every step (float64 after reset), so Gymnasium's
 * arithmetic is partly float32 under NumPy 2's promotion rules (NEP 50): float32 op float32 stays float32,
 * and a Python float meeting a float32 is first cast to float32, in arithmetic and in comparisons. The
 * `*Is32` flags below follow which values are float32 in Gymnasium, and `as32` rounds where NumPy would, so
 * trajectories match to the bit. The action is read as float32, the action space's dtype.
 */
import { Box, type TypedArray } from "../spaces.js";
import type { StepResult } from "../types.js";
import { MountainCarBase } from "./mountain_car.js";
import { float32Copy, oneNumberAction, stepBeforeResetError } from "./utils.js";

export interface ContinuousMountainCarKwargs {
  /** The car must also reach this velocity at the goal. */
  goal_velocity?: number;
  render_mode?: "ansi" | "rgb_array";
}

/** `x` as NumPy holds it: rounded to float32 when `is32`. */
function as32(is32: boolean, x: number): number {
  return is32 ? Math.fround(x) : x;
}

export class ContinuousMountainCarEnv extends MountainCarBase<TypedArray> {
  readonly minAction = -1.0;
  readonly maxAction = 1.0;
  /** 0.5 in MountainCar-v0, 0.45 here (as in Arnaud de Broissia's version). */
  readonly goalPosition = 0.45;
  readonly goalVelocity: number;
  readonly power = 0.0015;

  readonly actionSpace = new Box(-1.0, 1.0, [1], "float32");
  /** `[position, velocity]`: float64 after reset, float32 after a step (Gymnasium's dtypes, which its arithmetic depends on). */
  override state: Float64Array | Float32Array | null = null;
  /** The float32 state `step` writes; reused, so `state` is overwritten by the next step. */
  private readonly stepState = new Float32Array(2);

  constructor(kwargs: ContinuousMountainCarKwargs = {}) {
    super("MountainCarContinuous-v0", 30, kwargs as Record<string, unknown>, { goal_velocity: 0 });
    this.goalVelocity = kwargs.goal_velocity ?? 0;
  }

  /** `action[0]` is the force, clipped to [-1, 1]; reward 100 at the goal minus 0.1 * action². */
  step(action: ArrayLike<number>): StepResult<Float32Array> {
    const s = this.state;
    if (s === null) throw stepBeforeResetError(this.id);
    const action0 = oneNumberAction(this.id, action);
    const stateIs32 = s instanceof Float32Array;
    let position = s[0];
    let velocity = s[1];
    const a = Math.fround(action0);
    // min(max(a, -1.0), 1.0) keeps the float32 `a` unless a bound wins, and the bounds are Python floats.
    let force = a;
    let forceIs32 = true;
    if (this.minAction > a) {
      force = this.minAction;
      forceIs32 = false;
    } else if (this.maxAction < a) {
      force = this.maxAction;
      forceIs32 = false;
    }

    // velocity += force * self.power - 0.0025 * math.cos(3 * position)
    const push = as32(forceIs32, force * as32(forceIs32, this.power));
    const slope = 0.0025 * Math.cos(as32(stateIs32, 3 * position));
    const acceleration = as32(forceIs32, push - as32(forceIs32, slope));
    velocity = as32(stateIs32, velocity + as32(stateIs32, acceleration));
    let velocityIs32 = stateIs32;
    if (velocity > as32(velocityIs32, this.maxSpeed)) {
      velocity = this.maxSpeed;
      velocityIs32 = false;
    }
    if (velocity < as32(velocityIs32, -this.maxSpeed)) {
      velocity = -this.maxSpeed;
      velocityIs32 = false;
    }
    position = as32(stateIs32, position + as32(stateIs32, velocity));
    let positionIs32 = stateIs32;
    if (position > as32(positionIs32, this.maxPosition)) {
      position = this.maxPosition;
      positionIs32 = false;
    }
    if (position < as32(positionIs32, this.minPosition)) {
      position = this.minPosition;
      positionIs32 = false;
    }
    if (position === as32(positionIs32, this.minPosition) && velocity < 0) {
      velocity = 0;
      velocityIs32 = false;
    }

    const terminated =
      position >= as32(positionIs32, this.goalPosition) && velocity >= as32(velocityIs32, this.goalVelocity);
    // math.pow(action[0], 2) of a float32 is exact in float64.
    const reward = (terminated ? 100.0 : 0) - a * a * 0.1;

    this.stepState[0] = position;
    this.stepState[1] = velocity;
    this.state = this.stepState;
    return [float32Copy(this.stepState), reward, terminated, false, {}];
  }
}
