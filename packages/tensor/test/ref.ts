/**
 * Float64 CPU reference implementations, written independently of the GPU kernels (plain loops over
 * coordinates), and a central-finite-difference gradient checker on top of them.
 */
export interface Arr {
  shape: number[];
  data: Float64Array;
}

export function arr(shape: number[], data?: ArrayLike<number>): Arr {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape: [...shape], data: data ? Float64Array.from(data) : new Float64Array(n) };
}

/** Deterministic pseudo-random numbers (mulberry32), so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randArr(shape: number[], seed: number, lo = -1, hi = 1): Arr {
  const r = rng(seed);
  const a = arr(shape);
  for (let i = 0; i < a.data.length; i++) a.data[i] = lo + (hi - lo) * r();
  return a;
}

export function strides(shape: number[]): number[] {
  const s: number[] = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

function coords(i: number, shape: number[]): number[] {
  const c: number[] = new Array(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return c;
}

export function bshape(a: number[], b: number[]): number[] {
  const r = Math.max(a.length, b.length);
  return Array.from({ length: r }, (_, i) => {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    return x === 1 ? y : x;
  });
}

function bget(a: Arr, c: number[]): number {
  const s = strides(a.shape);
  let off = 0;
  for (let i = 0; i < a.shape.length; i++) {
    const ci = c[c.length - a.shape.length + i]!;
    off += (a.shape[i] === 1 ? 0 : ci) * s[i]!;
  }
  return a.data[off]!;
}

export function map2(a: Arr, b: Arr, f: (x: number, y: number) => number): Arr {
  const shape = bshape(a.shape, b.shape);
  const out = arr(shape);
  for (let i = 0; i < out.data.length; i++) {
    const c = coords(i, shape);
    out.data[i] = f(bget(a, c), bget(b, c));
  }
  return out;
}

export function map1(a: Arr, f: (x: number) => number): Arr {
  return { shape: [...a.shape], data: a.data.map(f) };
}

export function matmul(a: Arr, b: Arr, ta = false, tb = false): Arr {
  const ar = a.shape.length;
  const br = b.shape.length;
  const M = ta ? a.shape[ar - 1]! : a.shape[ar - 2]!;
  const K = ta ? a.shape[ar - 2]! : a.shape[ar - 1]!;
  const N = tb ? b.shape[br - 2]! : b.shape[br - 1]!;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batch = batchA.length >= batchB.length ? batchA : batchB;
  const nb = batch.reduce((x, y) => x * y, 1);
  const na = batchA.reduce((x, y) => x * y, 1);
  const nbb = batchB.reduce((x, y) => x * y, 1);
  const out = arr([...batch, M, N]);
  for (let z = 0; z < nb; z++) {
    const ao = (na === 1 ? 0 : z) * M * K;
    const bo = (nbb === 1 ? 0 : z) * K * N;
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = ta ? a.data[ao + k * M + m]! : a.data[ao + m * K + k]!;
          const bv = tb ? b.data[bo + n * K + k]! : b.data[bo + k * N + n]!;
          s += av * bv;
        }
        out.data[z * M * N + m * N + n] = s;
      }
  }
  return out;
}

export function reduce(a: Arr, axes: number[], kind: "sum" | "mean" | "max", keepdim = false): Arr {
  const outShapeKeep = a.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = arr(outShapeKeep);
  out.data.fill(kind === "max" ? -Infinity : 0);
  const so = strides(outShapeKeep);
  for (let i = 0; i < a.data.length; i++) {
    const c = coords(i, a.shape);
    let off = 0;
    c.forEach((ci, d) => {
      off += (axes.includes(d) ? 0 : ci) * so[d]!;
    });
    out.data[off] = kind === "max" ? Math.max(out.data[off]!, a.data[i]!) : out.data[off]! + a.data[i]!;
  }
  if (kind === "mean") {
    const m = axes.reduce((x, d) => x * a.shape[d]!, 1);
    for (let i = 0; i < out.data.length; i++) out.data[i]! /= m;
  }
  if (!keepdim) out.shape = a.shape.filter((_, i) => !axes.includes(i));
  return out;
}

export function permute(a: Arr, perm: number[]): Arr {
  const shape = perm.map((p) => a.shape[p]!);
  const out = arr(shape);
  const s = strides(a.shape);
  for (let i = 0; i < out.data.length; i++) {
    const c = coords(i, shape);
    let off = 0;
    perm.forEach((p, d) => {
      off += c[d]! * s[p]!;
    });
    out.data[i] = a.data[off]!;
  }
  return out;
}

export function sliceRef(a: Arr, axis: number, start: number, size: number): Arr {
  const shape = a.shape.map((d, i) => (i === axis ? size : d));
  const out = arr(shape);
  const s = strides(a.shape);
  for (let i = 0; i < out.data.length; i++) {
    const c = coords(i, shape);
    c[axis] = c[axis]! + start;
    out.data[i] = a.data[c.reduce((acc, ci, d) => acc + ci * s[d]!, 0)]!;
  }
  return out;
}

export function concatRef(xs: Arr[], axis: number): Arr {
  const shape = xs[0]!.shape.map((d, i) => (i === axis ? xs.reduce((a, x) => a + x.shape[axis]!, 0) : d));
  const out = arr(shape);
  const so = strides(shape);
  let at = 0;
  for (const x of xs) {
    for (let i = 0; i < x.data.length; i++) {
      const c = coords(i, x.shape);
      c[axis] = c[axis]! + at;
      out.data[c.reduce((acc, ci, d) => acc + ci * so[d]!, 0)] = x.data[i]!;
    }
    at += x.shape[axis]!;
  }
  return out;
}

export function softmaxRef(a: Arr): Arr {
  const d = a.shape[a.shape.length - 1]!;
  const out = arr(a.shape);
  for (let r = 0; r < a.data.length / d; r++) {
    let m = -Infinity;
    for (let j = 0; j < d; j++) m = Math.max(m, a.data[r * d + j]!);
    let s = 0;
    for (let j = 0; j < d; j++) s += Math.exp(a.data[r * d + j]! - m);
    for (let j = 0; j < d; j++) out.data[r * d + j] = Math.exp(a.data[r * d + j]! - m) / s;
  }
  return out;
}

export function layerNormRef(x: Arr, w: Arr | null, b: Arr | null, eps: number): Arr {
  const d = x.shape[x.shape.length - 1]!;
  const out = arr(x.shape);
  for (let r = 0; r < x.data.length / d; r++) {
    let m = 0;
    for (let j = 0; j < d; j++) m += x.data[r * d + j]!;
    m /= d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x.data[r * d + j]! - m) ** 2;
    v /= d;
    for (let j = 0; j < d; j++) {
      out.data[r * d + j] = ((x.data[r * d + j]! - m) / Math.sqrt(v + eps)) * (w ? w.data[j]! : 1) + (b ? b.data[j]! : 0);
    }
  }
  return out;
}

/** erf to ~1e-15 (Taylor series for |x| < 3, continued fraction beyond). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let sum = 0;
    let term = ax;
    for (let n = 0; n < 100; n++) {
      const t = term / (2 * n + 1);
      sum += t;
      term *= (-ax * ax) / (n + 1);
      if (Math.abs(t) < 1e-17) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f);
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return Math.sign(x) * (1 - erfc);
}

export const geluRef = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));
export const geluTanhRef = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

export function crossEntropyRef(z: Arr, labels: number[] | Arr, eps: number): number {
  const [B, C] = z.shape as [number, number];
  let total = 0;
  for (let r = 0; r < B; r++) {
    let m = -Infinity;
    for (let j = 0; j < C; j++) m = Math.max(m, z.data[r * C + j]!);
    let s = 0;
    for (let j = 0; j < C; j++) s += Math.exp(z.data[r * C + j]! - m);
    const lse = m + Math.log(s);
    for (let j = 0; j < C; j++) {
      const t = Array.isArray(labels) ? (labels[r] === j ? 1 : 0) : labels.data[r * C + j]!;
      const q = (1 - eps) * t + eps / C;
      total += q * (lse - z.data[r * C + j]!);
    }
  }
  return total / B;
}

/**
 * d(Σ f(inputs)·R)/d(input k) by central differences in float64 — the independent reference for every
 * backward test. `f` is a float64 reference function.
 */
export function numericGrad(f: (xs: Arr[]) => Arr, xs: Arr[], k: number, R: Arr, h = 1e-6): Arr {
  const g = arr(xs[k]!.shape);
  const dot = (o: Arr) => o.data.reduce((a, v, i) => a + v * R.data[i]!, 0);
  for (let i = 0; i < g.data.length; i++) {
    const orig = xs[k]!.data[i]!;
    xs[k]!.data[i] = orig + h;
    const fp = dot(f(xs));
    xs[k]!.data[i] = orig - h;
    const fm = dot(f(xs));
    xs[k]!.data[i] = orig;
    g.data[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** max|a−b| / max|b| (the fixtures' relative error measure). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return den === 0 ? num : num / den;
}
