/**
 * A small env for the envs-layer tests, independent of the classic-control suite: a walker on a line that
 * starts at a seeded random position, moves by its action and terminates when it strays past +-2.
 * `continuous: true` gives it a Box action (the step size) instead of Discrete(3) (left, stay, right).
 */
import { parseKwargs } from "../../src/envs/registry.js";
import { Box, Discrete, type Space } from "../../src/envs/spaces.js";
import type { Env, EnvMetadata, EnvSpec, Info, ResetOptions, StepResult } from "../../src/envs/types.js";
import { createRng, type Rng } from "../../src/utils/rng.js";

export class WalkEnv implements Env<Float32Array, unknown> {
  readonly observationSpace: Space<Float32Array> = new Box(-10, 10, [2]) as Space<Float32Array>;
  readonly actionSpace: Space;
  readonly metadata: EnvMetadata = { renderModes: ["ansi"] };
  readonly renderMode?: string;
  spec?: EnvSpec;
  private readonly continuous: boolean;
  private rng: Rng = createRng();
  position = 0;
  steps = 0;

  constructor(kwargs: Record<string, unknown> = {}) {
    const { continuous, renderMode } = parseKwargs("WalkEnv", kwargs, {
      continuous: false,
      renderMode: undefined as string | undefined,
    });
    this.continuous = continuous;
    this.renderMode = renderMode;
    this.actionSpace = continuous ? new Box(-1, 1, [1]) : new Discrete(3);
  }

  reset(opts: ResetOptions = {}): [Float32Array, Info] {
    if (opts.seed !== undefined) this.rng = createRng(opts.seed);
    this.position = this.rng() * 2 - 1;
    this.steps = 0;
    return [this.observation(), {}];
  }

  step(action: unknown): StepResult<Float32Array> {
    const move = this.continuous ? (action as Float32Array)[0] : ((action as number) - 1) * 0.5;
    this.position += move + 0.01 * (this.rng() - 0.5);
    this.steps++;
    const terminated = Math.abs(this.position) >= 2;
    return [this.observation(), 1 - Math.abs(this.position), terminated, false, { steps: this.steps }];
  }

  render(): string {
    return `position ${this.position.toFixed(2)}`;
  }

  close(): void {}

  private observation(): Float32Array {
    return Float32Array.of(this.position, this.steps / 100);
  }
}
