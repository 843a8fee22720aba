/**
 * A custom environment in the user's own file: a point on a line that must reach the origin.
 * Importing this module registers it, so `env: {id: "PointToOrigin-v0", module: ./my-env.ts}` works in a
 * config, in every rollout worker thread too.
 */
import {
  Box,
  createRng,
  Discrete,
  type Env,
  type EnvMetadata,
  type Info,
  parseKwargs,
  registerEnv,
  type StepResult,
} from "rlts";

export class PointToOrigin implements Env<Float32Array, number> {
  readonly observationSpace = new Box(-10, 10, [1]);
  readonly actionSpace = new Discrete(3); // 0: left, 1: stay, 2: right
  readonly metadata: EnvMetadata = { renderModes: [] };
  private readonly start: number;
  private position = 0;
  private rng = createRng(0);

  constructor(kwargs: Record<string, unknown> = {}) {
    ({ start: this.start } = parseKwargs("PointToOrigin-v0", kwargs, { start: 5 }));
  }

  reset({ seed }: { seed?: number } = {}): [Float32Array, Info] {
    if (seed !== undefined) this.rng = createRng(seed);
    this.position = (this.rng() < 0.5 ? -1 : 1) * this.start;
    return [Float32Array.of(this.position), {}];
  }

  step(action: number): StepResult<Float32Array> {
    this.position = Math.max(-10, Math.min(10, this.position + action - 1));
    const terminated = this.position === 0;
    return [Float32Array.of(this.position), terminated ? 10 : -1, terminated, false, {}];
  }

  render(): undefined {
    return undefined;
  }

  close(): void {}
}

registerEnv("PointToOrigin-v0", (kwargs) => new PointToOrigin(kwargs), { maxEpisodeSteps: 50 });
