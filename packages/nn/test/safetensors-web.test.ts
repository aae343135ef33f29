/**
 * safetensors through the web's containers (ArrayBuffer, typed-array views, Blob/File, fetch Response) and
 * the browser build's stand-in for the file functions. The bytes are checked against a file written by
 * the Node writer (saveSafetensors), so both paths agree on the format.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type HostTensor,
  SafetensorsError,
  readSafetensors,
  safetensorsBlob,
  saveSafetensors,
} from "../src/index.js";
import * as browserFs from "../src/safetensors-fs.browser.js";

const tensors: Record<string, HostTensor> = {
  "model.w": { dtype: "F32", shape: [2, 3], data: new Float32Array([1, -2.5, 3e-8, 0.5, -0, 1e30]) },
  "model.b": { dtype: "BF16", shape: [2], data: new Uint16Array([0x3f80, 0xbf00]) },
  "optim.n": { dtype: "I32", shape: [1], data: new Int32Array([-7]) },
};
const metadata = { vit: JSON.stringify({ format: "vit-checkpoint/1", step: 3 }) };

let dir: string;
let fileBytes: Uint8Array;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "vit-st-web-"));
  await saveSafetensors(join(dir, "a.safetensors"), tensors, metadata);
  fileBytes = new Uint8Array(await readFile(join(dir, "a.safetensors")));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function expectSame(got: { tensors: Record<string, HostTensor>; metadata: Record<string, string> }): void {
  expect(got.metadata).toEqual(metadata);
  expect(Object.keys(got.tensors).sort()).toEqual(Object.keys(tensors).sort());
  for (const [k, t] of Object.entries(tensors)) {
    expect(got.tensors[k]!.dtype).toBe(t.dtype);
    expect(got.tensors[k]!.shape).toEqual(t.shape);
    expect(Array.from(got.tensors[k]!.data as ArrayLike<number>)).toEqual(
      Array.from(t.data as ArrayLike<number>),
    );
  }
}

describe("readSafetensors / safetensorsBlob", () => {
  it("reads a file written by saveSafetensors from an ArrayBuffer, a view at an offset, a Blob and a Response", async () => {
    expectSame(await readSafetensors(fileBytes.slice().buffer));
    const padded = new Uint8Array(fileBytes.length + 5);
    padded.set(fileBytes, 5);
    expectSame(await readSafetensors(padded.subarray(5)));
    expectSame(await readSafetensors(new Blob([fileBytes])));
    expectSame(await readSafetensors(new Response(fileBytes)));
  });

  it("writes a Blob with the same bytes as the file writer", async () => {
    const blob = safetensorsBlob(tensors, metadata);
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(fileBytes);
  });

  it("names the source and the problem for a failed response, a truncated blob and a wrong type", async () => {
    const notFound = new Response("no", { status: 404, statusText: "Not Found" });
    await expect(readSafetensors(notFound, "https://x/ck.safetensors")).rejects.toThrow(
      /https:\/\/x\/ck\.safetensors: HTTP 404 Not Found/,
    );
    await expect(readSafetensors(new Blob([fileBytes.subarray(0, 40)]), "cut.safetensors")).rejects.toThrow(
      SafetensorsError,
    );
    await expect(readSafetensors("a path" as unknown as Blob)).rejects.toThrow(/expected an ArrayBuffer/);
  });
});

describe("the browser build's file functions", () => {
  it("load in-memory bytes and refuse paths with a pointer to the web functions", async () => {
    const loaded = await browserFs.loadSafetensors(fileBytes);
    expect(Array.from(loaded["model.w"]!.data as Float32Array)).toEqual(
      Array.from(tensors["model.w"]!.data as Float32Array),
    );
    for (const call of [
      () => browserFs.loadSafetensors("/x.safetensors"),
      () => browserFs.openSafetensors("/x.safetensors"),
      () => browserFs.readSafetensorsHeader("/x.safetensors"),
      () => browserFs.saveSafetensors("/x.safetensors"),
    ]) {
      await expect(call()).rejects.toThrow(/exists only in Node; in a browser use readSafetensors/);
    }
  });
});
