/**
 * Catch-v0, bsuite's Catch (bsuite/environments/catch.py, bsuite 0.3.6) behind the Gymnasium API: a ball
 * falls one row per step down a `rows` x `columns` board, from row 0 in a uniformly random column; the
 * agent moves a paddle along the bottom row (actions 0, 1, 2: left, stay, right) and gets +1 when the ball
 * reaches the bottom row in the paddle's column, -1 when it does not, 0 on every other step. Each step first
 * moves the paddle (clipped to the board), then drops the ball, then checks for the bottom row, so every
 * episode is `rows - 1` steps and terminates (no time limit is needed).
 *
 * The observation is bsuite's board, 1.0 at the ball and at the paddle (one 1.0 when they share the
 * cell), as a one-channel image `[rows, columns, 1]` (HWC, row 0 at the top) for a CNN encoder.
 * bsuite auto-resets when stepped after the last time step; a Gymnasium env must be reset instead, so
 * that step is an error here.
 */
import { ClassicControlEnv } from "./classic/base.js";
import { boxCorners, Canvas } from "./classic/raster.js";
import { stepBeforeResetError } from "./classic/utils.js";
import { Box, Discrete } from "./spaces.js";
import type { Info, ResetOptions, RgbArray, StepResult } from "./types.js";

export interface CatchKwargs {
  /** Board height, ball's start row to the paddle's row (bsuite's default 10; at least 2). */
  rows?: number;
  /** Board width (bsuite's default 5). */
  columns?: number;
  render_mode?: "ansi" | "rgb_array";
}

/** bsuite's `_ACTIONS`: the paddle's move for actions 0, 1, 2. */
const ACTIONS = [-1, 0, 1] as const;

/** Pixels per board cell in `rgb_array` frames. */
const CELL = 16;

export class CatchEnv extends ClassicControlEnv<number> {
  readonly rows: number;
  readonly columns: number;
  readonly actionSpace = new Discrete(3);
  readonly observationSpace: Box;
  /**
   * `[ball_row, ball_column, paddle_row, paddle_column]` (bsuite's `_ball_y, _ball_x, _paddle_y,
   * _paddle_x`); `step` overwrites it in place; null before the first reset.
   */
  state: Float64Array | null = null;
  /** Set by the step that lands the ball on the paddle's row; cleared by reset. */
  private terminated = false;

  constructor(kwargs: CatchKwargs = {}) {
    super("Catch-v0", 10, kwargs as Record<string, unknown>, { rows: 10, columns: 5 });
    this.rows = kwargs.rows ?? 10;
    this.columns = kwargs.columns ?? 5;
    // With one row the ball would start on the paddle's row, which bsuite checks only after a drop.
    if (!Number.isInteger(this.rows) || this.rows < 2) {
      throw new RangeError(`${this.id}: kwarg "rows" must be an integer >= 2, got ${this.rows}`);
    }
    if (!Number.isInteger(this.columns) || this.columns < 1) {
      throw new RangeError(`${this.id}: kwarg "columns" must be an integer >= 1, got ${this.columns}`);
    }
    this.observationSpace = new Box(0, 1, [this.rows, this.columns, 1], "float32");
  }

  /** The ball at row 0 of a uniformly random column, the paddle in the middle of the bottom row. */
  reset({ seed }: ResetOptions = {}): [Float32Array, Info] {
    this.seedRng(seed);
    const ballColumn = Math.min(this.columns - 1, Math.floor(this.rng() * this.columns));
    this.state = Float64Array.of(0, ballColumn, this.rows - 1, Math.floor(this.columns / 2));
    this.terminated = false;
    return [this.observation(this.state), {}];
  }

  step(action: number): StepResult<Float32Array> {
    const s = this.state;
    if (s === null) throw stepBeforeResetError(this.id);
    if (this.terminated) {
      throw new Error(
        `${this.id}: step() was called after the episode terminated; call reset() once terminated is true`,
      );
    }
    const dx = ACTIONS[action];
    if (dx === undefined) {
      throw new RangeError(`${this.id}: action must be 0, 1 or 2 (Discrete(3)), got ${String(action)}`);
    }
    // Move the paddle, then drop the ball, then check for the bottom row, as bsuite's _step.
    s[3] = Math.min(this.columns - 1, Math.max(0, s[3] + dx));
    s[0] += 1;
    let reward = 0;
    if (s[0] === s[2]) {
      reward = s[3] === s[1] ? 1 : -1;
      this.terminated = true;
    }
    return [this.observation(s), reward, this.terminated, false, {}];
  }

  /** bsuite's `_observation`: zeros, then 1 at the ball and 1 at the paddle, row-major. */
  private observation(s: ArrayLike<number>): Float32Array {
    const board = new Float32Array(this.rows * this.columns);
    board[s[0] * this.columns + s[1]] = 1;
    board[s[2] * this.columns + s[3]] = 1;
    return board;
  }

  /** One line per row: "o" the ball, "=" the paddle, "@" the ball on the paddle, "." empty. */
  protected renderAnsi(s: ArrayLike<number>): string {
    const lines: string[] = [];
    for (let row = 0; row < this.rows; row++) {
      let line = "";
      for (let column = 0; column < this.columns; column++) {
        const ball = s[0] === row && s[1] === column;
        const paddle = s[2] === row && s[3] === column;
        line += ball && paddle ? "@" : ball ? "o" : paddle ? "=" : ".";
      }
      lines.push(line);
    }
    return lines.join("\n");
  }

  /** The board at 16 pixels a cell on white: the paddle a black bar, the ball a red disc. */
  protected renderRgbArray(s: ArrayLike<number>): RgbArray {
    const canvas = new Canvas(this.columns * CELL, this.rows * CELL);
    // Canvas is y-up: board row r spans y from (rows - 1 - r) * CELL.
    const bottomOf = (row: number) => (this.rows - 1 - row) * CELL;
    const paddleY = bottomOf(s[2]);
    canvas.fillPolygon(
      boxCorners(s[3] * CELL, (s[3] + 1) * CELL, paddleY + CELL / 2, paddleY, 0, 0, 0),
      [0, 0, 0],
    );
    canvas.fillCircle(s[1] * CELL + CELL / 2, bottomOf(s[0]) + CELL / 2, CELL / 2 - 2, [220, 40, 40]);
    return canvas.toRgbArray();
  }
}
