import { describe, expect, it } from "vitest";
import {
  actionClipBounds,
  actionLayout,
  actionRowReader,
  actionStarts,
  Box,
  Dict,
  Discrete,
  MultiBinary,
  MultiDiscrete,
  type Space,
  type SpaceJSON,
  spaceFromJSON,
  Tuple,
  writeActionRow,
} from "../../src/envs/spaces.js";

// Expected flatdim and flatten values computed once with the venv's gymnasium 1.4:
//   gymnasium.spaces.utils.flatdim(space), flatten(space, value).tolist()
const GYMNASIUM_FLATTEN: {
  name: string;
  space: () => Space;
  value: unknown;
  flatDim: number;
  flat: number[];
}[] = [
  {
    name: "Box(-1, 1, (2, 3))",
    space: () => new Box(-1, 1, [2, 3]),
    value: Float32Array.of(0.5, -0.5, 0, 1, -1, 0.25),
    flatDim: 6,
    flat: [0.5, -0.5, 0.0, 1.0, -1.0, 0.25],
  },
  {
    name: "Discrete(5, start=2)",
    space: () => new Discrete(5, 2),
    value: 4,
    flatDim: 5,
    flat: [0, 0, 1, 0, 0],
  },
  {
    name: "MultiDiscrete([3, 4], start=[1, 0])",
    space: () => new MultiDiscrete([3, 4], [1, 0]),
    value: Int32Array.of(2, 3),
    flatDim: 7,
    flat: [0, 1, 0, 0, 0, 0, 1],
  },
  {
    name: "MultiBinary((2, 3))",
    space: () => new MultiBinary([2, 3]),
    value: Int8Array.of(1, 0, 1, 0, 0, 1),
    flatDim: 6,
    flat: [1, 0, 1, 0, 0, 1],
  },
  {
    name: "Tuple(Discrete(3), Box(0, 1, (2,)))",
    space: () => new Tuple([new Discrete(3), new Box(0, 1, [2])]),
    value: [1, Float32Array.of(0.25, 0.75)],
    flatDim: 5,
    flat: [0.0, 1.0, 0.0, 0.25, 0.75],
  },
  {
    name: "Dict([(pos, Box(-2, 2, (2,))), (mode, Discrete(3)), (flags, MultiBinary(2))])",
    space: () =>
      new Dict([
        ["pos", new Box(-2, 2, [2])],
        ["mode", new Discrete(3)],
        ["flags", new MultiBinary(2)],
      ]),
    value: { pos: Float32Array.of(1.5, -2), mode: 2, flags: Int8Array.of(0, 1) },
    flatDim: 7,
    flat: [1.5, -2.0, 0.0, 0.0, 1.0, 0.0, 1.0],
  },
];

describe("flatten and flatDim match gymnasium", () => {
  for (const { name, space: makeSpace, value, flatDim, flat } of GYMNASIUM_FLATTEN) {
    it(name, () => {
      const space = makeSpace();
      expect(space.flatDim).toBe(flatDim);
      expect(Array.from(space.flatten(value as never))).toEqual(flat);
      // Writing at an offset into a shared buffer leaves the rest alone.
      const buffer = new Float32Array(flatDim + 4).fill(7);
      space.flatten(value as never, buffer, 2);
      expect(Array.from(buffer.subarray(2, 2 + flatDim))).toEqual(flat);
      expect([buffer[0], buffer[1], buffer[flatDim + 2], buffer[flatDim + 3]]).toEqual([7, 7, 7, 7]);
      expect(space.unflatten(buffer, 2)).toEqual(value);
    });
  }
});

describe("contains", () => {
  it("Box checks length, bounds, NaN and integer dtypes", () => {
    const box = new Box([-1, 0], [1, 5]);
    expect(box.contains(Float32Array.of(0, 5))).toBe(true);
    expect(box.contains(Float32Array.of(0, 5.5))).toBe(false);
    expect(box.contains(Float32Array.of(0))).toBe(false);
    expect(box.contains(Float32Array.of(Number.NaN, 1))).toBe(false);
    expect(box.contains("ab")).toBe(false);
    const ints = new Box(0, 3, [2], "int32");
    expect(ints.contains(Int32Array.of(0, 3))).toBe(true);
    expect(ints.contains(Float32Array.of(0.5, 1))).toBe(false);
  });

  it("Discrete accepts integers in [start, start + n) and a one-element array", () => {
    const d = new Discrete(3, -1);
    expect([-1, 0, 1].map((v) => d.contains(v))).toEqual([true, true, true]);
    expect([-2, 2, 0.5, Number.NaN, "0", undefined].map((v) => d.contains(v))).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(d.contains(Int32Array.of(1))).toBe(true);
  });

  it("MultiDiscrete, MultiBinary, Tuple, Dict", () => {
    expect(new MultiDiscrete([2, 3]).contains(Int32Array.of(1, 2))).toBe(true);
    expect(new MultiDiscrete([2, 3]).contains(Int32Array.of(2, 0))).toBe(false);
    expect(new MultiBinary(3).contains(Int8Array.of(0, 1, 1))).toBe(true);
    expect(new MultiBinary(3).contains(Int8Array.of(0, 2, 1))).toBe(false);
    const tuple = new Tuple([new Discrete(2), new Box(0, 1, [1])]);
    expect(tuple.contains([1, Float32Array.of(0.5)])).toBe(true);
    expect(tuple.contains([1])).toBe(false);
    const dict = new Dict({ a: new Discrete(2), b: new Discrete(3) });
    expect(dict.contains({ a: 1, b: 2 })).toBe(true);
    expect(dict.contains({ a: 1 })).toBe(false);
    expect(dict.contains({ a: 1, b: 2, c: 0 })).toBe(false);
  });
});

