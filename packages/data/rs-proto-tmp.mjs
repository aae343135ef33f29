import sharp from "sharp";
import { readFileSync } from "node:fs";
import { F, Rng, imageFolder } from "./dist/index.js";
const ds = await imageFolder("/tmp/vd/jpegs");
const imgs = [];
for (const p of ds.paths.slice(0, 200)) { const { data, info } = await sharp(p).raw().toBuffer({ resolveWithObject: true }); imgs.push({ data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 }); }
const boxes = imgs.map((im, i) => F.randomResizedCropParams(new Rng(i), im.height, im.width));

const PB = 22, ONE = 1 << PB;
function precompute(inSize, in0, in1, outSize) {
  const scale = (in1 - in0) / outSize, filterscale = Math.max(scale, 1), support = filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize), count = new Int32Array(outSize), w32 = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale, ss = 1 / filterscale;
    let xmin = Math.trunc(center - support + 0.5); if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5); if (xmax > inSize) xmax = inSize; xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) { const a = Math.abs((x + xmin - center + 0.5) * ss); const w = a < 1 ? 1 - a : 0; k[x] = w; ww += w; }
    for (let x = 0; x < xmax; x++) { const w = ww !== 0 ? k[x] / ww : k[x]; w32[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE); }
    start[xx] = xmin; count[xx] = xmax;
  }
  return { start, count, w32, ksize };
}
const HALF = 1 << (PB - 1);
function horiz3(sd, srcW, y0, rows, co, outW, out) {
  const { start, count, w32, ksize } = co;
  const stride = srcW * 3;
  let o = 0;
  for (let y = 0; y < rows; y++) {
    const rowOff = (y0 + y) * stride;
    for (let xx = 0; xx < outW; xx++) {
      const n = count[xx]; let kk = xx * ksize; let p = rowOff + start[xx] * 3;
      let a0 = HALF, a1 = HALF, a2 = HALF;
      for (let i = 0; i < n; i++, p += 3) { const w = w32[kk + i]; a0 += sd[p] * w; a1 += sd[p + 1] * w; a2 += sd[p + 2] * w; }
      a0 >>= PB; a1 >>= PB; a2 >>= PB;
      out[o] = a0 > 255 ? 255 : a0; out[o + 1] = a1 > 255 ? 255 : a1; out[o + 2] = a2 > 255 ? 255 : a2; o += 3;
    }
  }
}
function vert(sd, rowLen, rowShift, co, outH, out) {
  const { start, count, w32, ksize } = co;
  for (let yy = 0; yy < outH; yy++) {
    const base = (start[yy] - rowShift) * rowLen, n = count[yy], kk = yy * ksize, o = yy * rowLen;
    if (n === 2) { const w0 = w32[kk], w1 = w32[kk + 1], r1 = base + rowLen;
      for (let x = 0; x < rowLen; x++) { const v = (HALF + sd[base + x] * w0 + sd[r1 + x] * w1) >> PB; out[o + x] = v > 255 ? 255 : v; }
    } else if (n === 3) { const w0 = w32[kk], w1 = w32[kk + 1], w2 = w32[kk + 2], r1 = base + rowLen, r2 = r1 + rowLen;
      for (let x = 0; x < rowLen; x++) { const v = (HALF + sd[base + x] * w0 + sd[r1 + x] * w1 + sd[r2 + x] * w2) >> PB; out[o + x] = v > 255 ? 255 : v; }
    } else if (n === 4) { const w0 = w32[kk], w1 = w32[kk + 1], w2 = w32[kk + 2], w3 = w32[kk + 3], r1 = base + rowLen, r2 = r1 + rowLen, r3 = r2 + rowLen;
      for (let x = 0; x < rowLen; x++) { const v = (HALF + sd[base + x] * w0 + sd[r1 + x] * w1 + sd[r2 + x] * w2 + sd[r3 + x] * w3) >> PB; out[o + x] = v > 255 ? 255 : v; }
    } else {
      for (let x = 0; x < rowLen; x++) { let a = HALF; for (let i = 0, r = base + x; i < n; i++, r += rowLen) a += sd[r] * w32[kk + i]; a >>= PB; out[o + x] = a > 255 ? 255 : a; }
    }
  }
}
let scratchH = new Uint8Array(1 << 20);
function resizeV2(img, outW, outH, b) {
  const hc = precompute(b.width, 0, b.width, outW), vc = precompute(b.height, 0, b.height, outH);
  for (let i = 0; i < outW; i++) hc.start[i] += b.left;
  for (let i = 0; i < outH; i++) vc.start[i] += b.top;
  const firstRow = vc.start[0], lastRow = vc.start[outH - 1] + vc.count[outH - 1];
  const rows = lastRow - firstRow;
  if (scratchH.length < rows * outW * 3) scratchH = new Uint8Array(rows * outW * 3);
  horiz3(img.data, img.width, firstRow, rows, hc, outW, scratchH);
  const out = new Uint8Array(outW * outH * 3);
  vert(scratchH, outW * 3, firstRow, vc, outH, out);
  return { data: out, width: outW, height: outH, channels: 3 };
}
// correctness
for (let i = 0; i < imgs.length; i++) { const a = F.resizeBilinear(imgs[i], 224, 224, boxes[i]).data, b = resizeV2(imgs[i], 224, 224, boxes[i]).data; for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) { console.log("MISMATCH", i, j, a[j], b[j]); process.exit(1); } }
console.log("identical");
const tm = (name, fn) => { let best = 1e9; for (let r = 0; r < 7; r++) { const t = process.cpuUsage(); for (let i = 0; i < imgs.length; i++) fn(i); const c = process.cpuUsage(t); best = Math.min(best, (c.user + c.system) / 1000 / imgs.length); } console.log(name, best.toFixed(3), "ms/img"); };
tm("current", (i) => F.resizeBilinear(imgs[i], 224, 224, boxes[i]));
tm("v2 int32", (i) => resizeV2(imgs[i], 224, 224, boxes[i]));
tm("hflip", (i) => F.hflip({ data: scratchH.subarray(0, 224*224*3), width: 224, height: 224, channels: 3 }));
const pre = boxes.map((b, i) => { const hc = precompute(b.width, 0, b.width, 224), vc = precompute(b.height, 0, b.height, 224); for (let k = 0; k < 224; k++) hc.start[k] += b.left; for (let k = 0; k < 224; k++) vc.start[k] += b.top; const firstRow = vc.start[0], rows = vc.start[223] + vc.count[223] - firstRow; return { hc, vc, firstRow, rows }; });
tm("precompute only", (i) => { const b = boxes[i]; precompute(b.width, 0, b.width, 224); precompute(b.height, 0, b.height, 224); });
tm("horiz only", (i) => { const p = pre[i]; horiz3(imgs[i].data, imgs[i].width, p.firstRow, p.rows, p.hc, 224, scratchH); });
const outB = new Uint8Array(224*224*3);
tm("vert only", (i) => { const p = pre[i]; vert(scratchH, 224 * 3, p.firstRow, p.vc, 224, outB); });
// padded fixed-K horizontal
function padCoeffs(co, inSize) {
  let K = 0; for (let i = 0; i < co.count.length; i++) K = Math.max(K, co.count[i]);
  const n = co.count.length, start = new Int32Array(n), w = new Int32Array(n * K);
  for (let i = 0; i < n; i++) { let s = co.start[i]; const c = co.count[i]; let shift = 0; if (s + K > inSize) { shift = s + K - inSize; s -= shift; }
    for (let t = 0; t < c; t++) w[i * K + shift + t] = co.w32[i * co.ksize + t]; start[i] = s; }
  return { start, w, K };
}
function horizK(sd, srcW, y0, rows, pc, outW, out) {
  const { start, w, K } = pc; const stride = srcW * 3; let o = 0;
  if (K === 3) {
    for (let y = 0; y < rows; y++) { const rowOff = (y0 + y) * stride;
      for (let xx = 0, kk = 0; xx < outW; xx++, kk += 3) { const p = rowOff + start[xx] * 3; const w0 = w[kk], w1 = w[kk + 1], w2 = w[kk + 2];
        let a0 = (HALF + sd[p] * w0 + sd[p + 3] * w1 + sd[p + 6] * w2) >> PB;
        let a1 = (HALF + sd[p + 1] * w0 + sd[p + 4] * w1 + sd[p + 7] * w2) >> PB;
        let a2 = (HALF + sd[p + 2] * w0 + sd[p + 5] * w1 + sd[p + 8] * w2) >> PB;
        out[o] = a0 > 255 ? 255 : a0; out[o + 1] = a1 > 255 ? 255 : a1; out[o + 2] = a2 > 255 ? 255 : a2; o += 3; } }
  } else if (K === 4) {
    for (let y = 0; y < rows; y++) { const rowOff = (y0 + y) * stride;
      for (let xx = 0, kk = 0; xx < outW; xx++, kk += 4) { const p = rowOff + start[xx] * 3; const w0 = w[kk], w1 = w[kk + 1], w2 = w[kk + 2], w3 = w[kk + 3];
        let a0 = (HALF + sd[p] * w0 + sd[p + 3] * w1 + sd[p + 6] * w2 + sd[p + 9] * w3) >> PB;
        let a1 = (HALF + sd[p + 1] * w0 + sd[p + 4] * w1 + sd[p + 7] * w2 + sd[p + 10] * w3) >> PB;
        let a2 = (HALF + sd[p + 2] * w0 + sd[p + 5] * w1 + sd[p + 8] * w2 + sd[p + 11] * w3) >> PB;
        out[o] = a0 > 255 ? 255 : a0; out[o + 1] = a1 > 255 ? 255 : a1; out[o + 2] = a2 > 255 ? 255 : a2; o += 3; } }
  } else {
    for (let y = 0; y < rows; y++) { const rowOff = (y0 + y) * stride;
      for (let xx = 0, kk = 0; xx < outW; xx++, kk += K) { let p = rowOff + start[xx] * 3; let a0 = HALF, a1 = HALF, a2 = HALF;
        for (let i = 0; i < K; i++, p += 3) { const ww = w[kk + i]; a0 += sd[p] * ww; a1 += sd[p + 1] * ww; a2 += sd[p + 2] * ww; }
        a0 >>= PB; a1 >>= PB; a2 >>= PB; out[o] = a0 > 255 ? 255 : a0; out[o + 1] = a1 > 255 ? 255 : a1; out[o + 2] = a2 > 255 ? 255 : a2; o += 3; } }
  }
}
const padded = pre.map((p, i) => padCoeffs(p.hc, imgs[i].width));
const Ks = {}; for (const p of padded) Ks[p.K] = (Ks[p.K] ?? 0) + 1; console.log("K histogram", Ks);
const s2 = new Uint8Array(scratchH.length);
for (let i = 0; i < imgs.length; i++) { const p = pre[i]; horiz3(imgs[i].data, imgs[i].width, p.firstRow, p.rows, p.hc, 224, scratchH); horizK(imgs[i].data, imgs[i].width, p.firstRow, p.rows, padded[i], 224, s2); for (let j = 0; j < p.rows * 224 * 3; j++) if (scratchH[j] !== s2[j]) { console.log("K mismatch", i, j); process.exit(1); } }
tm("horizK padded", (i) => { const p = pre[i]; horizK(imgs[i].data, imgs[i].width, p.firstRow, p.rows, padded[i], 224, scratchH); });
