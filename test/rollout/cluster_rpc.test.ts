/**
 * The cluster env runners' transport on loopback: raw-frame messages (typed arrays as their bytes, the
 * numbers JSON cannot hold), several calls in flight, and CURVE: a client without the run's server key
 * gets nothing through.
 */
import { afterEach, describe, expect, it } from "vitest";
import { curveKeyPair } from "zeromq";
import { RpcClient, type RpcServer, serveRpc } from "../../src/rollout/cluster/rpc.js";
import { decodeMessage, encodeMessage } from "../../src/rollout/cluster/wire.js";

describe("env-runner wire format", () => {
  it("sends typed arrays as raw frames and keeps non-finite numbers", () => {
    const weights = new Float32Array([1.5, -2, Number.NaN]);
    const value = {
      weights,
      steps: new Uint8Array([1, 2, 3]),
      returns: [1, Number.POSITIVE_INFINITY],
      nested: { n: Number.NaN },
    };
    const frames = encodeMessage(value);
    expect(frames).toHaveLength(3);
    expect(frames[0].toString()).not.toContain("1.5");
    // A frame that starts at an odd offset still decodes into aligned memory.
    const shifted = Buffer.concat([Buffer.from([0]), frames[1]]).subarray(1);
    const decoded = decodeMessage([frames[0], shifted, frames[2]]) as typeof value;
    expect(decoded.weights).toBeInstanceOf(Float32Array);
    expect(Array.from(decoded.weights)).toEqual([1.5, -2, Number.NaN]);
    expect(Array.from(decoded.steps)).toEqual([1, 2, 3]);
    expect(decoded.returns).toEqual([1, Number.POSITIVE_INFINITY]);
    expect(decoded.nested.n).toBeNaN();
  });
});

describe("env-runner RPC over CURVE", () => {
  let server: RpcServer | undefined;
  const clients: RpcClient[] = [];
  afterEach(() => {
    for (const client of clients.splice(0)) client.close();
    server?.close();
  });

  async function start() {
    const keys = curveKeyPair();
    server = await serveRpc("tcp://127.0.0.1:*", keys.secretKey, {
      double: ({ x }: { x: Float32Array }) => x.map((v) => 2 * v),
      slow: async ({ ms }: { ms: number }) => {
        await new Promise((resolve) => setTimeout(resolve, ms));
        return ms;
      },
      fail: () => {
        throw new Error("env exploded");
      },
    });
    return keys;
  }

  it("answers calls in flight at once, in any order, and reports errors as one line", async () => {
    const keys = await start();
    const client = new RpcClient("runner 0", server!.endpoint, keys.publicKey);
    clients.push(client);
    const slow = client.call("slow", { ms: 200 });
    const fast = client.call("slow", { ms: 1 });
    expect(await fast).toBe(1);
    expect(await slow).toBe(200);
    expect(
      Array.from((await client.call("double", { x: new Float32Array([1, 2]) })) as Float32Array),
    ).toEqual([2, 4]);
    await expect(client.call("fail")).rejects.toThrow(/^env exploded$/);
    await expect(client.call("nope")).rejects.toThrow(/unknown method nope/);
  });

  it("lets no client without the run's server key through", async () => {
    await start();
    const intruder = new RpcClient("intruder", server!.endpoint, curveKeyPair().publicKey);
    clients.push(intruder);
    await expect(intruder.call("double", { x: new Float32Array([1]) }, 2000)).rejects.toThrow(
      /refused the run's CURVE handshake|took longer than 2 s/,
    );
  });

  it("fails calls in flight when the runner goes away", async () => {
    const keys = await start();
    const client = new RpcClient("runner 0", server!.endpoint, keys.publicKey);
    clients.push(client);
    await client.call("slow", { ms: 1 });
    const pending = client.call("slow", { ms: 5000 });
    server!.close();
    await expect(pending).rejects.toThrow(/runner 0: lost the connection/);
    await expect(client.died).rejects.toThrow(/lost the connection/);
  });
});
