/**
 * A tiny rasterizer for the classic envs' `rgb_array` frames: filled polygons, filled circles and
 * one-pixel lines, no anti-aliasing. Coordinates are pygame's as Gymnasium draws them, x right and
 * y up from the bottom-left corner (Gymnasium draws y-down and flips the surface at the end; mapping
 * y to row `height - 1 - y` here is the same picture).
 */
import type { RgbArray } from "../types.js";

export type Rgb = readonly [r: number, g: number, b: number];
export type Point = readonly [x: number, y: number];

export class Canvas {
  readonly data: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Uint8Array(width * height * 3).fill(255);
  }

  /** Pixel (x, y) in y-up coordinates; outside the canvas is ignored, as pygame clips. */
  setPixel(x: number, y: number, [r, g, b]: Rgb): void {
    if (x < 0 || x >= this.width || y < 0 || y >= this.height) return;
    const i = ((this.height - 1 - y) * this.width + x) * 3;
    this.data[i] = r;
    this.data[i + 1] = g;
    this.data[i + 2] = b;
  }

  /** Even-odd scanline fill, sampling each pixel at its centre. */
  fillPolygon(points: readonly Point[], color: Rgb): void {
    const ys = points.map((p) => p[1]);
    const yStart = Math.max(0, Math.floor(Math.min(...ys)));
    const yEnd = Math.min(this.height - 1, Math.ceil(Math.max(...ys)));
    const crossings: number[] = [];
    for (let y = yStart; y <= yEnd; y++) {
      const yc = y + 0.5;
      crossings.length = 0;
      for (let i = 0; i < points.length; i++) {
        const [x0, y0] = points[i];
        const [x1, y1] = points[(i + 1) % points.length];
        if (y0 <= yc !== y1 <= yc) crossings.push(x0 + ((yc - y0) / (y1 - y0)) * (x1 - x0));
      }
      crossings.sort((a, b) => a - b);
      for (let k = 0; k + 1 < crossings.length; k += 2) {
        for (let x = Math.ceil(crossings[k] - 0.5); x + 0.5 <= crossings[k + 1]; x++)
          this.setPixel(x, y, color);
      }
    }
  }

  /** Pixels within `radius` of the (integer) centre, as gfxdraw.filled_circle. */
  fillCircle(cx: number, cy: number, radius: number, color: Rgb): void {
    const x0 = Math.trunc(cx);
    const y0 = Math.trunc(cy);
    const r = Math.trunc(radius);
    for (let dy = -r; dy <= r; dy++) {
      for (let dx = -r; dx <= r; dx++) if (dx * dx + dy * dy <= r * r) this.setPixel(x0 + dx, y0 + dy, color);
    }
  }

  /** A one-pixel line (DDA over the longer axis). */
  line([x0, y0]: Point, [x1, y1]: Point, color: Rgb): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let i = 0; i <= steps; i++) {
      const t = i / steps;
      this.setPixel(Math.round(x0 + t * (x1 - x0)), Math.round(y0 + t * (y1 - y0)), color);
    }
  }

  polyline(points: readonly Point[], color: Rgb): void {
    for (let i = 0; i + 1 < points.length; i++) this.line(points[i], points[i + 1], color);
  }

  toRgbArray(): RgbArray {
    return { data: this.data, height: this.height, width: this.width };
  }
}

/** `(x, y)` rotated by `angle` radians counter-clockwise, then moved by `(dx, dy)`: pygame's Vector2.rotate_rad. */
export function rotateMove([x, y]: Point, angle: number, dx: number, dy: number): Point {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  return [x * c - y * s + dx, x * s + y * c + dy];
}

/** The corners of a box `(left, right, top, bottom)` in Gymnasium's order, rotated and moved. */
export function boxCorners(
  l: number,
  r: number,
  t: number,
  b: number,
  angle: number,
  dx: number,
  dy: number,
) {
  return (
    [
      [l, b],
      [l, t],
      [r, t],
      [r, b],
    ] as const
  ).map((p) => rotateMove(p, angle, dx, dy));
}
