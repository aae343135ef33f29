import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type HostTensor,
  SafetensorsError,
  bf16ArrayToF32,
  bf16ToF32,
  f16ArrayToF32,
  f16ToF32,
  f32ArrayToBf16,
  f32ArrayToF16,
  f32ToBf16,
  f32ToF16,
  loadSafetensors,
  openSafetensors,
  parseSafetensors,
  readSafetensorsHeader,
  saveSafetensors,
  serializeSafetensors,
} from "../src/index.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "vit-st-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** One small tensor of every dtype, with values that exercise sign/extremes. */
function sample(): Record<string, HostTensor> {
  return {
    f32: { dtype: "F32", shape: [2, 3], data: new Float32Array([1, -2.5, 3e-8, Number.NaN, -0, 1e30]) },
    f16: { dtype: "F16", shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x7bff]) },
    bf16: { dtype: "BF16", shape: [1, 2], data: new Uint16Array([0x3f80, 0xbf00]) },
    i64: { dtype: "I64", shape: [3], data: new BigInt64Array([0n, -1n, 9007199254740993n]) },
    i32: { dtype: "I32", shape: [2], data: new Int32Array([-2147483648, 7]) },
    u8: { dtype: "U8", shape: [5], data: new Uint8Array([0, 1, 2, 254, 255]) },
    f64: { dtype: "F64", shape: [2], data: new Float64Array([Math.PI, -1e300]) },
    empty: { dtype: "F32", shape: [0, 4], data: new Float32Array(0) },
    scalar: { dtype: "F32", shape: [], data: new Float32Array([42]) },
  };
}

