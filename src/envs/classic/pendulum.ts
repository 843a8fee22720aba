/**
 * Pendulum-v1, ported line by line from Gymnasium 1.4 (gymnasium/envs/classic_control/pendulum.py):
 * float64 state `[theta, theta_dot]`, semi-implicit Euler with dt = 0.05, observation
 * `[cos theta, sin theta, theta_dot]` in float32.
 *
 * The torque is float32 (the action space's dtype) and NumPy 2 keeps float32 arithmetic in float32 with
 * Python floats cast down (NEP 50), so the torque terms are rounded to float32 where Gymnasium's are.
 */
import { Box, type TypedArray } from "../spaces.js";
import type { Info, ResetOptions, RgbArray, StepResult } from "../types.js";
import { ClassicControlEnv } from "./base.js";
import { boxCorners, Canvas, rotateMove } from "./raster.js";
import { oneNumberAction, resetOptionNumber, stepBeforeResetError, uniform } from "./utils.js";

export interface PendulumKwargs {
  /** Gravity, 10.0 by default. */
  g?: number;
  render_mode?: "ansi" | "rgb_array";
}

const DEFAULT_X = Math.PI;
const DEFAULT_Y = 1.0;

/** NumPy's float64 `%` (Python's modulo: the result takes the divisor's sign), from npy_divmod. */
function pythonMod(a: number, b: number): number {
  let mod = a % b;
  if (mod !== 0) {
    if (b < 0 !== mod < 0) mod += b;
  } else {
    mod = b < 0 ? -0 : 0;
  }
  return mod;
}

/** The angle in [-pi, pi). */
function angleNormalize(x: number): number {
  return pythonMod(x + Math.PI, 2 * Math.PI) - Math.PI;
}

export class PendulumEnv extends ClassicControlEnv<TypedArray> {
  readonly maxSpeed = 8;
  readonly maxTorque = 2.0;
  readonly dt = 0.05;
  readonly g: number;
  readonly m = 1.0;
  readonly l = 1.0;

  readonly actionSpace = new Box(-this.maxTorque, this.maxTorque, [1], "float32");
  readonly observationSpace = new Box(
    [-1.0, -1.0, -this.maxSpeed],
    [1.0, 1.0, this.maxSpeed],
    [3],
    "float32",
  );
  /** `[theta, theta_dot]` in float64; `step` overwrites it in place. */
  state: Float64Array | null = null;
  /** The last clipped torque (drawn by Gymnasium as an arrow). */
  lastU: number | null = null;

  constructor(kwargs: PendulumKwargs = {}) {
    super("Pendulum-v1", 30, kwargs as Record<string, unknown>, { g: 10.0 });
    this.g = kwargs.g ?? 10.0;
  }

  /** `action[0]` is the torque, clipped to [-2, 2]; the reward is minus the cost of angle, speed and torque. */
  step(action: ArrayLike<number>): StepResult<Float32Array> {
    const s = this.state;
    if (s === null) throw stepBeforeResetError(this.id);
    const action0 = oneNumberAction(this.id, action);
    const th = s[0];
    const thdot = s[1];
    const { g, m, l, dt } = this;

    const u = Math.fround(Math.min(Math.max(Math.fround(action0), -this.maxTorque), this.maxTorque));
    this.lastU = u;
    const angle = angleNormalize(th);
    const uSquared = Math.fround(u * u);
    const costs = angle * angle + 0.1 * (thdot * thdot) + Math.fround(Math.fround(0.001) * uSquared);

    const torqueTerm = Math.fround(Math.fround(3.0 / (m * (l * l))) * u);
    let newthdot = thdot + (((3 * g) / (2 * l)) * Math.sin(th) + torqueTerm) * dt;
    newthdot = Math.min(Math.max(newthdot, -this.maxSpeed), this.maxSpeed);
    const newth = th + newthdot * dt;

    s[0] = newth;
    s[1] = newthdot;
    return [this.observation(s), -costs, false, false, {}];
  }

  /** theta uniform in ±pi and theta_dot in ±1; `options.x_init` / `options.y_init` change the bounds. */
  reset({ seed, options }: ResetOptions = {}): [Float32Array, Info] {
    this.seedRng(seed);
    const x = options ? resetOptionNumber(this.id, options, "x_init", DEFAULT_X) : DEFAULT_X;
    const y = options ? resetOptionNumber(this.id, options, "y_init", DEFAULT_Y) : DEFAULT_Y;
    this.state = Float64Array.of(uniform(this.rng, -x, x), uniform(this.rng, -y, y));
    this.lastU = null;
    return [this.observation(this.state), {}];
  }

  private observation(s: Float64Array): Float32Array {
    const obs = new Float32Array(3);
    obs[0] = Math.cos(s[0]);
    obs[1] = Math.sin(s[0]);
    obs[2] = s[1];
    return obs;
  }

  /** The rod's direction as an arrow (theta 0 points up), with the angle, speed and last torque. */
  protected renderAnsi(s: ArrayLike<number>): string {
    const arrows = ["↑", "↖", "←", "↙", "↓", "↘", "→", "↗"];
    const octant = Math.round(pythonMod(s[0], 2 * Math.PI) / (Math.PI / 4)) % 8;
    const torque = this.lastU === null ? "" : ` torque=${this.lastU.toFixed(2)}`;
    return `${arrows[octant]} theta=${angleNormalize(s[0]).toFixed(3)} theta_dot=${s[1].toFixed(3)}${torque}`;
  }

  /** Gymnasium's picture without the torque arrow image: 500x500, a red rod on a black axle. */
  protected renderRgbArray(s: ArrayLike<number>): RgbArray {
    const canvas = new Canvas(500, 500);
    const scale = canvas.width / (2.2 * 2);
    const offset = Math.floor(canvas.width / 2);
    const rodLength = 1 * scale;
    const rodWidth = 0.2 * scale;
    const red = [204, 77, 77] as const;
    const angle = s[0] + Math.PI / 2;
    canvas.fillPolygon(boxCorners(0, rodLength, rodWidth / 2, -rodWidth / 2, angle, offset, offset), red);
    canvas.fillCircle(offset, offset, rodWidth / 2, red);
    const [endX, endY] = rotateMove([rodLength, 0], angle, offset, offset);
    canvas.fillCircle(endX, endY, rodWidth / 2, red);
    canvas.fillCircle(offset, offset, 0.05 * scale, [0, 0, 0]);
    return canvas.toRgbArray();
  }
}
