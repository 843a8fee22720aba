/**
 * The bridge against real gymnasium: spaces as the server reports them, and seeded rollouts (with
 * autoreset) compared value for value with the same rollout stepped by gymnasium in Python.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  makeRemoteEnv,
  makeRemoteVectorEnv,
  type RemoteVectorEnv,
  type Transport,
} from "../../src/envs/remote/index.js";
import {
  actionLayout,
  Box,
  Dict,
  Discrete,
  MultiBinary,
  MultiDiscrete,
  type Space,
  type Tuple,
} from "../../src/envs/spaces.js";
import { createRng } from "../../src/utils/rng.js";
import { type ReferenceSpec, referenceRollout, rows, venvPython } from "./python.js";

const TRANSPORTS: Transport[] = ["shm", "ipc", "tcp"];

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((env) => env.close()));
});

async function vectorEnv(opts: Parameters<typeof makeRemoteVectorEnv>[0]): Promise<RemoteVectorEnv> {
  venvPython();
  const env = await makeRemoteVectorEnv(opts);
  open.push(env);
  return env;
}

/** Steps `env` with `spec.actions` and expects exactly what gymnasium gives in Python. */
async function expectSameRollout(env: RemoteVectorEnv, spec: ReferenceSpec): Promise<number> {
  const ref = referenceRollout(spec);
  expect(env.obsDim).toBe(ref.obs_flatdim);
  const { observations } = await env.reset({ seed: spec.seed });
  expect(rows(observations, spec.numEnvs)).toEqual(ref.reset);
  const integer = actionLayout(env.singleActionSpace).integer;
  let finished = 0;
  for (const [t, actionRows] of spec.actions.entries()) {
    const actions = integer ? Int32Array.from(actionRows.flat()) : Float32Array.from(actionRows.flat());
    const r = await env.step(actions);
    const want = ref.steps[t];
    expect(rows(r.observations, spec.numEnvs), `obs at step ${t}`).toEqual(want.obs);
    expect(Array.from(r.rewards), `rewards at step ${t}`).toEqual(want.reward);
    expect(Array.from(r.terminated), `terminated at step ${t}`).toEqual(want.terminated);
    expect(Array.from(r.truncated), `truncated at step ${t}`).toEqual(want.truncated);
    const finals = rows(r.finalObservations, spec.numEnvs);
    for (const [i, obs] of Object.entries(want.final_obs)) {
      expect(finals[Number(i)], `final obs of env ${i} at step ${t}`).toEqual(obs);
      finished++;
    }
  }
  return finished;
}

