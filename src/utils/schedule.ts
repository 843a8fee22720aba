import { z } from "zod";

/**
 * A value that may change with training progress, as RLlib writes it: a constant, or a piecewise-linear
 * schedule `[[timestep, value], ...]` (timesteps ascending; held constant after the last point).
 */
export type Schedule = number | [number, number][];

export const scheduleSchema = z.union(
  [
    z.number(),
    z
      .array(z.tuple([z.number().min(0), z.number()]))
      .min(1)
      .refine((points) => points.every((p, i) => i === 0 || p[0] > points[i - 1][0]), {
        message: "schedule timesteps must be strictly ascending, e.g. [[0, 1.0], [10000, 0.05]]",
      }),
  ],
  {
    error: "expected a number or a schedule [[timestep, value], ...], e.g. 3e-4 or [[0, 1e-3], [100000, 0]]",
  },
);

/** The schedule's value at `timestep` (linear interpolation between points). */
export function scheduleValue(schedule: Schedule, timestep: number): number {
  if (typeof schedule === "number") return schedule;
  if (timestep <= schedule[0][0]) return schedule[0][1];
  for (let i = 1; i < schedule.length; i++) {
    const [t1, v1] = schedule[i];
    if (timestep < t1) {
      const [t0, v0] = schedule[i - 1];
      return v0 + ((timestep - t0) / (t1 - t0)) * (v1 - v0);
    }
  }
  return schedule[schedule.length - 1][1];
}
