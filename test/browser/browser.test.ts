/**
 * The exported policy in headless Chromium: the bundle computes the same greedy actions as Node, and the
 * demo page lets the committed CartPole policy play a whole episode. Writes docs/browser-demo.png.
 */
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoServer, serveDemo } from "../../src/cli/serve_demo.js";
import { makeEnv } from "../../src/envs/registry.js";
import type { GreedyPolicy } from "../../src/models/policy.js";
import { loadPolicyFromDir } from "../../src/models/policy_node.js";
import { createRng } from "../../src/utils/rng.js";
import { MATCH_DIGITS_ID } from "../fixtures/match_digits_env.js";
import { MATCH_TARGET_ID } from "../fixtures/match_target_env.js";
import { CHROMIUM, CHROMIUM_ARGS, ensureBrowserBundle, requireChromium } from "./browser_setup.js";
import { writeRandomPolicy } from "./policy_fixture.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DEMO_POLICY = path.join(ROOT, "examples/browser/policy");
const SCREENSHOT = path.join(ROOT, "docs/browser-demo.png");

let browser: Browser;
let scratch: string;
beforeAll(async () => {
  requireChromium();
  ensureBrowserBundle();
  await tf.setBackend("cpu");
  scratch = await mkdtemp(path.join(tmpdir(), "rlts-browser-"));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});
afterAll(async () => {
  await browser?.close();
  await rm(scratch, { recursive: true, force: true });
});

/** Opens a page on a server for `policyDir`, runs `body(page, server)`, and closes both. */
async function withPage<T>(
  policyDir: string,
  body: (page: Page, server: DemoServer) => Promise<T>,
): Promise<T> {
  const server = await serveDemo(policyDir, { port: 0 });
  const page = await browser.newPage({ viewport: { width: 680, height: 700 } });
  const pageErrors: string[] = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
  try {
    return await body(page, server);
  } catch (error) {
    throw pageErrors.length > 0
      ? new Error(`${(error as Error).message}\npage errors: ${pageErrors.join("\n")}`)
      : error;
  } finally {
    await page.close();
    await server.close();
  }
}

/** Greedy actions of the policy served at /policy/, computed by the bundle in the page. */
async function browserActions(
  page: Page,
  server: DemoServer,
  observations: Float32Array[],
): Promise<number[][]> {
  // Any page of the server's origin will do; the JSON file runs no demo alongside.
  await page.goto(new URL("policy/policy.json", server.url).href);
  const rows = JSON.stringify(observations.map((o) => Array.from(o)));
  // A string, not a function: vitest's transform of a function body may reference helpers the page lacks.
  return page.evaluate(`(async () => {
    const rlts = await import("/rlts.js");
    await rlts.tf.setBackend("cpu");
    const policy = await rlts.loadPolicy("/policy/");
    const flat = ${FLAT_ACTION};
    return ${rows}.map((row) => flat(policy.act(new Float32Array(row))));
  })()`);
}

/**
 * An action's numbers in one list: a number, a typed array's values, a Tuple's or Dict's parts' in
 * order. As source text, so the page runs the same function as Node.
 */
const FLAT_ACTION = `function flat(action) {
  if (typeof action === "number") return [action];
  if (ArrayBuffer.isView(action)) return Array.from(action);
  return (Array.isArray(action) ? action : Object.values(action)).flatMap(flat);
}`;
const flatAction = new Function(`return ${FLAT_ACTION}`)() as (action: unknown) => number[];

/** Observations a policy meets: seeded random actions in the env, and some far off the usual states. */
function testObservations(envId: string, count: number): Float32Array[] {
  const env = makeEnv(envId);
  env.actionSpace.seed(5);
  const rng = createRng(7);
  const observations: Float32Array[] = [];
  let [obs] = env.reset({ seed: 5 });
  while (observations.length < count) {
    observations.push(obs as Float32Array);
    observations.push(Float32Array.from(obs as Float32Array, (x) => x * (1 + 4 * rng())));
    const [next, , terminated, truncated] = env.step(env.actionSpace.sample());
    obs = terminated || truncated ? env.reset()[0] : next;
  }
  return observations.slice(0, count);
}

function nodeActions(policy: GreedyPolicy, observations: Float32Array[]): number[][] {
  return observations.map((obs) => flatAction(policy.act(obs)));
}

/** The greedy actions of the policy folder `dir` on 400 observations of `envId`, in Node and in the page. */
async function actionsInBoth(
  dir: string,
  envId: string,
): Promise<{ actual: number[][]; expected: number[][] }> {
  const observations = testObservations(envId, 400);
  const policy = await loadPolicyFromDir(dir);
  const expected = nodeActions(policy, observations);
  policy.dispose();
  const actual = await withPage(dir, (page, server) => browserActions(page, server, observations));
  return { actual, expected };
}

/** The largest difference between two action lists. */
function worstDifference(actual: number[][], expected: number[][]): number {
  expect(actual.length).toBe(expected.length);
  return Math.max(...actual.map((row, i) => Math.max(...row.map((a, k) => Math.abs(a - expected[i][k])))));
}

