/**
 * The composite distribution of Tuple and Dict action spaces against its parts: each part's distribution
 * on its own slice of the policy output, the actions and the log-std, and the closed forms in plain
 * TypeScript. (Its gradients are checked against autodiff with PPO's and A2C's losses.)
 */
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { Box, Dict, Discrete, MultiBinary, MultiDiscrete, Tuple } from "../../src/envs/spaces.js";
import { selectBackend } from "../../src/learner/backend.js";
import { type ModuleSpec, moduleSpecFor } from "../../src/models/catalog.js";
import {
  BernoulliDistribution,
  CategoricalDistribution,
  CompositeDistribution,
  DiagGaussianDistribution,
  MultiCategoricalDistribution,
} from "../../src/models/distributions.js";
import { createRng, normal } from "../../src/utils/rng.js";

const model = { hiddens: [8], activation: "tanh" as const, vf_share_layers: false, initial_log_std: 0 };
const spec = (space: Tuple | Dict): ModuleSpec =>
  moduleSpecFor(new Box(-1, 1, [2]), space, { type: "actor_critic", model });

beforeAll(async () => {
  await selectBackend("cpu");
});

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i] - expected[i]), `element ${i}`).toBeLessThan(tolerance);
  }
}

describe("the composite head", () => {
  it("lays out a Dict's parts in key order and a Tuple's in order", () => {
    const dict = spec(new Dict({ choose: new Discrete(3, 1), force: new Box(-1, 1, [2]) }));
    expect(dict.head).toEqual({
      kind: "composite",
      parts: [
        { kind: "categorical", n: 3 },
        { kind: "gaussian", dim: 2 },
      ],
      keys: ["choose", "force"],
    });
    expect([dict.actionDim, dict.logStdDim, dict.towers.at(-2)?.layers.at(-1)?.outDim]).toEqual([3, 2, 5]);
    const tuple = spec(new Tuple([new MultiDiscrete([3, 2]), new MultiBinary(4), new Box(0, 1, [1])]));
    expect(tuple.head).toEqual({
      kind: "composite",
      parts: [
        { kind: "multi_categorical", nvec: [3, 2], start: [0, 0] },
        { kind: "bernoulli", n: 4 },
        { kind: "gaussian", dim: 1 },
      ],
      keys: null,
    });
    expect([tuple.actionDim, tuple.logStdDim, tuple.towers.at(-2)?.layers.at(-1)?.outDim]).toEqual([
      7, 1, 10,
    ]);
  });

  it("refuses nested, integer Box and empty parts, naming the part", () => {
    expect(() => spec(new Tuple([new Discrete(2), new Tuple([new Discrete(2)])]))).toThrow(
      /action space Tuple\(Discrete\(2\), Tuple\(Discrete\(2\)\)\): part 1 is Tuple\(Discrete\(2\)\); the parts of a Tuple or Dict action space must be/,
    );
    expect(() => spec(new Dict({ n: new Box(0, 5, [1], "int32") }))).toThrow(
      /part "n" is Box\(0, 5, \(1,\), int32\)/,
    );
    expect(() => spec(new Tuple([]))).toThrow(/needs parts/);
  });
});

