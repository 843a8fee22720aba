import type { CommonRunConfig } from "../config/schema.js";

export interface StopCriterion {
  metric: string;
  target: number;
}

/** The config's stop conditions as (metric, target) pairs; training stops when any is reached. */
export function stopCriteria(stop: CommonRunConfig["stop"]): StopCriterion[] {
  return Object.entries(stop)
    .filter((entry): entry is [string, number] => typeof entry[1] === "number")
    .map(([metric, target]) => ({ metric, target }));
}

/** The first criterion that `metrics` meets (each metric reaching its target from below), if any. */
export function reachedStop(
  criteria: StopCriterion[],
  metrics: Record<string, number>,
): StopCriterion | undefined {
  return criteria.find(({ metric, target }) => Number.isFinite(metrics[metric]) && metrics[metric] >= target);
}