describe("the same actions in Node and in the browser", () => {
  it("categorical: the committed CartPole policy", async () => {
    const { actual, expected } = await actionsInBoth(DEMO_POLICY, "CartPole-v1");
    expect(actual).toEqual(expected);
    expect(new Set(expected.flat()).size).toBe(2);
  });

  it("gaussian with observation normalisation: Pendulum", async () => {
    const dir = path.join(scratch, "pendulum");
    await writeRandomPolicy(dir, {
      envId: "Pendulum-v1",
      seed: 9,
      weightScale: 150,
      observationNormalization: { mean: [0.1, 0.2, -0.3], var: [0.5, 0.4, 2], epsilon: 1e-8, clip: 2 },
    });
    const { actual, expected } = await actionsInBoth(dir, "Pendulum-v1");
    expect(worstDifference(actual, expected)).toBeLessThanOrEqual(1e-5);
  });

  it("multi-categorical (MultiDiscrete with starts)", async () => {
    const dir = path.join(scratch, "match-digits");
    await writeRandomPolicy(dir, { envId: MATCH_DIGITS_ID, seed: 11, weightScale: 3 });
    const { actual, expected } = await actionsInBoth(dir, MATCH_DIGITS_ID);
    expect(actual).toEqual(expected);
    expect(new Set(expected.map((row) => row.join())).size).toBeGreaterThan(2);
  });

  it("composite (a Dict of a Discrete with a start and a Box)", async () => {
    const dir = path.join(scratch, "match-target");
    await writeRandomPolicy(dir, { envId: MATCH_TARGET_ID, seed: 13, weightScale: 60 });
    const { actual, expected } = await actionsInBoth(dir, MATCH_TARGET_ID);
    expect(worstDifference(actual, expected)).toBeLessThanOrEqual(1e-5);
    // The target is the env's value (1, 2 or 3), chosen alike; the value is clipped to [-1, 1].
    expect(actual.map((row) => row[0])).toEqual(expected.map((row) => row[0]));
    expect(new Set(expected.map((row) => row[0]))).toEqual(new Set([1, 2, 3]));
    expect(Math.max(...expected.map((row) => Math.abs(row[1])))).toBe(1);
  });

  it("squashed gaussian (SAC): Pendulum", async () => {
    const dir = path.join(scratch, "pendulum-sac");
    await writeRandomPolicy(dir, {
      envId: "Pendulum-v1",
      seed: 10,
      weightScale: 60,
      module: "squashed_gaussian",
    });
    const { actual, expected } = await actionsInBoth(dir, "Pendulum-v1");
    expect(worstDifference(actual, expected)).toBeLessThanOrEqual(1e-5);
    expect(Math.max(...expected.flat().map(Math.abs))).toBeGreaterThan(1);
  });
});

interface DemoState {
  error: string | null;
  episode: number;
  steps: number;
  episodeReturn: number;
}

describe("the demo page", () => {
  it("lets the trained CartPole policy play a whole episode", async () => {
    const seed = 42;
    const result = await withPage(DEMO_POLICY, async (page, server) => {
      await page.goto(`${server.url}?seed=${seed}&fps=0`);
      await page.waitForFunction("window.rltsDemo && (window.rltsDemo.done || window.rltsDemo.error)", null, {
        timeout: 60_000,
      });
      await mkdir(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT });
      const first = (await page.evaluate("({ ...window.rltsDemo })")) as DemoState;
      // "New episode" starts an unseeded second episode: the page must run it to its end too.
      await page.click("#new-episode");
      await page.waitForFunction("window.rltsDemo.episode === 2 && window.rltsDemo.done", null, {
        timeout: 60_000,
      });
      return { first, second: (await page.evaluate("({ ...window.rltsDemo })")) as DemoState };
    });
    expect(result.first.error).toBeNull();
    expect(result.first.episodeReturn).toBeGreaterThanOrEqual(475);
    expect(result.second.error).toBeNull();
    expect(result.second.steps).toBe(result.second.episodeReturn);

    // The same episode in Node: the page's env and policy must agree with ours step for step.
    const policy = await loadPolicyFromDir(DEMO_POLICY);
    const env = makeEnv("CartPole-v1");
    let [obs] = env.reset({ seed });
    let nodeReturn = 0;
    for (;;) {
      const [next, reward, terminated, truncated] = env.step(policy.act(obs as Float32Array));
      nodeReturn += reward;
      obs = next;
      if (terminated || truncated) break;
    }
    policy.dispose();
    expect(result.first.episodeReturn).toBe(nodeReturn);
    expect(result.first.steps).toBe(nodeReturn);
    console.log(
      `browser demo: episode returns ${result.first.episodeReturn} (seed ${seed}), ${result.second.episodeReturn}`,
    );
    expect(result.first.episodeReturn, "CartPole-v1 is solved at 475").toBeGreaterThanOrEqual(475);
  });
});
