/**
 * Image dimensions read straight from the encoded bytes (JPEG, PNG, WebP), without a decoder.
 * RandomResizedCrop needs only the size to choose its box; knowing it before decoding lets the decoder produce
 * just the box instead of the whole image, and costs microseconds where asking sharp for metadata costs a
 * round trip through libvips (about a tenth of a millisecond of CPU per image).
 * Only formats whose header size is always the decoded size are read (a GIF's screen size, say, need not be);
 * anything else, or anything truncated, returns null and callers ask the decoder.
 */
export function imageHeaderSize(b: Uint8Array): { width: number; height: number } | null {
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) return jpegSize(b);
  if (
    b.length >= 24 &&
    b[0] === 0x89 &&
    b[1] === 0x50 &&
    b[2] === 0x4e &&
    b[3] === 0x47 &&
    b[12] === 0x49 && // IHDR, which the PNG specification requires to come first
    b[13] === 0x48 &&
    b[14] === 0x44 &&
    b[15] === 0x52
  ) {
    return positive(be32(b, 16), be32(b, 20));
  }
  if (b.length >= 30 && ascii(b, 0, "RIFF") && ascii(b, 8, "WEBP")) return webpSize(b);
  return null;
}

function ascii(b: Uint8Array, at: number, s: string): boolean {
  for (let i = 0; i < s.length; i++) if (b[at + i] !== s.charCodeAt(i)) return false;
  return true;
}

function be16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

function be32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function le24(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
}

function positive(width: number, height: number): { width: number; height: number } | null {
  return width > 0 && height > 0 ? { width, height } : null;
}

/** Walks the marker segments up to the first start-of-frame (SOF0–15 except DHT, JPG and DAC). */
function jpegSize(b: Uint8Array): { width: number; height: number } | null {
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return null;
    const m = b[i + 1]!;
    if (m === 0xff) {
      i++; // fill byte before a marker
      continue;
    }
    // Markers without a length: TEM, RST0–7, SOI. EOI or SOS before a frame header means no size here.
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd8)) {
      i += 2;
      continue;
    }
    if (m === 0xd9 || m === 0xda) return null;
    const len = be16(b, i + 2);
    if (len < 2) return null;
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (i + 9 > b.length) return null;
      // A height of 0 defers the real one to a DNL marker after the first scan; let the decoder find it.
      return positive(be16(b, i + 7), be16(b, i + 5));
    }
    i += 2 + len;
  }
  return null;
}

/** Simple lossy (VP8), lossless (VP8L) and extended (VP8X) WebP files. */
function webpSize(b: Uint8Array): { width: number; height: number } | null {
  if (ascii(b, 12, "VP8X")) return positive(le24(b, 24) + 1, le24(b, 27) + 1);
  if (ascii(b, 12, "VP8L")) {
    if (b[20] !== 0x2f) return null;
    const bits = (b[21]! | (b[22]! << 8) | (b[23]! << 16) | (b[24]! << 24)) >>> 0;
    return positive((bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
  }
  if (ascii(b, 12, "VP8 ")) {
    // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height (top two bits are scaling).
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return null;
    return positive((b[26]! | (b[27]! << 8)) & 0x3fff, (b[28]! | (b[29]! << 8)) & 0x3fff);
  }
  return null;
}