function bytesOf(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function expectSameTensors(a: Record<string, HostTensor>, b: Record<string, HostTensor>) {
  expect(Object.keys(a)).toEqual(Object.keys(b));
  for (const k of Object.keys(a)) {
    const x = a[k]!;
    const y = b[k]!;
    expect(y.dtype).toBe(x.dtype);
    expect(y.shape).toEqual(x.shape);
    expect(y.data.constructor).toBe(x.data.constructor);
    expect(Buffer.from(bytesOf(y)).equals(Buffer.from(bytesOf(x)))).toBe(true);
  }
}

/** Builds a file by hand so that the header can be made wrong on purpose. */
function rawFile(header: unknown, dataLength: number, headerLengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + dataLength);
  new DataView(out.buffer).setBigUint64(0, headerLengthOverride ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

describe("round trips", () => {
  it("serialize → parse keeps every dtype bit-identical, with metadata", () => {
    const t = sample();
    const buf = serializeSafetensors(t, { format: "pt", note: "ünïcode" });
    const { tensors, metadata } = parseSafetensors(buf);
    expectSameTensors(t, tensors);
    expect(metadata).toEqual({ format: "pt", note: "ünïcode" });
  });

  it("pads the header so the data section starts 8-byte aligned", () => {
    const buf = serializeSafetensors(sample());
    const n = Number(new DataView(buf.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    expect(JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + n)))).toHaveProperty("f32");
  });

  it("save → load through a file, and the file equals serialize()", async () => {
    const t = sample();
    const path = join(dir, "all.safetensors");
    await saveSafetensors(path, t, { a: "b" });
    expectSameTensors(t, await loadSafetensors(path));
    expect(Buffer.from(await readFile(path)).equals(Buffer.from(serializeSafetensors(t, { a: "b" })))).toBe(
      true,
    );
    expectSameTensors(t, await loadSafetensors(await readFile(path)));
  });

  it("saves atomically: no temporary file is left and an existing file is replaced", async () => {
    const path = join(dir, "atomic.safetensors");
    await writeFile(path, "old contents");
    await saveSafetensors(path, { x: { dtype: "I32", shape: [1], data: new Int32Array([5]) } });
    const names = await readdir(dir);
    expect(names.filter((n) => n.includes(".tmp-"))).toEqual([]);
    const back = await loadSafetensors(path);
    expect(Array.from(back.x!.data as Int32Array)).toEqual([5]);
  });

  it("writes tensors that are views into a larger buffer", async () => {
    const big = new Float32Array([9, 1, 2, 3, 9]);
    const t: Record<string, HostTensor> = { v: { dtype: "F32", shape: [3], data: big.subarray(1, 4) } };
    const path = join(dir, "view.safetensors");
    await saveSafetensors(path, t);
    expect(Array.from((await loadSafetensors(path)).v!.data as Float32Array)).toEqual([1, 2, 3]);
  });

  it("rejects tensors whose data does not match dtype or shape", () => {
    expect(() =>
      serializeSafetensors({ x: { dtype: "F16", shape: [2], data: new Float32Array(2) as never } }),
    ).toThrow(/dtype F16 needs a Uint16Array/);
    expect(() =>
      serializeSafetensors({ x: { dtype: "F32", shape: [3], data: new Float32Array(2) } }),
    ).toThrow(/shape \[3\] does not match 2 elements/);
  });
});

describe("header-only and partial reads", () => {
  it("readSafetensorsHeader reports dtype, shape and absolute byte ranges", async () => {
    const path = join(dir, "hdr.safetensors");
    await saveSafetensors(path, sample(), { k: "v" });
    const h = await readSafetensorsHeader(path);
    expect(h.metadata).toEqual({ k: "v" });
    expect([...h.tensors.keys()]).toEqual(Object.keys(sample()));
    const f16 = h.tensors.get("f16")!;
    expect(f16).toMatchObject({ dtype: "F16", shape: [3], byteLength: 6, dataOffsets: [24, 30] });
    expect(f16.byteOffset).toBe(h.dataOffset + 24);
    const file = await readFile(path);
    expect(
      Array.from(
        new Uint16Array(
          file.buffer.slice(file.byteOffset + f16.byteOffset, file.byteOffset + f16.byteOffset + 6),
        ),
      ),
    ).toEqual([0x3c00, 0xc000, 0x7bff]);
  });

  it("openSafetensors reads single tensors and converts to f32", async () => {
    const path = join(dir, "partial.safetensors");
    await saveSafetensors(path, sample());
    const f = await openSafetensors(path);
    try {
      expect(f.keys()).toContain("i64");
      expect(f.has("nope")).toBe(false);
      expect(() => f.info("nope")).toThrow(SafetensorsError);
      const i64 = await f.read("i64");
      expect(i64.dtype).toBe("I64");
      expect(Array.from(i64.data as BigInt64Array)).toEqual([0n, -1n, 9007199254740993n]);
      expect(Array.from((await f.readAsF32("f16")).data)).toEqual([1, -2, 65504]);
      expect(Array.from((await f.readAsF32("bf16")).data)).toEqual([1, -0.5]);
      expect(Array.from((await f.readAsF32("i32")).data)).toEqual([-2147483648, 7]);
      expect(Array.from((await f.readAsF32("u8")).data)).toEqual([0, 1, 2, 254, 255]);
      expect((await f.readAsF32("i64")).shape).toEqual([3]);
      expect((await f.read("empty")).shape).toEqual([0, 4]);
    } finally {
      await f.close();
    }
    await expect(f.read("f32")).rejects.toThrow(/after close/);
  });
});

describe("corrupt and truncated files", () => {
  const ok = { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } };
  const cases: [string, () => Uint8Array, RegExp][] = [
    ["shorter than the length prefix", () => new Uint8Array(5), /shorter than the 8-byte header length/],
    ["header length past the end", () => rawFile(ok, 8, 10_000n), /header length 10000 runs past the end/],
    ["header length absurd", () => rawFile(ok, 8, 1n << 60n), /exceeds the 100000000-byte limit/],
    ["header length zero", () => rawFile(ok, 8, 0n), /header length is 0/],
    ["invalid JSON", () => rawFile('{"a": {"dtype": "F32",', 8), /header is not valid JSON/],
    ["JSON not an object", () => rawFile("[1,2]", 0), /not an object/],
    [
      "unknown dtype",
      () => rawFile({ a: { dtype: "Q4", shape: [2], data_offsets: [0, 8] } }, 8),
      /unsupported dtype "Q4"/,
    ],
    [
      "bad shape",
      () => rawFile({ a: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, 8),
      /shape \[-2\]/,
    ],
    [
      "offsets past end (truncated data)",
      () => rawFile(ok, 4),
      /run past the end of the data section \(4 bytes/,
    ],
    [
      "shape × dtype ≠ byte length",
      () => rawFile({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8),
      /= 12 bytes, but data_offsets \[0, 8\] span 8 bytes/,
    ],
    [
      "overlapping offsets",
      () =>
        rawFile(
          {
            a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
            b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
          },
          12,
        ),
      /"b" data_offsets \[4, 12\] overlap "a"/,
    ],
    [
      "unsorted offsets leaving a gap",
      () =>
        rawFile(
          {
            b: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
            a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
          },
          12,
        ),
      /gap of 4 bytes between "a"/,
    ],
    ["trailing bytes", () => rawFile(ok, 16), /data section is 16 bytes but the tensors cover 8/],
    [
      "end before begin",
      () => rawFile({ a: { dtype: "U8", shape: [0], data_offsets: [4, 0] } }, 4),
      /end before begin/,
    ],
    ["non-string metadata", () => rawFile({ __metadata__: { x: 1 } }, 0), /__metadata__.x is not a string/],
  ];

  for (const [what, make, message] of cases) {
    it(`buffer: ${what}`, () => {
      let err: unknown;
      try {
        parseSafetensors(make(), "mem.safetensors");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SafetensorsError);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/^mem\.safetensors: /);
      expect((err as Error).message).toMatch(message);
    });
  }

  it("file: errors name the path, for the header reader, open and load", async () => {
    const path = join(dir, "bad.safetensors");
    await writeFile(path, rawFile(ok, 4));
    // Start each call only when its rejection is awaited (a pending rejection would be "unhandled").
    for (const call of [
      () => readSafetensorsHeader(path),
      () => openSafetensors(path),
      () => loadSafetensors(path),
    ]) {
      await expect(call()).rejects.toThrow(SafetensorsError);
    }
    await expect(readSafetensorsHeader(path)).rejects.toThrow(
      `${path}: tensor "a": data_offsets [0, 8] run past`,
    );
  });

  it("file: a real file cut short is reported as truncated", async () => {
    const good = serializeSafetensors(sample());
    const path = join(dir, "cut.safetensors");
    await writeFile(path, good.subarray(0, good.byteLength - 3));
    await expect(loadSafetensors(path)).rejects.toThrow(/run past the end of the data section|trailing/);
    await writeFile(path, good.subarray(0, 20));
    await expect(loadSafetensors(path)).rejects.toThrow(/runs past the end of the file/);
  });
});

describe("float conversions", () => {
  it("f16: exact values, rounding to nearest even, subnormals, overflow, NaN", () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(-2)).toBe(0xc000);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00); // halfway to the next binade rounds up to Inf
    expect(f32ToF16(65519)).toBe(0x7bff);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie → even (down)
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(f32ToF16(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // tie → even (zero)
    expect(f32ToF16(1.5 * 2 ** -25)).toBe(0x0001);
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // 1.5 units → tie → even (2)
    expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up into the normal range
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(Number.POSITIVE_INFINITY)).toBe(0x7c00);
    expect(Number.isNaN(f16ToF32(f32ToF16(Number.NaN)))).toBe(true);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0xfc00)).toBe(Number.NEGATIVE_INFINITY);
  });

  it("f16: every finite half survives half → f32 → half", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ArrayToF16(f16ArrayToF32(all));
    for (let h = 0; h < 65536; h++) {
      const nan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (!nan) expect(back[h]).toBe(h);
      else expect(Number.isNaN(f16ToF32(back[h]!))).toBe(true);
    }
  });

  it("bf16: rounding to nearest even, NaN stays NaN, arrays agree with scalars", () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie → even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(f32ToBf16(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(bf16ToF32(0xbf00)).toBe(-0.5);
    expect(Number.isNaN(bf16ToF32(f32ToBf16(Number.NaN)))).toBe(true);
    expect(f32ToBf16(3.4028234663852886e38)).toBe(0x7f80); // max f32 rounds to Inf
    const xs = new Float32Array([0.1, -3.75, 1e-40, 12345.678]);
    expect(Array.from(f32ArrayToBf16(xs))).toEqual(Array.from(xs, f32ToBf16));
    expect(Array.from(bf16ArrayToF32(f32ArrayToBf16(xs)))).toEqual(
      Array.from(xs, (x) => bf16ToF32(f32ToBf16(x))),
    );
  });
});

