/**
 * MountainCar-v0, ported line by line from Gymnasium 1.4 (gymnasium/envs/classic_control/mountain_car.py):
 * float64 state, the same clipping order, reward -1 per step. The reset and the pictures are shared with
 * MountainCarContinuous-v0, which imports them from here.
 */
import { Box, Discrete } from "../spaces.js";
import type { Info, ResetOptions, RgbArray, StepResult } from "../types.js";
import { ClassicControlEnv } from "./base.js";
import { boxCorners, Canvas, type Point, rotateMove } from "./raster.js";
import { float32Copy, resetBounds, stepBeforeResetError, textTrack, uniform } from "./utils.js";

export interface MountainCarKwargs {
  /** The car must also reach this velocity at the goal. */
  goal_velocity?: number;
  render_mode?: "ansi" | "rgb_array";
}

const MIN_POSITION = -1.2;
const MAX_POSITION = 0.6;
const MAX_SPEED = 0.07;

/** Both MountainCars start at rest at a position uniform in `[-0.6, -0.4)` (`options.low` / `options.high`). */
function mountainCarStartState(envId: string, rng: () => number, options?: Record<string, unknown>) {
  const [low, high] = resetBounds(envId, options, -0.6, -0.4);
  return Float64Array.of(uniform(rng, low, high), 0);
}

/** Observation space of both MountainCars: `[position, velocity]` in float32. */
function mountainCarObservationSpace(): Box {
  return new Box(
    [MIN_POSITION, -MAX_SPEED].map(Math.fround),
    [MAX_POSITION, MAX_SPEED].map(Math.fround),
    [2],
    "float32",
  );
}

function hillHeight(x: number): number {
  return Math.sin(3 * x) * 0.45 + 0.55;
}

/** The hill as a line, the car "o" on it and the flag "F" at the goal. */
function mountainCarAnsi(position: number, velocity: number, goalPosition: number): string {
  const width = 49;
  const column = (x: number) => ((x - MIN_POSITION) / (MAX_POSITION - MIN_POSITION)) * (width - 1);
  const track = textTrack(width, column(goalPosition), "F").split("");
  track[Math.min(width - 1, Math.max(0, Math.round(column(position))))] = "o";
  return `${track.join("")}  position=${position.toFixed(3)} velocity=${velocity.toFixed(4)}`;
}

/** Gymnasium's picture: 600x400, the hill, a black car with grey wheels tilted by the slope, a yellow flag. */
function mountainCarRgbArray(pos: number, goalPosition: number): RgbArray {
  const canvas = new Canvas(600, 400);
  const scale = canvas.width / (MAX_POSITION - MIN_POSITION);
  const carwidth = 40;
  const carheight = 20;
  const hill: Point[] = Array.from({ length: 100 }, (_, i) => {
    const x = MIN_POSITION + ((MAX_POSITION - MIN_POSITION) * i) / 99;
    return [(x - MIN_POSITION) * scale, hillHeight(x) * scale];
  });
  canvas.polyline(hill, [0, 0, 0]);
  const clearance = 10;
  const carX = (pos - MIN_POSITION) * scale;
  const carY = clearance + hillHeight(pos) * scale;
  const tilt = Math.cos(3 * pos);
  canvas.fillPolygon(boxCorners(-carwidth / 2, carwidth / 2, carheight, 0, tilt, carX, carY), [0, 0, 0]);
  for (const wheel of [
    rotateMove([carwidth / 4, 0], tilt, carX, carY),
    rotateMove([-carwidth / 4, 0], tilt, carX, carY),
  ]) {
    canvas.fillCircle(wheel[0], wheel[1], carheight / 2.5, [128, 128, 128]);
  }
  const flagx = Math.trunc((goalPosition - MIN_POSITION) * scale);
  const flagy1 = Math.trunc(hillHeight(goalPosition) * scale);
  const flagy2 = flagy1 + 50;
  canvas.line([flagx, flagy1], [flagx, flagy2], [0, 0, 0]);
  canvas.fillPolygon(
    [
      [flagx, flagy2],
      [flagx, flagy2 - 10],
      [flagx + 25, flagy2 - 5],
    ],
    [204, 204, 0],
  );
  return canvas.toRgbArray();
}

/** What both mountain cars share: the start state, the observation space and the pictures. */
export abstract class MountainCarBase<Act> extends ClassicControlEnv<Act> {
  readonly minPosition = MIN_POSITION;
  readonly maxPosition = MAX_POSITION;
  readonly maxSpeed = MAX_SPEED;
  abstract readonly goalPosition: number;
  readonly observationSpace = mountainCarObservationSpace();
  state: Float64Array | Float32Array | null = null;

  reset({ seed, options }: ResetOptions = {}): [Float32Array, Info] {
    this.seedRng(seed);
    this.state = mountainCarStartState(this.id, this.rng, options);
    return [float32Copy(this.state), {}];
  }

  protected renderAnsi(s: ArrayLike<number>): string {
    return mountainCarAnsi(s[0], s[1], this.goalPosition);
  }

  protected renderRgbArray(s: ArrayLike<number>): RgbArray {
    return mountainCarRgbArray(s[0], this.goalPosition);
  }
}

export class MountainCarEnv extends MountainCarBase<number> {
  readonly goalPosition = 0.5;
  readonly goalVelocity: number;
  readonly force = 0.001;
  readonly gravity = 0.0025;

  readonly actionSpace = new Discrete(3);
  /** `[position, velocity]` in float64; `step` overwrites it in place. */
  override state: Float64Array | null = null;

  constructor(kwargs: MountainCarKwargs = {}) {
    super("MountainCar-v0", 30, kwargs as Record<string, unknown>, { goal_velocity: 0 });
    this.goalVelocity = kwargs.goal_velocity ?? 0;
  }

  /** Action 0 pushes left, 1 does nothing, 2 pushes right. */
  step(action: number): StepResult<Float32Array> {
    const s = this.state;
    if (s === null) throw stepBeforeResetError(this.id);
    if (action !== 0 && action !== 1 && action !== 2) {
      throw new RangeError(`${this.id}: action must be 0, 1 or 2 (Discrete(3)), got ${String(action)}`);
    }
    let position = s[0];
    let velocity = s[1];
    velocity += (action - 1) * this.force + Math.cos(3 * position) * -this.gravity;
    velocity = Math.min(Math.max(velocity, -this.maxSpeed), this.maxSpeed);
    position += velocity;
    position = Math.min(Math.max(position, this.minPosition), this.maxPosition);
    if (position === this.minPosition && velocity < 0) velocity = 0;

    const terminated = position >= this.goalPosition && velocity >= this.goalVelocity;
    s[0] = position;
    s[1] = velocity;
    return [float32Copy(s), -1.0, terminated, false, {}];
  }
}
