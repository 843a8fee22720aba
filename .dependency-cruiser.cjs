/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "lower-layers-never-import-algorithms",
      comment:
        "The building blocks (envs, store, logging, utils, models, buffers, rollout, learner, config) sit " +
        "below the algorithms: src/algos, src/scheduler and src/cli are built on them, never the other way " +
        "round. A building block that needs something from an algorithm should get it passed in (or the " +
        "shared piece should move down a layer), so the lower layers stay usable and testable on their own.",
      severity: "error",
      from: { path: "^src/(envs|store|logging|utils|models|buffers|rollout|learner|config)/" },
      to: { path: "^src/(algos|scheduler|cli)/" },
    },
    {
      name: "no-circular",
      comment:
        "Import cycles make module initialisation order fragile (a half-initialised module during a cycle). " +
        "A lazy `await import()` inside a function is not one (Algorithm.fromCheckpoint reaches the registry " +
        "that way), and neither is a type-only import, which TypeScript erases.",
      severity: "error",
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ["dynamic-import", "type-only"] } },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(dist|dist-browser)/" },
    // Resolves the NodeNext-style `./foo.js` specifiers to the `./foo.ts` sources.
    tsConfig: { fileName: "tsconfig.json" },
    // Type-only imports count too: a lower layer must not depend on an algorithm's types either.
    tsPreCompilationDeps: true,
    // Package "exports" maps (e.g. the dynamic `import("tsx/esm/api")` in src/envs/make.ts).
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "node", "default"] },
  },
};
