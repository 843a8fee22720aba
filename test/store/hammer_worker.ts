/**
 * One thread of the object-store hammer test: the writer puts versions 1, 2, ... as fast as it can;
 * a reader gets as fast as it can and checks every copy against the version it claims to be.
 */
import { parentPort, workerData } from "node:worker_threads";
import { ObjectStore } from "../../src/store/object_store.js";
import { fill, type HammerJob, type HammerReport, isIntact } from "./hammer_content.js";

const job = workerData as HammerJob;
const store = ObjectStore.fromHandle(job.handle);
const report: HammerReport = {
  operations: 0,
  badReads: 0,
  backwardReads: 0,
  distinctVersions: 0,
  lastVersion: 0,
};
const buffer = new Float32Array(store.length("weights"));
const deadline = Date.now() + job.durationMs;
while (Date.now() < deadline) {
  if (job.role === "writer") {
    fill(buffer, report.lastVersion + 1);
    report.lastVersion = store.put("weights", buffer);
    report.distinctVersions++;
  } else {
    const read = store.get("weights", { into: buffer });
    if (!read) continue;
    if (!isIntact(read.data, read.version)) report.badReads++;
    if (read.version < report.lastVersion) report.backwardReads++;
    if (read.version !== report.lastVersion) report.distinctVersions++;
    report.lastVersion = read.version;
  }
  report.operations++;
}
parentPort?.postMessage(report);
