import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { isMainThread } from "node:worker_threads";

/** (jpeg, left, top, width, height, out): `out` receives width*height*3 bytes of RGB. */
type BoxArgs = [jpeg: Uint8Array, left: number, top: number, width: number, height: number, out: Uint8Array];

/**
 * The libjpeg-turbo box decoder (native/jpeg-box.c, compiled by scripts/build-native.mjs on install).
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
 * The addon's directory: scripts/build-native.mjs writes native/build/<platform>-<arch>-napi<N>/ when the
 * package is installed (its `install` script) or built. Both dist/ and src/ sit one level below the package.
 */
const BUILD_DIR = new URL("../native/build/", import.meta.url);

/**
 * Where the addon is: $VIT_DATA_JPEG_ADDON (a path, or "off" to use sharp for everything), else the build
 * for this platform and architecture with the newest Node-API version this Node provides.
 */
function candidates(): string[] {
  const override = process.env.VIT_DATA_JPEG_ADDON;
  if (override) return [override];
  const prefix = `${process.platform}-${process.arch}-napi`;
  const runtime = Number(process.versions.napi ?? 0);
  let dirs: string[] = [];
  try {
    dirs = readdirSync(BUILD_DIR);
  } catch {
    return [];
  }
  return dirs
    .filter((d) => d.startsWith(prefix) && /^\d+$/.test(d.slice(prefix.length)))
    .map((d) => ({ d, napi: Number(d.slice(prefix.length)) }))
    .filter(({ napi }) => napi <= runtime)
    .sort((a, b) => b.napi - a.napi)
    .map(({ d }) => fileURLToPath(new URL(`${d}/jpeg_box.node`, BUILD_DIR)));
}

function load(): { decoder: JpegBoxDecoder | null; reason: string } {
  if (process.env.VIT_DATA_JPEG_ADDON === "off" || process.env.VIT_DATA_JPEG_ADDON === "0")
    return { decoder: null, reason: "disabled by VIT_DATA_JPEG_ADDON" };
  const path = candidates().find((p) => existsSync(p));
  if (!path) {
    return {
      decoder: null,
      reason:
        `the native JPEG decoder is not built for ${process.platform}-${process.arch} ` +
        "(no C compiler or libjpeg headers when @vit/data was installed)",
    };
  }
  try {
    return { decoder: createRequire(import.meta.url)(path) as JpegBoxDecoder, reason: "" };
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ");
    return { decoder: null, reason: `the native JPEG decoder at ${path} failed to load: ${why}` };
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

/** The fix printed with the slow-path notice (the build runs as @vit/data's install script). */
const JPEG_NATIVE_FIX = "apt-get install gcc libjpeg-dev && npm rebuild @vit/data";
let warned = false;

/**
 * Says once per process, on one stderr line, that JPEGs go through the slower sharp path and how to get the
 * native decoder. Called where JPEGs are about to be decoded (the loader over encoded images, decodeImage);
 * only the main thread speaks, so a pool of workers does not repeat it. Silent when the decoder is in use or
 * was turned off on purpose (VIT_DATA_JPEG_ADDON=off).
 */
export function noteJpegSlowPath(): void {
  if (warned || !isMainThread || jpegBoxDecoder()) return;
  warned = true;
  const reason = loaded!.reason;
  if (reason.startsWith("disabled")) return;
  process.stderr.write(
    `[@vit/data] JPEGs decode through sharp (same pixels, ~1.7x the CPU): ${reason}. Fix: ${JPEG_NATIVE_FIX}\n`,
  );
}
