/**
 * A minimal WebAssembly encoder, enough for the SIMD resampling kernels in simd.ts. The kernels are a few
 * hundred instructions; writing them here as code keeps the package free of a compiler toolchain and of
 * checked-in binaries, and lets simd.ts unroll loops by generating one function per tap count.
 */

export type Code = number[];

/** Unsigned LEB128. */
export function uleb(value: number): Code {
  const out: Code = [];
  let n = value >>> 0;
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(value: number): Code {
  const out: Code = [];
  let n = value | 0;
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export const I32 = 0x7f;
export const V128 = 0x7b;

/** Instructions used by the kernels; memory accesses take (offset) and assume no alignment. */
export const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number): Code => [0x0c, ...uleb(depth)],
  brIf: (depth: number): Code => [0x0d, ...uleb(depth)],
  get: (i: number): Code => [0x20, ...uleb(i)],
  set: (i: number): Code => [0x21, ...uleb(i)],
  tee: (i: number): Code => [0x22, ...uleb(i)],
  i32: (v: number): Code => [0x41, ...sleb(v)],
  i32Load: (offset = 0): Code => [0x28, 0, ...uleb(offset)],
  i32Load8u: (offset = 0): Code => [0x2d, 0, ...uleb(offset)],
  f32Load: (offset = 0): Code => [0x2a, 0, ...uleb(offset)],
  f32Store: (offset = 0): Code => [0x38, 0, ...uleb(offset)],
  i32GeU: [0x4f],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32Shl: [0x74],
  simd: (code: number, ...imm: number[]): Code => [0xfd, ...uleb(code), ...imm],
};

/** SIMD instructions (0xfd prefix), named as in the specification. */
export const v = {
  load: (offset = 0): Code => op.simd(0x00, 0, ...uleb(offset)),
  /** Loads 8 bytes and zero-extends each to 16 bits. */
  load8x8U: (offset = 0): Code => op.simd(0x02, 0, ...uleb(offset)),
  store: (offset = 0): Code => op.simd(0x0b, 0, ...uleb(offset)),
  store32Lane0: (offset = 0): Code => op.simd(0x5a, 0, ...uleb(offset), 0),
  i32x4Splat: op.simd(0x11),
  i8x16NarrowI16x8U: op.simd(0x66),
  i16x8NarrowI32x4S: op.simd(0x85),
  i32x4ExtendLowI16x8U: op.simd(0xa9),
  i32x4ExtendHighI16x8U: op.simd(0xaa),
  i32x4ShrS: op.simd(0xac),
  i32x4Add: op.simd(0xae),
  i32x4Mul: op.simd(0xb5),
};

export interface FuncDef {
  name: string;
  params: number;
  /** Extra locals after the (all-i32) parameters, in order. */
  locals: number[];
  body: Code;
}

function section(id: number, content: Code): Code {
  return [id, ...uleb(content.length), ...content];
}

function vec(items: Code[]): Code {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): Code {
  return vec([...s].map((c) => [c.charCodeAt(0)]));
}

/** A module exporting `memory` (one page to start; callers grow it) and the given functions, all `(i32…) → ()`. */
export function assemble(funcs: FuncDef[]): Uint8Array {
  const types = funcs.map((f) => [0x60, ...vec(Array.from({ length: f.params }, () => [I32])), 0]);
  const code = funcs.map((f) => {
    // Locals are declared as runs of one type.
    const runs: Code[] = [];
    for (let i = 0; i < f.locals.length; ) {
      let j = i;
      while (j < f.locals.length && f.locals[j] === f.locals[i]) j++;
      runs.push([...uleb(j - i), f.locals[i]!]);
      i = j;
    }
    const body = [...vec(runs), ...f.body, ...op.end];
    return [...uleb(body.length), ...body];
  });
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(3, vec(funcs.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, 1]])),
    ...section(
      7,
      vec([[...name("memory"), 0x02, 0], ...funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)])]),
    ),
    ...section(10, vec(code)),
  ];
  return Uint8Array.from(bytes);
}