describe("remote env spaces", () => {
  it("CartPole-v1, Pendulum-v1 and Acrobot-v1 arrive as gymnasium defines them", async () => {
    const cartPole = await vectorEnv({ id: "CartPole-v1", numEnvs: 2 });
    expect(cartPole.numEnvs).toBe(2);
    const obs = cartPole.singleObservationSpace as Box;
    expect(obs).toBeInstanceOf(Box);
    expect(obs.dtype).toBe("float32");
    expect(Array.from(obs.high)).toEqual([Math.fround(4.8), Infinity, Math.fround(0.41887903), Infinity]);
    expect(cartPole.singleActionSpace.toJSON()).toEqual(new Discrete(2).toJSON());
    expect(cartPole.spec).toMatchObject({ id: "CartPole-v1", maxEpisodeSteps: 500, rewardThreshold: 475 });
    expect(cartPole.metadata).toEqual({ renderModes: ["human", "rgb_array"], renderFps: 50 });
    expect([cartPole.obsDim, cartPole.actionDim]).toEqual([4, 1]);

    const pendulum = await vectorEnv({ id: "Pendulum-v1", maxEpisodeSteps: 7 });
    expect(Array.from((pendulum.singleObservationSpace as Box).high)).toEqual([1, 1, 8]);
    const torque = pendulum.singleActionSpace as Box;
    expect([Array.from(torque.low), Array.from(torque.high), torque.dtype]).toEqual([[-2], [2], "float32"]);
    expect(pendulum.spec.maxEpisodeSteps).toBe(7);

    const acrobot = await vectorEnv({ id: "Acrobot-v1", transport: "tcp" });
    expect(acrobot.obsDim).toBe(6);
    expect(acrobot.singleActionSpace.toJSON()).toEqual(new Discrete(3).toJSON());
  });

  it("a Dict observation keeps gymnasium's (sorted) key order and every sub-space", async () => {
    const env = await vectorEnv({ id: "rlts_gym/DictObs-v0" });
    const space = env.singleObservationSpace as Dict;
    expect(space).toBeInstanceOf(Dict);
    expect(space.keys).toEqual(["flag", "position", "sensors"]);
    // The constructor stores a record whatever it was given; its declared type also allows pairs.
    const parts = space.spaces as Record<string, Space>;
    expect(parts.flag.toJSON()).toEqual(new Discrete(3, -1).toJSON());
    expect(parts.position.toJSON()).toEqual(new Box(-1, 1, [2], "float32").toJSON());
    const sensors = parts.sensors as Tuple;
    expect(sensors.spaces[0].toJSON()).toEqual(new MultiBinary(3).toJSON());
    expect(sensors.spaces[1].toJSON()).toEqual(new Box(-Infinity, Infinity, [1], "float64").toJSON());
    expect(env.obsDim).toBe(3 + 2 + 3 + 1);
  });

  it("a MultiDiscrete action space keeps its start", async () => {
    const env = await vectorEnv({ id: "rlts_gym/MultiDiscreteAct-v0", numEnvs: 3 });
    expect(env.singleActionSpace.toJSON()).toEqual(new MultiDiscrete([3, 5], [0, -2]).toJSON());
    expect(env.actionDim).toBe(2);
  });
});

