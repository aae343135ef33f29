import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** (jpeg, left, top, width, height, out): `out` receives width*height*3 bytes of RGB. */
type BoxArgs = [jpeg: Uint8Array, left: number, top: number, width: number, height: number, out: Uint8Array];

/**
 * The libjpeg-turbo box decoder (native/jpeg-box.c, compiled by scripts/build-native.mjs at build time).
 * It decodes a rectangle of a JPEG to RGB exactly as sharp does (same IDCT and upsampling; tested bit for
 * bit) at about a third of sharp's CPU per image, and reports `false` for anything it leaves to sharp:
 * CMYK/YCCK, 12-bit, files libjpeg warns about.
 */
export interface JpegBoxDecoder {
  /** Decodes on libuv's thread pool; resolves false for a file left to sharp. */
  decodeBox(...args: BoxArgs): Promise<boolean>;
  decodeBoxSync(...args: BoxArgs): boolean;
  /** e.g. "libjpeg-turbo 2.1.5" */
  version: string;
}

let loaded: { decoder: JpegBoxDecoder | null; reason: string } | null = null;

/**
 * Where the addon is: $VIT_DATA_JPEG_ADDON (a path, or "off" to use sharp for everything), else next to the
 * built code (dist/native/), else the package's dist/ when running from the TypeScript sources.
 */
function candidates(): string[] {
  const override = process.env.VIT_DATA_JPEG_ADDON;
  if (override) return override === "off" || override === "0" ? [] : [override];
  return ["./native/jpeg-box.node", "../dist/native/jpeg-box.node"].map((rel) =>
    fileURLToPath(new URL(rel, import.meta.url)),
  );
}

function load(): { decoder: JpegBoxDecoder | null; reason: string } {
  const paths = candidates();
  if (paths.length === 0) return { decoder: null, reason: "disabled by VIT_DATA_JPEG_ADDON" };
  const path = paths.find((p) => existsSync(p));
  if (!path) {
    return {
      decoder: null,
      reason:
        "native JPEG decoder not built (needs a C compiler and libjpeg headers at build time: " +
        "apt-get install gcc libjpeg-dev, then rebuild @vit/data)",
    };
  }
  try {
    return { decoder: createRequire(import.meta.url)(path) as JpegBoxDecoder, reason: "" };
  } catch (e) {
    return {
      decoder: null,
      reason: `native JPEG decoder at ${path} failed to load: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
}

/** The native decoder, or null when it is not built, cannot load, or is disabled (see jpegDecoderInfo). */
export function jpegBoxDecoder(): JpegBoxDecoder | null {
  loaded ??= load();
  return loaded.decoder;
}

/** Which decoder JPEGs go through, and why not the native one when it is not used. */
export function jpegDecoderInfo(): { name: string; reason: string } {
  const d = jpegBoxDecoder();
  return d
    ? { name: `${d.version} (native box decode)`, reason: "" }
    : { name: "sharp (libvips)", reason: loaded!.reason };
}
