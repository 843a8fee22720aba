import { describe, expect, it } from "vitest";
import type { Activation } from "../../src/models/dense.js";
import { WasmDenseLayers } from "../../src/models/dense_wasm.js";
import type { DenseShape } from "../../src/models/mlp.js";
import { createRng } from "../../src/utils/rng.js";

interface Layer {
  shape: DenseShape;
  kernel: Float32Array;
  bias: Float32Array;
}

function randomLayer(inDim: number, outDim: number, rng: () => number): Layer {
  const uniform = (n: number) => Float32Array.from({ length: n }, () => 2 * rng() - 1);
  return { shape: { inDim, outDim }, kernel: uniform(inDim * outDim), bias: uniform(outDim) };
}

/** The same layer in float64 with Math.tanh, one row at a time. */
function reference(layer: Layer, x: number[], activation: Activation): number[] {
  const { inDim, outDim } = layer.shape;
  return Array.from({ length: outDim }, (_, o) => {
    let sum = layer.bias[o];
    for (let i = 0; i < inDim; i++) sum += x[i] * layer.kernel[i * outDim + o];
    return activation === "tanh" ? Math.tanh(sum) : activation === "relu" ? Math.max(sum, 0) : sum;
  });
}

function loaded(layers: Layer[], activation: Activation): WasmDenseLayers {
  const net = new WasmDenseLayers(
    layers.map((l) => l.shape),
    activation,
  );
  layers.forEach((l, k) => {
    net.setLayer(k, l.kernel, l.bias);
  });
  return net;
}

describe("WasmDenseLayers", () => {
  // Widths that are not multiples of the kernel's 8 outputs per pass, so the padding is exercised.
  const rng = createRng(3);
  const trunk = [randomLayer(5, 13, rng), randomLayer(13, 20, rng)];
  const heads = [randomLayer(20, 3, rng), randomLayer(20, 1, rng)];

  // Row counts around the kernel's four-row blocks: none, the one-row loop only, blocks and leftovers.
  it.each([
    ["tanh", 0],
    ["tanh", 1],
    ["tanh", 3],
    ["tanh", 4],
    ["tanh", 9],
    ["relu", 7],
    ["relu", 70],
  ] as const)("a %s trunk and two heads match float64 within 1e-5 (%i rows)", (activation, rows) => {
    const net = loaded([...trunk, ...heads], activation);
    const x = Float32Array.from({ length: rows * 5 }, () => 4 * rng() - 2);
    const policy = new Float32Array(rows * 3);
    const value = new Float32Array(rows);
    net.run(x, rows, [0, 1], [2, 3], [policy, value]);
    for (let r = 0; r < rows; r++) {
      let hidden = Array.from(x.subarray(r * 5, (r + 1) * 5));
      for (const layer of trunk) hidden = reference(layer, hidden, activation);
      const expected = [...reference(heads[0], hidden, "linear"), ...reference(heads[1], hidden, "linear")];
      const got = [...policy.subarray(r * 3, (r + 1) * 3), value[r]];
      got.forEach((g, k) => {
        expect(Math.abs(g - expected[k])).toBeLessThan(1e-5);
      });
    }
  });

  it("runs a head straight on the input when the trunk is empty", () => {
    const head = randomLayer(5, 13, rng);
    const net = loaded([head], "tanh");
    const x = Float32Array.from({ length: 10 }, () => rng());
    const out = new Float32Array(2 * 13);
    net.run(x, 2, [], [0], [out]);
    for (let r = 0; r < 2; r++) {
      reference(head, Array.from(x.subarray(r * 5, (r + 1) * 5)), "linear").forEach((expected, o) => {
        expect(Math.abs(out[r * 13 + o] - expected)).toBeLessThan(1e-5);
      });
    }
  });

  it("keeps its weights when a larger batch grows the memory", () => {
    const net = loaded([trunk[0], randomLayer(13, 3, rng)], "tanh");
    const run = (rows: number) => {
      const x = Float32Array.from({ length: rows * 5 }, (_, k) => Math.sin(k));
      const out = new Float32Array(rows * 3);
      net.run(x, rows, [0], [1], [out]);
      return out;
    };
    const small = run(2);
    const large = run(100_000); // ~5 MiB of activations: past the memory's first pages
    expect(Array.from(large.subarray(0, 6))).toEqual(Array.from(small));
    expect(Array.from(run(2))).toEqual(Array.from(small));
  });

  it("computes tanh within 1e-6 of Math.tanh (relative), from tiny to infinite inputs", () => {
    // tanh(x) then the identity: the head passes the trunk's tanh through unchanged.
    const net = new WasmDenseLayers(
      [
        { inDim: 1, outDim: 1 },
        { inDim: 1, outDim: 1 },
      ],
      "tanh",
    );
    net.setLayer(0, Float32Array.of(1), Float32Array.of(0));
    net.setLayer(1, Float32Array.of(1), Float32Array.of(0));
    const special = [0, 1e-40, -1e-30, 1e-4, 9.99, 10, 10.01, 50, -50, 1e30, Infinity, -Infinity, Number.NaN];
    const grid = Array.from({ length: 400_001 }, (_, k) => (k - 200_000) * 1e-4); // [-20, 20]
    const x = Float32Array.from([...special, ...grid]);
    const y = new Float32Array(x.length);
    net.run(x, x.length, [0], [1], [y]);
    let worst = 0;
    x.forEach((xi, k) => {
      if (Number.isNaN(xi)) return;
      const exact = Math.tanh(xi);
      worst = Math.max(worst, exact === 0 ? Math.abs(y[k]) : Math.abs(y[k] - exact) / Math.abs(exact));
    });
    expect(worst).toBeLessThan(1e-6);
    expect(y[special.length - 1]).toBeNaN();
  });

  it("names what was expected when sizes are wrong", () => {
    const net = loaded([trunk[0], randomLayer(13, 3, rng)], "relu");
    expect(() => net.setLayer(0, new Float32Array(3), new Float32Array(13))).toThrow(
      "dense layer 0 (5 -> 13): expected a kernel of 65 and a bias of 13 float32s, got 3 and 13",
    );
    expect(() => net.setLayer(2, new Float32Array(1), new Float32Array(1))).toThrow(
      "dense layer 2: there are 2 layers",
    );
    expect(() => net.run(new Float32Array(9), 2, [0], [1], [new Float32Array(6)])).toThrow(
      "dense input: expected 2 x 5 = 10 numbers, got 9",
    );
    expect(() => net.run(new Float32Array(10), 2, [0], [1], [new Float32Array(5)])).toThrow(
      "head 1: output needs 2 x 3 numbers, got 5",
    );
    expect(() => new WasmDenseLayers([{ inDim: 0, outDim: 4 }], "tanh")).toThrow(
      "dense layer 0 -> 4: sizes must be >= 1",
    );
  });
});
