/**
 * float32 → bfloat16 with round-to-nearest-even on the dropped 16 bits (what GPUs and PyTorch do), NaN kept
 * as a quiet NaN. bf16 halves the bytes uploaded per batch.
 */
export function toBfloat16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i]!;
    if ((u & 0x7f80_0000) === 0x7f80_0000 && (u & 0x007f_ffff) !== 0) {
      out[i] = (u >>> 16) | 0x0040;
      continue;
    }
    out[i] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  }
  return out;
}

export function fromBfloat16(src: Uint16Array): Float32Array {
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! << 16;
  return new Float32Array(out.buffer);
}