describe("sample", () => {
  const spaces: [string, () => Space][] = [
    ["bounded float Box", () => new Box([-1, 0, 5], [1, 0.001, 6])],
    [
      "half-bounded and unbounded Box",
      () =>
        new Box(
          [0, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY],
          [Number.POSITIVE_INFINITY, 0, Number.POSITIVE_INFINITY],
        ),
    ],
    ["integer Box", () => new Box(-2, 2, [4], "int32")],
    ["uint8 Box", () => new Box(0, 255, [3], "uint8")],
    ["Discrete with start", () => new Discrete(4, 10)],
    ["MultiDiscrete", () => new MultiDiscrete([2, 5, 3], [0, -2, 1])],
    ["MultiBinary", () => new MultiBinary([2, 2])],
    ["Tuple", () => new Tuple([new Discrete(2), new Box(-1, 1, [2])])],
    ["Dict", () => new Dict({ x: new Discrete(3), y: new MultiBinary(2) })],
  ];
  for (const [name, makeSpace] of spaces) {
    it(`${name}: samples are in the space and reproducible from a seed`, () => {
      const space = makeSpace();
      space.seed(42);
      const first = Array.from({ length: 200 }, () => space.sample());
      for (const x of first) expect(space.contains(x), String(x)).toBe(true);
      space.seed(42);
      expect(Array.from({ length: 200 }, () => space.sample())).toEqual(first);
      space.seed(43);
      expect(Array.from({ length: 200 }, () => space.sample())).not.toEqual(first);
    });
  }

  it("an integer Box sample covers both bounds", () => {
    const box = new Box(-2, 2, [1000], "int32");
    box.seed(0);
    const values = new Set(box.sample());
    expect([...values].sort((a, b) => a - b)).toEqual([-2, -1, 0, 1, 2]);
  });
});

describe("JSON", () => {
  const spaces: Space[] = [
    new Box([Number.NEGATIVE_INFINITY, -1], [Number.POSITIVE_INFINITY, 1], [2], "float64"),
    new Discrete(3, 1),
    new MultiDiscrete([2, 3, 4, 5], [0, 0, 1, 1], [2, 2]),
    new MultiBinary([2, 3]),
    new Tuple([
      new Discrete(2),
      new Dict([
        ["z", new Box(0, 1, [1])],
        ["a", new Discrete(4)],
      ]),
    ]),
  ];
  for (const space of spaces) {
    it(`round trip of ${space}`, () => {
      // Through a real JSON string: infinities must survive as "inf"/"-inf".
      const json = JSON.parse(JSON.stringify(space.toJSON())) as SpaceJSON;
      const rebuilt = spaceFromJSON(json);
      expect(rebuilt.constructor).toBe(space.constructor);
      expect(rebuilt.toJSON()).toEqual(space.toJSON());
      expect(String(rebuilt)).toBe(String(space));
    });
  }

  it("Dict keeps its key order (gymnasium sorts only a plain dict, the server sends a list)", () => {
    const dict = spaceFromJSON({
      type: "Dict",
      spaces: [
        ["z", { type: "Discrete", n: 2, start: 0 }],
        ["a", { type: "Discrete", n: 3, start: 0 }],
      ],
    }) as Dict;
    expect(dict.keys).toEqual(["z", "a"]);
    expect(Array.from(dict.flatten({ z: 1, a: 0 }))).toEqual([0, 1, 1, 0, 0]);
  });

  it("an unsupported space names its path", () => {
    const json = {
      type: "Tuple",
      spaces: [{ type: "Discrete", n: 2, start: 0 }, { type: "Graph" }],
    } as unknown as SpaceJSON;
    expect(() => spaceFromJSON(json)).toThrow(/space\[1\]: unsupported space .*Graph.*Box, Discrete/);
  });
});

describe("clear errors", () => {
  it("bad constructor arguments name the space and the problem", () => {
    expect(() => new Box(1, 0, [2])).toThrow(/Box: low\[0\]=1 must be <= high\[0\]=0/);
    expect(() => new Box([0, 0], [1, 1, 1])).toThrow(/Box: high has 3 values, shape needs 2/);
    expect(() => new Box(0, 1)).toThrow(/shape is required/);
    expect(() => new Discrete(0)).toThrow(/Discrete: n must be a positive integer, got 0/);
    expect(() => new MultiDiscrete([2, 0])).toThrow(/nvec entry must be > 0/);
  });

  it("assertContains names what was checked, the value and the space", () => {
    expect(() => new Discrete(2).assertContains(5, "CartPole-v1 action")).toThrow(
      "CartPole-v1 action: 5 is not in Discrete(2)",
    );
  });
});

