import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ConfigError, ShapeMismatchError, TransformError, WorkerCrashError } from "../src/errors.js";
import { DataLoader } from "../src/loader.js";
import { synthetic } from "../src/sources/synthetic.js";
import { custom } from "../src/transforms/spec.js";
import { testBuildDir } from "./helpers/paths.js";
import { collect, tempDir, within } from "./helpers/tmp.js";

const fixtures = fileURLToPath(new URL("./fixtures/transforms.mjs", import.meta.url));
const ds = synthetic({ length: 40, height: 8, width: 8 });

describe("worker failures surface as rejected iterations", () => {
  it.each([0, 2])(
    "a transform that throws inside the worker rejects with TransformError (numWorkers %i)",
    async (numWorkers) => {
      const l = new DataLoader(ds, {
        batchSize: 4,
        numWorkers,
        transforms: [custom(fixtures, "throwOn", { index: 13 })],
      });
      const err = await within(
        collect(l).catch((e) => e),
        30_000,
        "iteration",
      );
      await l.close();
      expect(err).toBeInstanceOf(TransformError);
      expect(err.message).toContain("boom on sample 13");
      expect(err.message).toContain("custom(throwOn)");
      expect(err.message).toContain("[13]");
    },
  );

  it("a worker thread that dies rejects with WorkerCrashError instead of hanging, and the loader recovers", async () => {
    const l = new DataLoader(ds, {
      batchSize: 4,
      numWorkers: 2,
      transforms: [custom(fixtures, "exitWorker")],
    });
    const err = await within(
      collect(l).catch((e) => e),
      30_000,
      "iteration over a crashing worker",
    );
    expect(err).toBeInstanceOf(WorkerCrashError);
    expect(err.message).toMatch(/exited unexpectedly with code 3/);
    // The next loop gets a fresh pool (which crashes again the same way, still without hanging).
    const again = await within(
      collect(l).catch((e) => e),
      30_000,
      "second iteration",
    );
    expect(again).toBeInstanceOf(WorkerCrashError);
    await l.close();
  });

  it("passes custom transform options into workers", async () => {
    const l = new DataLoader(synthetic({ length: 2, height: 2, width: 2, channels: 1 }), {
      batchSize: 2,
      numWorkers: 1,
      transforms: [custom(fixtures, "addConstant", { value: 300 })],
    });
    const [b] = await collect(l);
    await l.close();
    expect(Array.from(b!.images)).toEqual(new Array(8).fill(1));
  });

  it("a custom transform returning ragged sizes fails with ShapeMismatchError", async () => {
    const l = new DataLoader(ds, { batchSize: 4, numWorkers: 1, transforms: [custom(fixtures, "ragged")] });
    const err = await collect(l).catch((e) => e);
    await l.close();
    expect(err).toBeInstanceOf(ShapeMismatchError);
    expect(err.message).toContain("[1]");
  });

  it("a missing custom export is reported from the worker as ConfigError", async () => {
    const l = new DataLoader(ds, { batchSize: 4, numWorkers: 1, transforms: [custom(fixtures, "nope")] });
    const err = await collect(l).catch((e) => e);
    await l.close();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('no function export "nope"');
  });
});

describe("process lifetime", () => {
  it("an idle loader never keeps the process alive, even without close()", async () => {
    const dir = await tempDir();
    const script = join(dir, "run.mjs");
    await writeFile(
      script,
      `import { DataLoader, synthetic, T } from ${JSON.stringify(join(testBuildDir(), "index.js"))};
const loader = new DataLoader(synthetic({ length: 64, height: 16, width: 16 }), {
  batchSize: 8, numWorkers: 2, shuffle: true, transforms: [T.randomHorizontalFlip(), T.normalize()],
});
let n = 0;
for await (const b of loader) n += b.shape[0];
const it = loader[Symbol.asyncIterator]();
await it.next(); // leave the second epoch half-read: pending batches must not pin the process either
await it.return();
console.log("images", n);
`,
    );
    const code = await new Promise<{ code: number | null; out: string; killed: boolean }>((resolve) => {
      const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      child.stderr.on("data", (d) => {
        out += d;
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      child.on("exit", (c, sig) => {
        clearTimeout(timer);
        resolve({ code: c, out, killed: sig === "SIGKILL" });
      });
    });
    expect(code.killed).toBe(false);
    expect(code.out).toContain("images 64");
    expect(code.code).toBe(0);
  });
});
