import { join } from "node:path";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import { FormatError, LabelRangeError, NotFoundError } from "../src/errors.js";
import { DataLoader } from "../src/loader.js";
import { webDataset } from "../src/sources/webdataset.js";
import { collect, tempDir } from "./helpers/tmp.js";
import { writeTar } from "./helpers/writers.js";

let dir: string;
let shards: string[];
const PER_SHARD = 5;
const SHARDS = 3;

/** Sample id n is a solid 6x4 PNG whose red value is 10·n, labelled n mod 3: pixels prove which sample arrived. */
async function sampleEntries(ids: number[]) {
  const out: { name: string; data: Uint8Array | string }[] = [];
  for (const n of ids) {
    const png = await sharp(Buffer.from(Array.from({ length: 24 }, () => [10 * n, 7, 9]).flat()), {
      raw: { width: 6, height: 4, channels: 3 },
    })
      .png()
      .toBuffer();
    out.push({ name: `s${String(n).padStart(3, "0")}.png`, data: png });
    out.push({ name: `s${String(n).padStart(3, "0")}.cls`, data: String(n % 3) });
  }
  return out;
}

async function readAll(ds: ReturnType<typeof webDataset>, epoch: number, rank = 0, worldSize = 1) {
  const keys: string[] = [];
  for await (const s of ds.stream({ epoch, seed: 1, rank, worldSize })) keys.push(s.key.split(":")[1]!);
  return keys;
}

beforeAll(async () => {
  dir = await tempDir();
  shards = [];
  for (let s = 0; s < SHARDS; s++) {
    const p = join(dir, `shard-${s}.tar`);
    const ids = Array.from({ length: PER_SHARD }, (_, i) => s * PER_SHARD + i);
    await writeTar(p, await sampleEntries(ids));
    shards.push(p);
  }
});

const allKeys = Array.from({ length: SHARDS * PER_SHARD }, (_, n) => `s${String(n).padStart(3, "0")}`);

describe("WebDataset source", () => {
  it("streams shards in order without shuffling", async () => {
    const ds = webDataset({ shards, numClasses: 3, shuffle: false });
    expect(await readAll(ds, 0)).toEqual(allKeys);
  });

  it("shuffles shards and samples per (seed, epoch), keeping every sample exactly once", async () => {
    const ds = webDataset({ shards, numClasses: 3, shuffleBuffer: 4 });
    const e0 = await readAll(ds, 0);
    expect([...e0].sort()).toEqual(allKeys);
    expect(e0).not.toEqual(allKeys);
    expect(await readAll(ds, 0)).toEqual(e0);
    expect(await readAll(ds, 1)).not.toEqual(e0);
  });

  it("splits shards across ranks: disjoint and covering", async () => {
    const ds = webDataset({ shards, numClasses: 3, shuffleBuffer: 3 });
    const r0 = await readAll(ds, 2, 0, 2);
    const r1 = await readAll(ds, 2, 1, 2);
    expect(r0.filter((k) => r1.includes(k))).toEqual([]);
    expect([...r0, ...r1].sort()).toEqual(allKeys);
    expect(() => ds.shardsFor({ epoch: 0, seed: 0, rank: 0, worldSize: 4 })).toThrow(
      /3 shards cannot feed 4 ranks/,
    );
  });

  it.each([0, 2])(
    "decodes through the DataLoader with matching labels (numWorkers %i)",
    async (numWorkers) => {
      const ds = webDataset({ shards, numClasses: 3, shuffleBuffer: 4 });
      const loader = new DataLoader(ds, { batchSize: 4, numWorkers, seed: 1 });
      const batches = await collect(loader);
      await loader.close();
      expect(batches.map((b) => b.shape[0])).toEqual([4, 4, 4, 3]);
      const seen: number[] = [];
      for (const b of batches) {
        const [B, C, H, W] = b.shape;
        expect([C, H, W]).toEqual([3, 4, 6]);
        for (let i = 0; i < B; i++) {
          const id = Math.round((b.images[i * C * H * W]! * 255) / 10);
          expect(b.labels[i]).toBe(id % 3);
          seen.push(id);
        }
      }
      expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    },
  );

  it("resumes a stream mid-epoch exactly", async () => {
    const ds = webDataset({ shards, numClasses: 3, shuffleBuffer: 4 });
    const a = new DataLoader(ds, { batchSize: 3, numWorkers: 0, seed: 5 });
    const full = await collect(a);
    const b = new DataLoader(ds, { batchSize: 3, numWorkers: 0, seed: 5 });
    const it = b[Symbol.asyncIterator]();
    await it.next();
    await it.next();
    const st = b.state();
    await it.return?.();
    expect(st).toMatchObject({ epoch: 0, position: 2 });
    const c = new DataLoader(ds, { batchSize: 3, numWorkers: 0, seed: 0 });
    c.loadState(st);
    const rest = await collect(c);
    expect(rest.map((x) => Array.from(x.images))).toEqual(full.slice(2).map((x) => Array.from(x.images)));
  });

  it("reports a missing shard, a sample without .cls, and an out-of-range label", async () => {
    await expect(readAll(webDataset({ shards: [join(dir, "nope.tar")], numClasses: 3 }), 0)).rejects.toThrow(
      NotFoundError,
    );
    const noCls = join(dir, "nocls.tar");
    const entries = await sampleEntries([1, 2]);
    await writeTar(
      noCls,
      entries.filter((e) => e.name !== "s002.cls"),
    );
    const err = await readAll(webDataset({ shards: [noCls], numClasses: 3, shuffle: false }), 0).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toContain("s002 has no .cls");
    expect(err.message).toContain(noCls);
    const err2 = await readAll(webDataset({ shards, numClasses: 2, shuffle: false }), 0).catch((e) => e);
    expect(err2).toBeInstanceOf(LabelRangeError);
    expect(err2.message).toContain("sample s002");
    expect(() => webDataset({ shards })).toThrow(/numClasses/);
  });
});
