/**
 * CartPole-v1, ported line by line from Gymnasium 1.4 (gymnasium/envs/classic_control/cartpole.py):
 * the same constants, the same Euler / semi-implicit Euler step in float64, the same termination and
 * rewards (including `sutton_barto_reward` and the steps after termination), the observation cast to
 * float32.
 */
import { Box, Discrete } from "../spaces.js";
import type { Info, ResetOptions, RgbArray, StepResult } from "../types.js";
import { ClassicControlEnv } from "./base.js";
import { boxCorners, Canvas } from "./raster.js";
import {
  float32Copy,
  resetBounds,
  stepBeforeResetError,
  textTrack,
  uniformArray,
  warnStepAfterTermination,
} from "./utils.js";

export interface CartPoleKwargs {
  /** Reward 0 per step and -1 on termination (Sutton & Barto's original) instead of +1 per step. */
  sutton_barto_reward?: boolean;
  render_mode?: "ansi" | "rgb_array";
}

export class CartPoleEnv extends ClassicControlEnv<number> {
  readonly gravity = 9.8;
  readonly masscart = 1.0;
  readonly masspole = 0.1;
  readonly totalMass = this.masspole + this.masscart;
  /** Half the pole's length. */
  readonly length = 0.5;
  readonly polemassLength = this.masspole * this.length;
  readonly forceMag = 10.0;
  /** Seconds between state updates. */
  readonly tau = 0.02;
  kinematicsIntegrator: "euler" | "semi-implicit euler" = "euler";
  /** Angle at which the episode fails (12 degrees). */
  readonly thetaThresholdRadians = (12 * 2 * Math.PI) / 360;
  readonly xThreshold = 2.4;
  readonly suttonBartoReward: boolean;

  readonly actionSpace = new Discrete(2);
  readonly observationSpace: Box;
  /** `[x, x_dot, theta, theta_dot]` in float64; `step` overwrites it in place. */
  state: Float64Array | null = null;
  /** null while the episode runs; counts the steps taken after termination (Gymnasium's bookkeeping). */
  private stepsBeyondTerminated: number | null = null;

  constructor(kwargs: CartPoleKwargs = {}) {
    super("CartPole-v1", 50, kwargs as Record<string, unknown>, { sutton_barto_reward: false });
    this.suttonBartoReward = kwargs.sutton_barto_reward ?? false;
    // Twice the failure angle, so the observation that fails is still inside the space.
    const high = [this.xThreshold * 2, Infinity, this.thetaThresholdRadians * 2, Infinity].map(Math.fround);
    this.observationSpace = new Box(
      high.map((h) => -h),
      high,
      [4],
      "float32",
    );
  }

  step(action: number): StepResult<Float32Array> {
    const s = this.state;
    if (s === null) throw stepBeforeResetError(this.id);
    if (action !== 0 && action !== 1) {
      throw new RangeError(`${this.id}: action must be 0 or 1 (Discrete(2)), got ${String(action)}`);
    }
    let x = s[0];
    let xDot = s[1];
    let theta = s[2];
    let thetaDot = s[3];
    const force = action === 1 ? this.forceMag : -this.forceMag;
    const costheta = Math.cos(theta);
    const sintheta = Math.sin(theta);
    // https://coneural.org/florian/papers/05_cart_pole.pdf
    const temp = (force + this.polemassLength * (thetaDot * thetaDot) * sintheta) / this.totalMass;
    const thetaacc =
      (this.gravity * sintheta - costheta * temp) /
      (this.length * (4.0 / 3.0 - (this.masspole * (costheta * costheta)) / this.totalMass));
    const xacc = temp - (this.polemassLength * thetaacc * costheta) / this.totalMass;
    if (this.kinematicsIntegrator === "euler") {
      x = x + this.tau * xDot;
      xDot = xDot + this.tau * xacc;
      theta = theta + this.tau * thetaDot;
      thetaDot = thetaDot + this.tau * thetaacc;
    } else {
      xDot = xDot + this.tau * xacc;
      x = x + this.tau * xDot;
      thetaDot = thetaDot + this.tau * thetaacc;
      theta = theta + this.tau * thetaDot;
    }
    s[0] = x;
    s[1] = xDot;
    s[2] = theta;
    s[3] = thetaDot;

    const terminated =
      x < -this.xThreshold ||
      x > this.xThreshold ||
      theta < -this.thetaThresholdRadians ||
      theta > this.thetaThresholdRadians;
    let reward: number;
    if (!terminated) {
      reward = this.suttonBartoReward ? 0.0 : 1.0;
    } else if (this.stepsBeyondTerminated === null) {
      // The pole just fell.
      this.stepsBeyondTerminated = 0;
      reward = this.suttonBartoReward ? -1.0 : 1.0;
    } else {
      if (this.stepsBeyondTerminated === 0) warnStepAfterTermination(this.id);
      this.stepsBeyondTerminated += 1;
      reward = this.suttonBartoReward ? -1.0 : 0.0;
    }
    // truncated is false: the time limit is the registry's TimeLimit wrapper, as in Gymnasium.
    return [float32Copy(s), reward, terminated, false, {}];
  }

  /** Each state variable uniform in `[low, high)`: ±0.05 by default, `options.low` / `options.high` to change. */
  reset({ seed, options }: ResetOptions = {}): [Float32Array, Info] {
    this.seedRng(seed);
    const [low, high] = resetBounds(this.id, options, -0.05, 0.05);
    this.state = uniformArray(this.rng, 4, low, high);
    this.stepsBeyondTerminated = null;
    return [float32Copy(this.state), {}];
  }

  /** Pole above the cart on a track of ±2.4, e.g. "    /" over "----#----" (pole leaning right). */
  protected renderAnsi(s: ArrayLike<number>): string {
    const width = 49;
    const column = ((s[0] + this.xThreshold) / (2 * this.xThreshold)) * (width - 1);
    const pole = s[2] > 0.035 ? "/" : s[2] < -0.035 ? "\\" : "|";
    const values = `x=${s[0].toFixed(3)} theta=${s[2].toFixed(3)}`;
    return `${textTrack(width, column, pole, " ")}\n${textTrack(width, column, "#")}  ${values}`;
  }

  /** Gymnasium's picture: 600x400, black cart, brown pole, blue axle, black track line. */
  protected renderRgbArray(s: ArrayLike<number>): RgbArray {
    const canvas = new Canvas(600, 400);
    const scale = canvas.width / (this.xThreshold * 2);
    const polewidth = 10.0;
    const polelen = scale * (2 * this.length);
    const cartwidth = 50.0;
    const cartheight = 30.0;
    const axleoffset = cartheight / 4.0;
    const cartx = s[0] * scale + canvas.width / 2.0;
    const carty = 100;
    canvas.fillPolygon(
      boxCorners(-cartwidth / 2, cartwidth / 2, cartheight / 2, -cartheight / 2, 0, cartx, carty),
      [0, 0, 0],
    );
    canvas.fillPolygon(
      boxCorners(
        -polewidth / 2,
        polewidth / 2,
        polelen - polewidth / 2,
        -polewidth / 2,
        -s[2],
        cartx,
        carty + axleoffset,
      ),
      [202, 152, 101],
    );
    canvas.fillCircle(cartx, carty + axleoffset, polewidth / 2, [129, 132, 203]);
    canvas.line([0, carty], [canvas.width, carty], [0, 0, 0]);
    return canvas.toRgbArray();
  }
}