describe("action rows (a vector env's flat action buffer)", () => {
  // A Dict inside a Tuple: every part kind, starts, and a float64 Box.
  const space = new Tuple([
    new Discrete(3, -1),
    new Dict({ bits: new MultiBinary(2), push: new Box(-1, 1, [2]) }),
    new MultiDiscrete([2, 3], [0, 1]),
    new Box(0, 5, [1], "float64"),
  ]);
  const row = [1, 0, 1, 0.5, -0.25, 1, 3, 4.5];

  it("lays out the parts' numbers in order: values with their starts, not one-hot", () => {
    expect(actionLayout(space)).toEqual({ dim: 8, integer: false });
    expect(actionLayout(new MultiDiscrete([2, 2]))).toEqual({ dim: 2, integer: true });
    expect(Array.from(actionStarts(space))).toEqual([-1, 0, 0, 0, 0, 0, 1, 0]);
    const bounds = actionClipBounds(space)!;
    expect(Array.from(bounds.low)).toEqual([
      -Infinity,
      -Infinity,
      -Infinity,
      -1,
      -1,
      -Infinity,
      -Infinity,
      0,
    ]);
    expect(Array.from(bounds.high)).toEqual([Infinity, Infinity, Infinity, 1, 1, Infinity, Infinity, 5]);
    expect(actionClipBounds(new Tuple([new Discrete(2), new MultiBinary(2)]))).toBeNull();
    expect(actionClipBounds(new Box(0, 5, [1], "int32"))).toBeNull();
  });

  it("reads a row as the space's value, reusing one value per reader, and writes it back", () => {
    const read = actionRowReader(space);
    const buffer = Float32Array.from([...row.map(() => 0), ...row]);
    const value = read(buffer, 1) as unknown[];
    expect(space.contains(value)).toBe(true);
    expect(value[0]).toBe(1);
    const inner = value[1] as { bits: Int8Array; push: Float32Array };
    expect(Object.keys(inner)).toEqual(["bits", "push"]);
    expect(inner.bits).toEqual(Int8Array.of(0, 1));
    expect(inner.push).toEqual(Float32Array.of(0.5, -0.25));
    expect(value[2]).toEqual(Int32Array.of(1, 3));
    expect(value[3]).toEqual(Float64Array.of(4.5));
    // The same holders, refilled: a vector env's step allocates nothing.
    const again = read(Float32Array.from([-1, 1, 1, 0, 0, 0, 1, 0]), 0) as unknown[];
    expect(again).toBe(value);
    expect(inner.bits).toEqual(Int8Array.of(1, 1));
    // Another reader, another value.
    expect(actionRowReader(space)(buffer, 1)).not.toBe(value);

    const out = new Float32Array(8);
    expect(writeActionRow(space, actionRowReader(space)(buffer, 1), out)).toBe(8);
    expect(Array.from(out)).toEqual(row);
  });

  it("names the row, the element and the part when an integer part would change a value", () => {
    const read = actionRowReader(space);
    expect(() => read(Float32Array.from([1, 0, 1, 0, 0, 1.5, 3, 0]), 0)).toThrow(
      /action row 0 element 5 = 1.5 does not fit MultiDiscrete\(\[2 3\]\) \(Int32Array\)/,
    );
    expect(() =>
      read(Float32Array.from([0, 0, 0, 0, 0, 0, 1, 0, 1, Number.NaN, 1, 0, 0, 0, 1, 0]), 1),
    ).toThrow(/action row 1 element 1 = NaN does not fit MultiBinary\(2\) \(Int8Array\)/);
  });

  it("refuses to write a value that is not in the space, naming the part (a Box part: its size only)", () => {
    const out = new Float32Array(8);
    const value = () => actionRowReader(space)(Float32Array.from(row), 0) as unknown[];
    const wrongKind = value();
    wrongKind[2] = Int32Array.of(2, 3);
    expect(() => writeActionRow(space, wrongKind, out)).toThrow(
      /action\[2\]: Int32Array\(2\) \[2, 3\] is not in MultiDiscrete/,
    );
    const outOfBounds = value();
    (outOfBounds[1] as { push: Float32Array }).push[0] = 7;
    expect(writeActionRow(space, outOfBounds, out)).toBe(8);
    const shortBox = value();
    (shortBox[1] as { push: Float32Array }).push = Float32Array.of(0);
    expect(() => writeActionRow(space, shortBox, out)).toThrow(/action\[1\]\.push: needs 2 values for Box/);
    expect(() => writeActionRow(space, value().slice(1), out)).toThrow(/action: .* is not in Tuple/);
  });
});
