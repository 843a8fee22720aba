/**
 * Acrobot-v1, ported line by line from Gymnasium 1.4 (gymnasium/envs/classic_control/acrobot.py):
 * the "book" dynamics, one classic Runge-Kutta 4 step of dt = 0.2 over the state augmented with the
 * torque (Gymnasium's `rk4(derivs, s_augmented, [0, dt])`), then wrapping the angles and bounding the
 * velocities. Observation `[cos t1, sin t1, cos t2, sin t2, dt1, dt2]` in float32.
 */
import { Box, Discrete } from "../spaces.js";
import type { Info, ResetOptions, RgbArray, StepResult } from "../types.js";
import { ClassicControlEnv } from "./base.js";
import { boxCorners, Canvas, type Point } from "./raster.js";
import { resetBounds, stepBeforeResetError, uniformArray } from "./utils.js";

export interface AcrobotKwargs {
  render_mode?: "ansi" | "rgb_array";
}

/** Wraps `x` into [m, M] by whole turns (Gymnasium's `wrap`). */
function wrap(x: number, m: number, M: number): number {
  const diff = M - m;
  while (x > M) x = x - diff;
  while (x < m) x = x + diff;
  return x;
}

/** Gymnasium's `bound`: `min(max(x, m), M)`. */
function bound(x: number, m: number, M: number): number {
  return Math.min(Math.max(x, m), M);
}

export class AcrobotEnv extends ClassicControlEnv<number> {
  /** Integration time step [s]. */
  readonly dt = 0.2;
  readonly LINK_LENGTH_1 = 1.0;
  readonly LINK_LENGTH_2 = 1.0;
  readonly LINK_MASS_1 = 1.0;
  readonly LINK_MASS_2 = 1.0;
  /** Position of the centre of mass of each link [m]. */
  readonly LINK_COM_POS_1 = 0.5;
  readonly LINK_COM_POS_2 = 0.5;
  /** Moment of inertia of both links. */
  readonly LINK_MOI = 1.0;
  readonly MAX_VEL_1 = 4 * Math.PI;
  readonly MAX_VEL_2 = 9 * Math.PI;
  readonly AVAIL_TORQUE = [-1.0, 0.0, +1];

  readonly actionSpace = new Discrete(3);
  readonly observationSpace: Box;
  /** `[theta1, theta2, dtheta1, dtheta2]` in float64 (float32 values after reset, as Gymnasium); overwritten by `step`. */
  state: Float64Array | null = null;
  /** Runge-Kutta scratch: the augmented state `[s, torque]`, the four slopes and the probe point. */
  private readonly y0 = new Float64Array(5);
  private readonly k1 = new Float64Array(5);
  private readonly k2 = new Float64Array(5);
  private readonly k3 = new Float64Array(5);
  private readonly k4 = new Float64Array(5);
  private readonly probe = new Float64Array(5);

  constructor(kwargs: AcrobotKwargs = {}) {
    super("Acrobot-v1", 15, kwargs as Record<string, unknown>, {});
    const high = [1.0, 1.0, 1.0, 1.0, this.MAX_VEL_1, this.MAX_VEL_2].map(Math.fround);
    this.observationSpace = new Box(
      high.map((h) => -h),
      high,
      [6],
      "float32",
    );
  }

  /** Action 0, 1, 2 applies torque -1, 0, +1 at the joint between the links; reward -1 until the tip is high enough. */
  step(action: number): StepResult<Float32Array> {
    const s = this.state;
    if (s === null) throw stepBeforeResetError(this.id);
    const torque = this.AVAIL_TORQUE[action];
    if (torque === undefined) {
      throw new RangeError(`${this.id}: action must be 0, 1 or 2 (Discrete(3)), got ${String(action)}`);
    }
    const { y0, k1, k2, k3, k4, probe } = this;
    y0.set(s);
    y0[4] = torque;

    // rk4(self._dsdt, s_augmented, [0, self.dt]): a single step from t = 0 to t = dt.
    const dt = this.dt - 0;
    const dt2 = dt / 2.0;
    this.dsdt(y0, k1);
    for (let i = 0; i < 5; i++) probe[i] = y0[i] + dt2 * k1[i];
    this.dsdt(probe, k2);
    for (let i = 0; i < 5; i++) probe[i] = y0[i] + dt2 * k2[i];
    this.dsdt(probe, k3);
    for (let i = 0; i < 5; i++) probe[i] = y0[i] + dt * k3[i];
    this.dsdt(probe, k4);
    for (let i = 0; i < 4; i++) s[i] = y0[i] + (dt / 6.0) * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);

