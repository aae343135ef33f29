import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import { FormatError, LabelRangeError } from "../src/errors.js";
import {
  CIFAR10_CLASSES,
  CIFAR100_CLASSES,
  CIFAR100_COARSE_CLASSES,
  cifarDataset,
} from "../src/sources/cifar.js";
import { tempDir } from "./helpers/tmp.js";
import { cifarRecord } from "./helpers/writers.js";

let dir: string;
/** Plane values encode (record, channel, pixel) so any layout mistake shows. */
const plane = (rec: number, ch: number) =>
  Uint8Array.from({ length: 1024 }, (_, p) => (rec * 50 + ch * 10 + p) % 256);

beforeAll(async () => {
  dir = await tempDir();
  const recs = [0, 1, 2].map((r) => cifarRecord([[6, 9, 0][r]!], plane(r, 0), plane(r, 1), plane(r, 2)));
  await writeFile(join(dir, "data_batch_1.bin"), Buffer.concat(recs.slice(0, 2)));
  await writeFile(join(dir, "data_batch_2.bin"), recs[2]!);
  const r100 = [0, 1].map((r) =>
    cifarRecord([[4, 19][r]!, [72, 99][r]!], plane(r, 0), plane(r, 1), plane(r, 2)),
  );
  await writeFile(join(dir, "train.bin"), Buffer.concat(r100));
});

describe("CIFAR source", () => {
  it("reads CIFAR-10 batches across files and interleaves planes to HWC", async () => {
    const ds = await cifarDataset({
      files: [join(dir, "data_batch_1.bin"), join(dir, "data_batch_2.bin")],
      variant: "cifar10",
    });
    expect(ds.length).toBe(3);
    expect(ds.classes).toEqual(CIFAR10_CLASSES);
    expect(Array.from(ds.labels)).toEqual([6, 9, 0]);
    const s = await ds.get(2);
    expect([s.image.width, s.image.height, s.image.channels]).toEqual([32, 32, 3]);
    // Pixel (y=3, x=5) → plane index 3·32+5 = 101.
    const o = (3 * 32 + 5) * 3;
    expect([s.image.data[o], s.image.data[o + 1], s.image.data[o + 2]]).toEqual([
      plane(2, 0)[101],
      plane(2, 1)[101],
      plane(2, 2)[101],
    ]);
  });

  it("reads CIFAR-100 fine labels by default and coarse labels on request", async () => {
    const fine = await cifarDataset({ files: [join(dir, "train.bin")], variant: "cifar100" });
    expect(Array.from(fine.labels)).toEqual([72, 99]);
    expect(fine.classes).toEqual(CIFAR100_CLASSES);
    expect(CIFAR100_CLASSES).toHaveLength(100);
    const coarse = await cifarDataset({
      files: [join(dir, "train.bin")],
      variant: "cifar100",
      labels: "coarse",
    });
    expect(Array.from(coarse.labels)).toEqual([4, 19]);
    expect(coarse.classes).toEqual(CIFAR100_COARSE_CLASSES);
    expect(Array.from((await fine.get(1)).image.data.subarray(0, 3))).toEqual([
      plane(1, 0)[0],
      plane(1, 1)[0],
      plane(1, 2)[0],
    ]);
  });

  it("rejects a file that is not whole records, suggesting the other variant", async () => {
    const err = await cifarDataset({ files: [join(dir, "train.bin")], variant: "cifar10" }).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toContain("train.bin");
    expect(err.message).toContain("variant 'cifar100'");
  });

  it("rejects labels outside the class list, naming file and record", async () => {
    const p = join(dir, "bad_labels.bin");
    await writeFile(p, cifarRecord([10], plane(0, 0), plane(0, 1), plane(0, 2)));
    const err = await cifarDataset({ files: [p], variant: "cifar10" }).catch((e) => e);
    expect(err).toBeInstanceOf(LabelRangeError);
    expect(err.message).toContain("record 0");
    expect(err.message).toContain(p);
  });

  it("refuses a gzipped batch that inflates past the ratio cap, naming the file", async () => {
    // 6000 all-zero records (18 MB) compress about 1000:1.
    const p = join(dir, "bomb.bin.gz");
    await writeFile(p, gzipSync(new Uint8Array(6000 * 3073)));
    const err = await cifarDataset({ files: [p], variant: "cifar10" }).then(
      () => null,
      (e) => e,
    ); // null (not the 17 MB data set) if it loads
    expect(err).toBeInstanceOf(FormatError);
    expect(err.message).toMatch(
      /^Bad data file .*bomb\.bin\.gz: gzip stream inflates to more than \d+ bytes/,
    );
    expect(err.message).toContain("gunzip -k");
  });
});