describe("CompositeDistribution", () => {
  const batch = 6;
  const rng = createRng(3);
  const random = (n: number, scale = 1) => Float32Array.from({ length: n }, () => scale * normal(rng));

  it("Dict{Discrete, Box}: log-prob and entropy are the parts' sums, and the closed forms", () => {
    const { head } = spec(new Dict({ choose: new Discrete(3, 1), force: new Box(-1, 1, [2]) }));
    if (head.kind !== "composite") throw new Error("composite head expected");
    const out = random(batch * 5, 2);
    const logStd = Float32Array.of(-0.4, 0.3);
    // Class indices from 0 (not the space's values) and Box values, side by side.
    const rows = Array.from({ length: batch }, (_, b) => [b % 3, ...random(2)]);
    tf.tidy(() => {
      const policyOut = tf.tensor2d(out, [batch, 5]);
      const actions = tf.tensor2d(rows.flat(), [batch, 3]);
      const composite = new CompositeDistribution(policyOut, head.parts, tf.tensor1d(logStd));
      const categorical = new CategoricalDistribution(tf.slice(policyOut, [0, 0], [-1, 3]));
      const gaussian = new DiagGaussianDistribution(
        tf.slice(policyOut, [0, 3], [-1, 2]),
        tf.tensor1d(logStd),
      );
      const classes = tf.tensor1d(
        rows.map((r) => r[0]),
        "int32",
      );
      const values = tf.tensor2d(
        rows.map((r) => r.slice(1)),
        [batch, 2],
      );
      const logp = composite.logProb(actions).dataSync();
      expectClose(logp, tf.add(categorical.logProb(classes), gaussian.logProb(values)).dataSync());
      expectClose(
        composite.entropy().dataSync(),
        tf.add(categorical.entropy(), gaussian.entropy()).dataSync(),
      );

      // log softmax(z)[a] + sum_k log N(x_k; mean_k, std_k), in float64.
      for (let b = 0; b < batch; b++) {
        const z = Array.from(out.subarray(b * 5, b * 5 + 3));
        const max = Math.max(...z);
        const logSumExp = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
        let expected = z[rows[b][0]] - logSumExp;
        for (let k = 0; k < 2; k++) {
          const std = Math.exp(logStd[k]);
          const u = (rows[b][1 + k] - out[b * 5 + 3 + k]) / std;
          expected += -0.5 * u * u - Math.log(std) - 0.5 * Math.log(2 * Math.PI);
        }
        expect(logp[b]).toBeCloseTo(expected, 4);
      }

      // The mode: the argmax and the mean, side by side.
      const mode = composite.mode().arraySync();
      for (let b = 0; b < batch; b++) {
        const z = Array.from(out.subarray(b * 5, b * 5 + 3));
        expect(mode[b][0]).toBe(z.indexOf(Math.max(...z)));
        expectClose(mode[b].slice(1), out.subarray(b * 5 + 3, b * 5 + 5));
      }
    });
  });

  it("Tuple{MultiDiscrete, MultiBinary, Box, Box}: parts' sums, with float32 or int32 action rows", () => {
    const space = new Tuple([
      new MultiDiscrete([3, 2], [1, -1]),
      new MultiBinary(3),
      new Box(-1, 1, [1]),
      new Box(-1, 1, [2]),
    ]);
    const { head } = spec(space);
    if (head.kind !== "composite") throw new Error("composite head expected");
    const width = 3 + 2 + 3 + 1 + 2;
    const out = random(batch * width, 2);
    const logStd = Float32Array.of(0.1, -0.2, 0.5);
    const rows = Array.from({ length: batch }, (_, b) => [
      b % 3,
      (b + 1) % 2,
      b % 2,
      (b >> 1) % 2,
      1,
      ...random(3),
    ]);
    tf.tidy(() => {
      const policyOut = tf.tensor2d(out, [batch, width]);
      const composite = new CompositeDistribution(policyOut, head.parts, tf.tensor1d(logStd));
      const columns = (from: number, size: number) =>
        tf.tensor2d(
          rows.map((r) => r.slice(from, from + size)),
          [batch, size],
        );
      const slice = (from: number, size: number) => tf.slice(policyOut, [0, from], [-1, size]);
      const parts = [
        [new MultiCategoricalDistribution(slice(0, 5), [3, 2]), tf.cast(columns(0, 2), "int32")],
        [new BernoulliDistribution(slice(5, 3)), tf.cast(columns(2, 3), "int32")],
        [new DiagGaussianDistribution(slice(8, 1), tf.tensor1d(logStd.subarray(0, 1))), columns(5, 1)],
        [new DiagGaussianDistribution(slice(9, 2), tf.tensor1d(logStd.subarray(1))), columns(6, 2)],
      ] as const;
      const sumLogp = tf.addN(parts.map(([d, a]) => d.logProb(a)));
      const sumEntropy = tf.addN(parts.map(([d]) => d.entropy()));
      const actions = tf.tensor2d(rows.flat(), [batch, 8]);
      expectClose(composite.logProb(actions).dataSync(), sumLogp.dataSync());
      expectClose(composite.entropy().dataSync(), sumEntropy.dataSync());

      // Integer parts only: int32 rows read the same as float32 ones.
      const { head: integerHead } = spec(new Tuple([space.spaces[0], space.spaces[1]]));
      if (integerHead.kind !== "composite") throw new Error("composite head expected");
      const integer = new CompositeDistribution(slice(0, 8), integerHead.parts, null);
      const integerRows = rows.map((r) => r.slice(0, 5));
      const fromFloat = integer.logProb(tf.tensor2d(integerRows.flat(), [batch, 5])).dataSync();
      const fromInt = integer.logProb(tf.tensor2d(integerRows.flat(), [batch, 5], "int32")).dataSync();
      expect(fromInt).toEqual(fromFloat);
      expectClose(
        fromFloat,
        tf.add(parts[0][0].logProb(parts[0][1]), parts[1][0].logProb(parts[1][1])).dataSync(),
      );
    });
  });
});
