import sharp from "sharp";
import { DecodeError } from "./errors.js";
import { imageHeaderSize } from "./header.js";
import type { Image } from "./image.js";

// libvips' operation cache only helps when the same file is decoded repeatedly by one process; for a data
// loader it just holds memory. The main thread must load sharp before any worker does (glibc would otherwise
// unload libvips when the first worker exits); importing this module from the loader guarantees that.
sharp.cache(false);

/** Image file extensions the folder and WebDataset sources pick up (lower case, without the dot). */
export const IMAGE_EXTENSIONS: readonly string[] = ["jpg", "jpeg", "png", "webp"];

/**
 * Decodes any sharp-readable image to 8-bit sRGB without alpha, whatever it was stored as (grayscale, CMYK,
 * palette, 16-bit, RGBA), matching PIL's `convert("RGB")`, which drops alpha instead of compositing it.
 * `input` is the encoded bytes or a file path; `name` only serves the error message.
 */
export async function decodeImage(input: Uint8Array | string, name: string): Promise<Image> {
  try {
    // A path lets libvips read the file on its own thread: no JS file I/O round trips per image.
    const { data, info } = await sharp(input)
      .removeAlpha()
      .toColourspace("srgb")
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoder returned ${info.channels} channels`);
    const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { data: pixels, width: info.width, height: info.height, channels: 3 };
  } catch (e) {
    throw new DecodeError(name, e instanceof Error ? e.message : String(e));
  }
}

/**
 * Width and height of an encoded image: parsed from the header in JavaScript when the format is known (JPEG,
 * PNG, WebP), else asked of sharp. Throws DecodeError when neither can tell.
 */
export async function encodedImageSize(
  input: Uint8Array,
  name: string,
): Promise<{ width: number; height: number }> {
  const size = imageHeaderSize(input);
  if (size) return size;
  try {
    const m = await sharp(input).metadata();
    if (!m.width || !m.height) throw new Error("no image dimensions in the file");
    return { width: m.width, height: m.height };
  } catch (e) {
    throw new DecodeError(name, e instanceof Error ? e.message : String(e));
  }
}

/**
 * Decodes only `box` of an image, as 8-bit sRGB like decodeImage: the pixels equal decodeImage's inside the
 * box (the same decoder runs; the crop happens after colour conversion, which works pixel by pixel). It is
 * cheaper because libvips reads sequentially and stops after the box's last row, and because only the box is
 * copied out and handed to JavaScript.
 */
export async function decodeImageBox(
  input: Uint8Array,
  name: string,
  box: { left: number; top: number; width: number; height: number },
): Promise<Image> {
  try {
    const { data, info } = await sharp(input)
      .extract(box)
      .removeAlpha()
      .toColourspace("srgb")
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoder returned ${info.channels} channels`);
    if (info.width !== box.width || info.height !== box.height) {
      throw new Error(`decoder returned ${info.width}x${info.height} for a ${box.width}x${box.height} box`);
    }
    const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { data: pixels, width: info.width, height: info.height, channels: 3 };
  } catch (e) {
    throw new DecodeError(name, e instanceof Error ? e.message : String(e));
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
