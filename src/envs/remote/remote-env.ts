/**
 * `RemoteEnv`: one real Gymnasium env, with structured observations and actions like a Python `gym.Env`.
 *
 * Our `Env` interface is synchronous (built-in envs step in microseconds), but a remote step is a round
 * trip, so this class has the same methods returning promises. It does not autoreset: after
 * `terminated` or `truncated`, call `reset()` as in Gymnasium. For training, prefer `RemoteVectorEnv`.
 */
import { actionLayout, Box, Dict, Discrete, type Space, Tuple, writeActionRow } from "../spaces.js";
import type { EnvMetadata, EnvSpec, Info, RenderFrame, ResetOptions, StepResult } from "../types.js";
import { makeRemoteVectorEnv, type RemoteEnvOptions, type RemoteVectorEnv } from "./remote-vector-env.js";

export async function makeRemoteEnv<Obs = unknown, Act = unknown>(
  opts: Omit<RemoteEnvOptions, "numEnvs">,
): Promise<RemoteEnv<Obs, Act>> {
  return new RemoteEnv<Obs, Act>(await makeRemoteVectorEnv({ ...opts, numEnvs: 1 }));
}

export class RemoteEnv<Obs = unknown, Act = unknown> {
  readonly observationSpace: Space<Obs>;
  readonly actionSpace: Space<Act>;

  constructor(readonly vectorEnv: RemoteVectorEnv) {
    if (vectorEnv.numEnvs !== 1)
      throw new RangeError(`RemoteEnv serves one env, ${vectorEnv.spec.id} has ${vectorEnv.numEnvs}`);
    this.observationSpace = vectorEnv.singleObservationSpace as Space<Obs>;
    this.actionSpace = vectorEnv.singleActionSpace as Space<Act>;
  }

  get spec(): EnvSpec {
    return this.vectorEnv.spec;
  }

  get metadata(): EnvMetadata {
    return this.vectorEnv.metadata;
  }

  async reset(opts?: ResetOptions): Promise<[Obs, Info]> {
    const { observations, infos } = await this.vectorEnv.reset(opts);
    return [this.observationSpace.unflatten(observations), infos[0]];
  }

  async step(action: Act): Promise<StepResult<Obs>> {
    const r = await this.vectorEnv.step(this.actionRow(action), { autoreset: false });
    return [
      this.observationSpace.unflatten(r.observations),
      r.rewards[0],
      r.terminated[0] === 1,
      r.truncated[0] === 1,
      r.infos[0],
    ];
  }

  async render(): Promise<RenderFrame> {
    return (await this.vectorEnv.render())[0];
  }

  close(): Promise<void> {
    return this.vectorEnv.close();
  }

  /** The action as one row of the vector env's action buffer (the layout `actionLayout` describes). */
  private actionRow(action: Act): Float32Array | Int32Array {
    const space: Space = this.actionSpace;
    // Gymnasium lets a Box env decide about out-of-bounds values (many clip), so only its size is checked.
    if (space instanceof Box) {
      const values = action as ArrayLike<number>;
      if (values?.length !== space.size) {
        throw new RangeError(
          `${this.spec.id}: action needs ${space.size} values for ${space}, got ${values?.length}`,
        );
      }
      return space.isInteger ? Int32Array.from(values) : Float32Array.from(values);
    }
    if (space instanceof Tuple || space instanceof Dict) {
      // The parts side by side in one float32 row; Box parts, as a Box action, checked for their size only.
      const row = new Float32Array(actionLayout(space).dim);
      writeActionRow(space, action, row, 0, `${this.spec.id} action`);
      return row;
    }
    space.assertContains(action, `${this.spec.id} action`);
    const values: unknown = action;
    if (space instanceof Discrete) {
      return Int32Array.of(ArrayBuffer.isView(values) ? (values as Int32Array)[0] : (values as number));
    }
    return Int32Array.from(values as ArrayLike<number>);
  }
}