describe("remote env rollouts equal gymnasium's", () => {
  it.each(TRANSPORTS)(
    "CartPole-v1 over %s: seeded reset, fixed actions, terminations with same-step autoreset",
    async (transport) => {
      const env = await vectorEnv({ id: "CartPole-v1", numEnvs: 3, transport });
      const actions = Array.from({ length: 25 }, (_, t) => [[1], [0], [t % 3 === 0 ? 1 : 0]]);
      const finished = await expectSameRollout(env, { id: "CartPole-v1", numEnvs: 3, seed: 42, actions });
      expect(finished).toBeGreaterThanOrEqual(2);
    },
  );

  it.each(TRANSPORTS)(
    "Pendulum-v1 over %s: float actions and truncation by maxEpisodeSteps",
    async (transport) => {
      const env = await vectorEnv({ id: "Pendulum-v1", numEnvs: 2, maxEpisodeSteps: 4, transport });
      const actions = Array.from({ length: 9 }, (_, t) => [[0.5 * (t % 4) - 1], [2]]);
      const spec = { id: "Pendulum-v1", numEnvs: 2, seed: 3, actions, maxEpisodeSteps: 4 };
      expect(await expectSameRollout(env, spec)).toBe(4);
    },
  );

  it("the same seed and actions give the same rollout over shm, ipc and tcp (16 envs, 300 steps, infos included)", async () => {
    const record = async (transport: Transport, id: string) => {
      const env = await vectorEnv({ id, numEnvs: 16, transport });
      const rng = createRng(3);
      const seen: unknown[] = [Array.from((await env.reset({ seed: 9 })).observations)];
      const actions = new Int32Array(16);
      const n = (env.singleActionSpace as Discrete).n;
      for (let t = 0; t < 300; t++) {
        for (let i = 0; i < 16; i++) actions[i] = Math.floor(rng() * n);
        const r = await env.step(actions);
        seen.push(
          Array.from(r.observations),
          Array.from(r.rewards),
          Array.from(r.terminated),
          Array.from(r.truncated),
          rows(r.finalObservations, 16).filter((_, i) => r.terminated[i] || r.truncated[i]),
          r.infos.map((info) => JSON.stringify(info)),
        );
      }
      await env.close();
      return seen;
    };
    for (const id of ["CartPole-v1", "rlts_gym/DictObs-v0"]) {
      const [shm, ipc, tcp] = [await record("shm", id), await record("ipc", id), await record("tcp", id)];
      expect(shm).toEqual(ipc);
      expect(shm).toEqual(tcp);
    }
  });

  it("DictObs fixture: flattened Dict observations, and infos of finished episodes", async () => {
    const env = await vectorEnv({ id: "rlts_gym/DictObs-v0", numEnvs: 2 });
    const actions = Array.from({ length: 8 }, () => [[0], [3]]);
    expect(await expectSameRollout(env, { id: "rlts_gym/DictObs-v0", numEnvs: 2, seed: 11, actions })).toBe(
      2,
    );

    const reset = await env.reset({ seed: 5 });
    expect(reset.infos[1]).toHaveProperty("start");
    let r = await env.step(Int32Array.of(0, 0));
    while (!r.terminated[0]) r = await env.step(Int32Array.of(0, 0));
    expect(r.infos[0]).toMatchObject({ edge: true, reset_info: { start: expect.any(Array) } });
  });

  it("MultiDiscreteAct fixture: integer action rows with a start offset", async () => {
    const env = await vectorEnv({ id: "rlts_gym/MultiDiscreteAct-v0", numEnvs: 2 });
    const actions = Array.from({ length: 8 }, (_, t) => [
      [t % 3, (t % 5) - 2],
      [2, -2],
    ]);
    const spec = { id: "rlts_gym/MultiDiscreteAct-v0", numEnvs: 2, seed: 0, actions };
    expect(await expectSameRollout(env, spec)).toBe(2);
    await expect(env.step(Int32Array.of(0, 3, 0, 0))).rejects.toThrow(
      /action \[0, 3\] of sub-env 0 is not in MultiDiscrete/,
    );
  });

  it("TupleAct fixture: a Tuple action (Discrete, MultiBinary, Box, MultiDiscrete) as one float32 row of its parts", async () => {
    const env = await vectorEnv({ id: "rlts_gym/TupleAct-v0", numEnvs: 2 });
    const space = env.singleActionSpace as Tuple;
    expect(space.toString()).toBe(
      "Tuple(Discrete(3, start=-1), MultiBinary(2), Box(-1, 1, (2,), float32), MultiDiscrete([2 3]))",
    );
    expect(actionLayout(space)).toEqual({ dim: 7, integer: false });
    expect(env.actionDim).toBe(7);
    // Row: the Discrete value (start included), 2 bits, 2 floats, 2 MultiDiscrete values (starts included).
    const actions = Array.from({ length: 7 }, (_, t) => [
      [(t % 3) - 1, t % 2, 1, 0.25 * t - 0.75, -0.5, t % 2, 1 + (t % 3)],
      [1, 0, 0, 0.125, 0.375, 1, 3],
    ]);
    const spec = { id: "rlts_gym/TupleAct-v0", numEnvs: 2, seed: 4, actions };
    expect(await expectSameRollout(env, spec)).toBe(2);

    // An integer part must hold a whole number within its bounds; the server refuses the batch, naming the sub-env.
    const good = [1, 0, 0, 0.5, 0.5, 1, 3];
    await expect(env.step(Float32Array.from([...good, 0.5, 0, 0, 0, 0, 0, 1]))).rejects.toThrow(
      /action \[0\.5, 0\.0, .*\] of sub-env 1 is not in Tuple\(Discrete\(3, start=-1\)/,
    );
    await expect(env.step(Float32Array.from([...good, 0, 2, 0, 0, 0, 0, 1]))).rejects.toThrow(
      /action \[0\.0, 2\.0, .*\] of sub-env 1 is not in Tuple/,
    );
    await expect(env.step(Float32Array.from([...good, 0, 0, 0, 0, 0, 0, Number.NaN]))).rejects.toThrow(
      /of sub-env 1 is not finite/,
    );
  });

  it("TupleAct fixture, nested: a Dict inside the Tuple, its parts in the Dict's key order", async () => {
    const kwargs = { nested: true };
    const env = await vectorEnv({ id: "rlts_gym/TupleAct-v0", numEnvs: 1, kwargs });
    expect(env.singleActionSpace.toString()).toBe(
      "Tuple(Discrete(3, start=-1), Dict('bits': MultiBinary(2), 'push': Box(-1, 1, (2,), float32)), MultiDiscrete([2 3]))",
    );
    const actions = Array.from({ length: 6 }, (_, t) => [[1 - (t % 3), 1, t % 2, -0.25, 0.125 * t, 0, 2]]);
    expect(
      await expectSameRollout(env, { id: "rlts_gym/TupleAct-v0", numEnvs: 1, seed: 9, actions, kwargs }),
    ).toBe(1);
  });

  it("RemoteEnv takes a Tuple action as its parts' values, and refuses one that is not", async () => {
    venvPython();
    const env = await makeRemoteEnv<Float32Array, unknown[]>({ id: "rlts_gym/TupleAct-v0" });
    open.push(env);
    const ref = referenceRollout({
      id: "rlts_gym/TupleAct-v0",
      numEnvs: 1,
      seed: 2,
      actions: [[[1, 0, 1, 0.5, -0.25, 1, 2]]],
    });
    await env.reset({ seed: 2 });
    const action = [1, Int8Array.of(0, 1), Float32Array.of(0.5, -0.25), Int32Array.of(1, 2)];
    const [obs, reward] = await env.step(action);
    expect(Array.from(obs)).toEqual(ref.steps[0].obs[0]);
    expect(reward).toBe(ref.steps[0].reward[0]);
    await expect(
      env.step([1, Int8Array.of(0, 1), Float32Array.of(0.5), Int32Array.of(1, 2)]),
    ).rejects.toThrow(/TupleAct-v0 action\[2\]: needs 2 values for Box/);
    await expect(
      env.step([2, Int8Array.of(0, 1), Float32Array.of(0.5, 0), Int32Array.of(1, 2)]),
    ).rejects.toThrow(/TupleAct-v0 action\[0\]: 2 is not in Discrete\(3, start=-1\)/);
    await expect(env.step([1, Int8Array.of(0, 1)])).rejects.toThrow(/TupleAct-v0 action: .* is not in Tuple/);
  });

  it("RemoteEnv (one env, no autoreset) returns the terminal observation, then resets on request", async () => {
    venvPython();
    const env = await makeRemoteEnv<Float32Array, number>({ id: "CartPole-v1" });
    open.push(env);
    const actions = Array.from({ length: 14 }, () => [[1]]);
    const ref = referenceRollout({ id: "CartPole-v1", numEnvs: 1, seed: 7, actions });
    const [obs0] = await env.reset({ seed: 7 });
    expect(Array.from(obs0)).toEqual(ref.reset[0]);
    let resets = 0;
    for (const want of ref.steps) {
      const [obs, reward, terminated, truncated] = await env.step(1);
      expect([reward, terminated, truncated]).toEqual([
        want.reward[0],
        want.terminated[0] === 1,
        want.truncated[0] === 1,
      ]);
      if (terminated || truncated) {
        expect(Array.from(obs)).toEqual(want.final_obs["0"]);
        const [next] = await env.reset();
        expect(Array.from(next)).toEqual(want.obs[0]);
        resets++;
      } else {
        expect(Array.from(obs)).toEqual(want.obs[0]);
      }
    }
    expect(resets).toBe(1);
    await expect(env.step(2 as number)).rejects.toThrow(/CartPole-v1 action: 2 is not in Discrete\(2\)/);
  });

  it("renders text from an ansi env", async () => {
    const env = await vectorEnv({ id: "rlts_gym/DictObs-v0", numEnvs: 2, kwargs: { render_mode: "ansi" } });
    await env.reset({ seed: 1 });
    const frames = await env.render();
    expect(frames).toHaveLength(2);
    expect(frames[0]).toMatch(/^position=\[.*\] steps=0$/);
  });
});
