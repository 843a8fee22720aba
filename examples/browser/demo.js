// The demo: load the exported policy from ./policy/, build its env, and let the policy play, drawing
// every step. Query parameters: ?seed=N (first reset's seed), ?fps=N (steps per second, 0 = as fast as
// the browser allows; default the env's render fps).
// `window.rltsDemo` ({status, episode, steps, episodeReturn, done, error}) mirrors the page for tests.
import { loadPolicy, makeEnv, rgbaPixels, tf } from "./rlts.js";

const params = new URLSearchParams(location.search);
const canvas = document.getElementById("env");
const context = canvas.getContext("2d");
const button = document.getElementById("new-episode");
const text = (id, value) => {
  document.getElementById(id).textContent = value;
};

const demo = { status: "loading", episode: 0, steps: 0, episodeReturn: 0, done: false, error: null };
window.rltsDemo = demo;

function show(status, message) {
  demo.status = status;
  document.body.dataset.status = status;
  document.body.dataset.steps = String(demo.steps);
  document.body.dataset.episodeReturn = String(demo.episodeReturn);
  text("status", message);
  text("steps", String(demo.steps));
  text("return", String(demo.episodeReturn));
  text("episode", String(demo.episode));
}

function draw(env) {
  const { data, width, height } = rgbaPixels(env.render());
  if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
  context.putImageData(new ImageData(data, width, height), 0, 0);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// One small MLP per step: the cpu backend is faster than webgl here and matches tfjs in Node exactly.
await tf.setBackend("cpu");
let policy;
let env;
try {
  policy = await loadPolicy("./policy/");
  env = makeEnv(policy.metadata.envId, { render_mode: "rgb_array" });
} catch (error) {
  demo.error = error.message;
  show("error", `could not load the policy: ${error.message}`);
  throw error;
}
const { algo, envId } = policy.metadata;
text("env-id", `${envId} (${algo})`);
const fps = params.has("fps") ? Number(params.get("fps")) : env.metadata.renderFps;
const firstSeed = params.has("seed") ? Number(params.get("seed")) : Math.floor(Math.random() * 2 ** 31);

// Bumped by "New episode", so a running episode's loop notices it was replaced and stops.
let currentRun = 0;
async function playEpisode() {
  const run = ++currentRun;
  // Only the first reset is seeded; later episodes continue the env's generator, as in Gymnasium.
  let [obs] = env.reset(demo.episode === 0 ? { seed: firstSeed } : {});
  Object.assign(demo, { episode: demo.episode + 1, steps: 0, episodeReturn: 0, done: false });
  draw(env);
  show("running", "the policy is playing…");
  for (;;) {
    const started = performance.now();
    const [next, reward, terminated, truncated] = env.step(policy.act(policy.observationSpace.flatten(obs)));
    obs = next;
    demo.steps += 1;
    demo.episodeReturn += reward;
    draw(env);
    if (terminated || truncated) {
      demo.done = true;
      show("done", `episode over after ${demo.steps} steps (${terminated ? "terminated" : "time limit"})`);
      return;
    }
    show("running", "the policy is playing…");
    await sleep(fps > 0 ? Math.max(0, 1000 / fps - (performance.now() - started)) : 0);
    if (run !== currentRun) return;
  }
}

button.addEventListener("click", () => playEpisode());
button.disabled = false;
playEpisode();
