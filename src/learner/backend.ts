/**
 * Picks the tfjs backend the learner trains on. The native packages (`@tensorflow/tfjs-node[-gpu]`) are
 * optional: they download libtensorflow at install time, so they are loaded with a dynamic `import()`
 * and skipped by `auto` when absent. wasm (SIMD kernels) and the pure-JS cpu backend always load.
 */
import * as tf from "@tensorflow/tfjs";

export type BackendChoice = "auto" | "tensorflow-gpu" | "tensorflow" | "wasm" | "cpu";
export type BackendName = Exclude<BackendChoice, "auto">;

/** In `auto`'s order of preference. */
const BACKENDS: { name: BackendName; tfName: string; pkg?: string }[] = [
  { name: "tensorflow-gpu", tfName: "tensorflow", pkg: "@tensorflow/tfjs-node-gpu" },
  { name: "tensorflow", tfName: "tensorflow", pkg: "@tensorflow/tfjs-node" },
  { name: "wasm", tfName: "wasm", pkg: "@tensorflow/tfjs-backend-wasm" },
  { name: "cpu", tfName: "cpu" },
];

async function tryBackend(backend: (typeof BACKENDS)[number]): Promise<void> {
  // Importing a backend package registers it with tfjs; a non-literal specifier keeps the
  // optional native packages out of the type checker and the bundle.
  if (backend.pkg) await import(backend.pkg);
  if (!(await tf.setBackend(backend.tfName)))
    throw new Error(`tf.setBackend("${backend.tfName}") returned false`);
  await tf.ready();
}

/**
 * Makes `choice` the active tfjs backend and returns the one chosen. `auto` takes the first that loads:
 * tensorflow-gpu, tensorflow, wasm, cpu. A backend named explicitly that cannot load is an error saying
 * how to install it.
 */
export async function selectBackend(choice: BackendChoice = "auto"): Promise<BackendName> {
  if (choice === "auto") {
    for (const backend of BACKENDS) {
      try {
        await tryBackend(backend);
        return backend.name;
      } catch {
        // Not installed or cannot load here: try the next one.
      }
    }
    throw new Error("no tfjs backend could be loaded (not even cpu)");
  }
  const backend = BACKENDS.find((b) => b.name === choice);
  if (!backend) {
    throw new RangeError(
      `learner.backend: unknown backend "${choice}"; expected auto, ${BACKENDS.map((b) => b.name).join(", ")}`,
    );
  }
  try {
    await tryBackend(backend);
  } catch (err) {
    const hint = backend.pkg
      ? ` Install it with \`npm install ${backend.pkg}\`${backend.name === "tensorflow-gpu" ? " (needs CUDA 11.2 and cuDNN 8.1)" : ""}, or set learner.backend to auto.`
      : "";
    throw new Error(`learner.backend "${choice}" could not be loaded: ${(err as Error).message}.${hint}`);
  }
  return backend.name;
}