describe("PyTorch fixture (tooling/fixtures/make.py)", () => {
  // Written by another writer (the generator's: tensors of every dtype back to back, unaligned), with
  // float16/bfloat16 values rounded by torch itself: an independent check of the reader and of our rounding.
  const path = fileURLToPath(new URL("./fixtures/torch-dtypes.safetensors", import.meta.url));

  it("parses every dtype; header, streaming and whole-buffer reads agree", async () => {
    const h = await readSafetensorsHeader(path);
    expect(h.metadata.format).toBe("pt");
    expect(h.tensors.get("arange")).toMatchObject({ dtype: "F32", shape: [2, 3, 4, 5] });
    expect(h.tensors.get("empty")).toMatchObject({ dtype: "F32", shape: [0, 4], byteLength: 0 });
    expect(h.tensors.get("f64")!.dataOffsets[0] % 8).not.toBe(0); // an F64 tensor at an unaligned offset
    const streamed = await loadSafetensors(path);
    const whole = parseSafetensors(new Uint8Array(await readFile(path))).tensors;
    expectSameTensors(streamed, whole);
    expect(Object.fromEntries(Object.entries(streamed).map(([k, t]) => [k, t.dtype]))).toMatchObject({
      f32: "F32",
      f16: "F16",
      bf16: "BF16",
      i64: "I64",
      i32: "I32",
      u8: "U8",
      f64: "F64",
    });
    expect(Array.from(streamed.arange!.data as Float32Array)).toEqual(
      Array.from({ length: 120 }, (_, i) => i),
    );
    expect(Array.from(streamed.i64!.data as BigInt64Array)).toEqual([
      0n,
      -1n,
      2n ** 53n + 1n,
      -(2n ** 62n),
      2n ** 63n - 1n,
      9n,
    ]);
    expect(Array.from(streamed.i32!.data as Int32Array)).toEqual([-(2 ** 31), 7, 2 ** 31 - 1]);
    expect(Array.from(streamed.u8!.data as Uint8Array)).toEqual([0, 1, 2, 254, 255]);
    expect(Array.from(streamed.f64!.data as Float64Array)).toEqual([Math.PI, -1e300, 5e-324]);
    // Re-serialising reproduces the tensor bytes exactly.
    expectSameTensors(streamed, parseSafetensors(serializeSafetensors(streamed)).tensors);
  });

  it("f32 → f16/bf16 rounds exactly as torch does, and widening back matches torch", async () => {
    const t = await loadSafetensors(path);
    const f32 = t.f32!.data as Float32Array;
    expect(Array.from(f32ArrayToF16(f32))).toEqual(Array.from(t.f16!.data as Uint16Array));
    expect(Array.from(f32ArrayToBf16(f32))).toEqual(Array.from(t.bf16!.data as Uint16Array));
    expect(Array.from(f16ArrayToF32(t.f16!.data as Uint16Array))).toEqual(
      Array.from(t.f16_as_f32!.data as Float32Array),
    );
    expect(Array.from(bf16ArrayToF32(t.bf16!.data as Uint16Array))).toEqual(
      Array.from(t.bf16_as_f32!.data as Float32Array),
    );
  });
});
