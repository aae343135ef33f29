import { FormatError } from "../errors.js";
import { sharedBytes } from "../shared.js";
import { readMaybeGzip } from "./files.js";
import { InMemoryDataset } from "./memory.js";

/** A parsed IDX file: dimensions plus unsigned-byte payload. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const HINT =
  "IDX files start with 0x00 0x00, a type byte (0x08 = unsigned byte) and a dimension count; re-download it";

/**
 * Parses an IDX file (the MNIST/Fashion-MNIST container). Only the unsigned-byte type is accepted, which is
 * all those sets use. `into` lets the caller place the payload (e.g. on a SharedArrayBuffer) without a copy.
 */
export function parseIdx(bytes: Uint8Array, path: string, into?: (n: number) => Uint8Array): IdxArray {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    throw new FormatError(path, "missing IDX magic number", HINT);
  }
  if (bytes[2] !== 0x08) {
    throw new FormatError(
      path,
      `IDX element type 0x${bytes[2]!.toString(16)} is not unsigned byte (0x08)`,
      HINT,
    );
  }
  const ndim = bytes[3]!;
  if (ndim === 0 || bytes.length < 4 + 4 * ndim) throw new FormatError(path, "truncated IDX header", HINT);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const offset = 4 + 4 * ndim;
  if (bytes.length - offset !== count) {
    throw new FormatError(
      path,
      `header declares ${dims.join("x")} = ${count} bytes but the file holds ${bytes.length - offset}`,
      HINT,
    );
  }
  const data = into ? into(count) : new Uint8Array(count);
  data.set(bytes.subarray(offset, offset + count));
  return { dims, data };
}

export interface IdxOptions {
  /** Path of the images file (`*-images-idx3-ubyte`, optionally `.gz`). */
  images: string;
  /** Path of the labels file (`*-labels-idx1-ubyte`, optionally `.gz`). */
  labels: string;
  /** Class names; defaults to "0".."9". Labels must be < classes.length. */
  classes?: readonly string[];
  name?: string;
}

/** Loads an IDX image/label pair (MNIST layout: images N×H×W, or N×H×W×C with C = 1 or 3). */
export async function idxDataset(opts: IdxOptions): Promise<InMemoryDataset> {
  const hint = "pass the path of an existing IDX file (plain or .gz)";
  const img = parseIdx(await readMaybeGzip(opts.images, "IDX images file", hint), opts.images, sharedBytes);
  const lab = parseIdx(await readMaybeGzip(opts.labels, "IDX labels file", hint), opts.labels);
  if (img.dims.length !== 3 && img.dims.length !== 4) {
    throw new FormatError(opts.images, `images must be N×H×W or N×H×W×C, got ${img.dims.join("×")}`, HINT);
  }
  const channels = img.dims.length === 4 ? img.dims[3]! : 1;
  if (channels !== 1 && channels !== 3) {
    throw new FormatError(opts.images, `${channels} channels per pixel; only 1 or 3 are supported`, HINT);
  }
  if (lab.dims.length !== 1)
    throw new FormatError(opts.labels, `labels must be 1-D, got ${lab.dims.join("×")}`, HINT);
  if (lab.dims[0] !== img.dims[0]) {
    throw new FormatError(
      opts.labels,
      `${lab.dims[0]} labels for ${img.dims[0]} images in ${opts.images}`,
      "pair each images file with the labels file of the same split",
    );
  }
  return new InMemoryDataset({
    name: opts.name ?? opts.images,
    pixels: img.data,
    labels: lab.data,
    height: img.dims[1]!,
    width: img.dims[2]!,
    channels,
    classes: opts.classes ?? ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
    labelFile: opts.labels,
  });
}
