import { readFile } from "node:fs/promises";
import sharp from "sharp";
import { DecodeError } from "./errors.js";
import { imageHeaderSize } from "./header.js";
import type { Image } from "./image.js";
import { jpegBoxDecoder, noteJpegSlowPath } from "./jpeg-native.js";

// libvips' operation cache only helps when the same file is decoded repeatedly by one process; for a data
// loader it just holds memory. The main thread must load sharp before any worker does (glibc would otherwise
// unload libvips when the first worker exits); importing this module from the loader guarantees that.
sharp.cache(false);

/**
 * Most pixels an image may have: sharp's default limitInputPixels (0x3FFF², a 16383×16383 image, 268 Mpx),
 * applied to both decoders. Headers are checked against it before anything is allocated for the pixels: a
 * corrupt or hostile JPEG header claiming 65500×65500 would otherwise request 12.9 GB.
 */
export const MAX_INPUT_PIXELS = 0x3fff * 0x3fff;

const TOO_LARGE_HINT =
  `if the image is real, downscale it to at most ${MAX_INPUT_PIXELS} pixels (16383×16383); if not, its header is ` +
  "corrupt: replace or delete the file, or pass onBadImage: 'skip' to the DataLoader to skip it";

/** Throws a DecodeError naming the file when a header's size exceeds MAX_INPUT_PIXELS. */
function checkPixels(size: { width: number; height: number }, name: string): void {
  const n = size.width * size.height;
  if (n > MAX_INPUT_PIXELS) {
    throw new DecodeError(
      name,
      `its header declares ${size.width}×${size.height} = ${n} pixels, over the limit of ${MAX_INPUT_PIXELS}`,
      TOO_LARGE_HINT,
    );
  }
}

/** sharp's own refusal of an image over the limit (a format whose size the header parser does not read). */
function sharpError(e: unknown, name: string): DecodeError {
  if (e instanceof DecodeError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return /pixel limit/i.test(message)
    ? new DecodeError(name, `${message} (${MAX_INPUT_PIXELS} pixels)`, TOO_LARGE_HINT)
    : new DecodeError(name, message);
}

/** Image file extensions the folder and WebDataset sources pick up (lower case, without the dot). */
export const IMAGE_EXTENSIONS: readonly string[] = ["jpg", "jpeg", "png", "webp"];

/**
 * Decodes any sharp-readable image to 8-bit sRGB without alpha, whatever it was stored as (grayscale, CMYK,
 * palette, 16-bit, RGBA), matching PIL's `convert("RGB")`, which drops alpha instead of compositing it.
 * `input` is the encoded bytes or a file path; `name` only serves the error message.
 */
export async function decodeImage(input: Uint8Array | string, name: string): Promise<Image> {
  let source = input;
  if (jpegBoxDecoder()) {
    // The fast path needs the bytes; a file that cannot be read is left for sharp to report, as before.
    if (typeof source === "string") source = (await readFile(source).catch(() => null)) ?? source;
  }
  const size = typeof source !== "string" ? imageHeaderSize(source) : null;
  if (size) checkPixels(size, name);
  if (size && isJpeg(source as Uint8Array)) {
    const native = await decodeNative(source as Uint8Array, { left: 0, top: 0, ...size });
    if (native) return native;
  } else if (typeof source === "string" ? /\.jpe?g$/i.test(source) : isJpeg(source)) noteJpegSlowPath();
  try {
    // A path lets libvips read the file on its own thread: no JS file I/O round trips per image.
    const { data, info } = await sharp(source, { limitInputPixels: MAX_INPUT_PIXELS })
      .removeAlpha()
      .toColourspace("srgb")
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new DecodeError(name, `decoder returned ${info.channels} channels`);
    const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { data: pixels, width: info.width, height: info.height, channels: 3 };
  } catch (e) {
    throw sharpError(e, name);
  }
}

/**
 * Width and height of an encoded image: parsed from the header in JavaScript when the format is known (JPEG,
 * PNG, WebP), else asked of sharp. Throws DecodeError when neither can tell, or when the size is over
 * MAX_INPUT_PIXELS.
 */
export async function encodedImageSize(
  input: Uint8Array,
  name: string,
): Promise<{ width: number; height: number }> {
  let size = imageHeaderSize(input);
  if (!size) {
    try {
      const m = await sharp(input).metadata();
      if (!m.width || !m.height) throw new DecodeError(name, "no image dimensions in the file");
      size = { width: m.width, height: m.height };
    } catch (e) {
      throw sharpError(e, name);
    }
  }
  checkPixels(size, name);
  return size;
}

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

function isJpeg(b: Uint8Array): boolean {
  return b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}

/**
 * The box through the native libjpeg-turbo decoder when it is built and takes this file; null sends the
 * caller to sharp, which then decodes (or rejects) the file exactly as it would have without the fast path.
 */
async function decodeNative(input: Uint8Array, box: Box): Promise<Image | null> {
  const decoder = jpegBoxDecoder();
  if (!decoder) return null;
  const data = new Uint8Array(box.width * box.height * 3);
  // Asynchronous, on libuv's pool, even inside a loader worker: the worker resamples the previous sample
  // meanwhile, so one worker keeps more than one core busy (measured: 1 worker 2000 vs 1450 images/s sync).
  const ok = await decoder.decodeBox(input, box.left, box.top, box.width, box.height, data);
  return ok ? { data, width: box.width, height: box.height, channels: 3 } : null;
}

/**
 * Decodes only `box` of an image, as 8-bit sRGB like decodeImage: the pixels equal decodeImage's inside the
 * box. JPEGs go through the native libjpeg-turbo decoder when it is built (jpeg-native.ts): it skips the
 * IDCT of rows above the box and of columns beside it and never reads rows below it. Everything else goes
 * through sharp, which also stops after the box's last row and copies out only the box.
 */
export async function decodeImageBox(input: Uint8Array, name: string, box: Box): Promise<Image> {
  const size = imageHeaderSize(input);
  if (size) checkPixels(size, name);
  const jpeg = isJpeg(input);
  if (jpeg) noteJpegSlowPath(); // says once when the native decoder is missing
  const native = jpeg && (await decodeNative(input, box));
  if (native) return native;
  try {
    const { data, info } = await sharp(input, { limitInputPixels: MAX_INPUT_PIXELS })
      .extract(box)
      .removeAlpha()
      .toColourspace("srgb")
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new DecodeError(name, `decoder returned ${info.channels} channels`);
    if (info.width !== box.width || info.height !== box.height) {
      throw new DecodeError(
        name,
        `decoder returned ${info.width}x${info.height} for a ${box.width}x${box.height} box`,
      );
    }
    const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { data: pixels, width: info.width, height: info.height, channels: 3 };
  } catch (e) {
    throw sharpError(e, name);
  }
}

/** Encodes an RGB or grayscale image; used to write fixtures and benchmark folders. */
export async function encodeImage(
  img: Image,
  format: "jpg" | "jpeg" | "png" | "webp",
  quality = 90,
): Promise<Buffer> {
  let s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } });
  if (img.channels === 1) s = s.toColourspace("b-w");
  if (format === "png") return s.png().toBuffer();
  if (format === "webp") return s.webp({ quality }).toBuffer();
  return s.jpeg({ quality }).toBuffer();
}