    s[0] = wrap(s[0], -Math.PI, Math.PI);
    s[1] = wrap(s[1], -Math.PI, Math.PI);
    s[2] = bound(s[2], -this.MAX_VEL_1, this.MAX_VEL_1);
    s[3] = bound(s[3], -this.MAX_VEL_2, this.MAX_VEL_2);
    const terminated = this.terminal(s);
    const reward = !terminated ? -1.0 : 0.0;
    return [this.observation(s), reward, terminated, false, {}];
  }

  /** Each state variable uniform in `[low, high)`, ±0.1 by default, rounded to float32 as Gymnasium does. */
  reset({ seed, options }: ResetOptions = {}): [Float32Array, Info] {
    this.seedRng(seed);
    const [low, high] = resetBounds(this.id, options, -0.1, 0.1);
    this.state = uniformArray(this.rng, 4, low, high).map(Math.fround);
    return [this.observation(this.state), {}];
  }

  private observation(s: Float64Array): Float32Array {
    const obs = new Float32Array(6);
    obs[0] = Math.cos(s[0]);
    obs[1] = Math.sin(s[0]);
    obs[2] = Math.cos(s[1]);
    obs[3] = Math.sin(s[1]);
    obs[4] = s[2];
    obs[5] = s[3];
    return obs;
  }

  /** The free end is more than one link length above the pivot. */
  private terminal(s: Float64Array): boolean {
    return -Math.cos(s[0]) - Math.cos(s[1] + s[0]) > 1.0;
  }

  /** Time derivative of the augmented state `y` (the torque's is 0), written into `out`. */
  private dsdt(y: Float64Array, out: Float64Array): void {
    const m1 = this.LINK_MASS_1;
    const m2 = this.LINK_MASS_2;
    const l1 = this.LINK_LENGTH_1;
    const lc1 = this.LINK_COM_POS_1;
    const lc2 = this.LINK_COM_POS_2;
    const I1 = this.LINK_MOI;
    const I2 = this.LINK_MOI;
    const g = 9.8;
    const a = y[4];
    const theta1 = y[0];
    const theta2 = y[1];
    const dtheta1 = y[2];
    const dtheta2 = y[3];
    const d1 = m1 * lc1 ** 2 + m2 * (l1 ** 2 + lc2 ** 2 + 2 * l1 * lc2 * Math.cos(theta2)) + I1 + I2;
    const d2 = m2 * (lc2 ** 2 + l1 * lc2 * Math.cos(theta2)) + I2;
    const phi2 = m2 * lc2 * g * Math.cos(theta1 + theta2 - Math.PI / 2.0);
    const phi1 =
      -m2 * l1 * lc2 * (dtheta2 * dtheta2) * Math.sin(theta2) -
      2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * Math.sin(theta2) +
      (m1 * lc1 + m2 * l1) * g * Math.cos(theta1 - Math.PI / 2) +
      phi2;
    // The "book" dynamics (Gymnasium's default `book_or_nips`), consistent with the Java implementation.
    const ddtheta2 =
      (a + (d2 / d1) * phi1 - m2 * l1 * lc2 * (dtheta1 * dtheta1) * Math.sin(theta2) - phi2) /
      (m2 * lc2 ** 2 + I2 - (d2 * d2) / d1);
    const ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    out[0] = dtheta1;
    out[1] = dtheta2;
    out[2] = ddtheta1;
    out[3] = ddtheta2;
    out[4] = 0.0;
  }

  /** Each link's direction as an arrow and the tip height (above 1 ends the episode). */
  protected renderAnsi(s: ArrayLike<number>): string {
    const arrows = ["↓", "↘", "→", "↗", "↑", "↖", "←", "↙"];
    const arrow = (angle: number) => arrows[((Math.round(angle / (Math.PI / 4)) % 8) + 8) % 8];
    const tip = -Math.cos(s[0]) - Math.cos(s[1] + s[0]);
    return `${arrow(s[0])}${arrow(s[0] + s[1])} tip height=${tip.toFixed(3)} (goal > 1) theta1=${s[0].toFixed(3)} theta2=${s[1].toFixed(3)}`;
  }

  /** Gymnasium's picture: 500x500, two cyan links with yellow joints, a black line at the goal height. */
  protected renderRgbArray(s: ArrayLike<number>): RgbArray {
    const canvas = new Canvas(500, 500);
    const bound = this.LINK_LENGTH_1 + this.LINK_LENGTH_2 + 0.2;
    const scale = canvas.width / (bound * 2);
    const offset = canvas.width / 2;
    // The first joint at the centre; the second where link 1 ends (Gymnasium's xys with x and y swapped).
    const p1: Point = [
      this.LINK_LENGTH_1 * Math.sin(s[0]) * scale,
      -this.LINK_LENGTH_1 * Math.cos(s[0]) * scale,
    ];
    const joints: Point[] = [[0, 0], p1];
    const thetas = [s[0] - Math.PI / 2, s[0] + s[1] - Math.PI / 2];
    const linkLengths = [this.LINK_LENGTH_1 * scale, this.LINK_LENGTH_2 * scale];
    canvas.line(
      [-2.2 * scale + offset, 1 * scale + offset],
      [2.2 * scale + offset, 1 * scale + offset],
      [0, 0, 0],
    );
    for (let i = 0; i < 2; i++) {
      const x = joints[i][0] + offset;
      const y = joints[i][1] + offset;
      canvas.fillPolygon(
        boxCorners(0, linkLengths[i], 0.1 * scale, -0.1 * scale, thetas[i], x, y),
        [0, 204, 204],
      );
      canvas.fillCircle(x, y, 0.1 * scale, [204, 204, 0]);
    }
    return canvas.toRgbArray();
  }
}
