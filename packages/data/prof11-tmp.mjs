import sharp from "sharp";
import { readFileSync } from "node:fs";
import { imageFolder } from "./dist/index.js";
const ds = await imageFolder("/tmp/vd/jpegs");
const bufs = ds.paths.map((p) => readFileSync(p));
sharp.cache(false); sharp.concurrency(1);
const metas = await Promise.all(bufs.map((b) => sharp(b).metadata()));
const box = (m, j) => { const s = Math.sqrt(0.08 + 0.92 * ((j * 0.618) % 1)); const w = Math.max(1, Math.round(m.width * s)), h = Math.max(1, Math.round(m.height * s)); return { left: Math.floor((m.width - w) * ((j*0.37)%1)), top: Math.floor((m.height - h) * ((j*0.71)%1)), width: w, height: h }; };
const par = async (k, fn) => { let i = 0; await Promise.all(Array.from({length:k}, async () => { while (i < bufs.length) { const j = i++; await fn(bufs[j], metas[j], j); } })); };
const cases = {
  full: (b) => sharp(b).raw().toBuffer(),
  fullSeq: (b) => sharp(b, { sequentialRead: true }).raw().toBuffer(),
  crop: (b, m, j) => sharp(b).extract(box(m, j)).raw().toBuffer(),
  cropSeq: (b, m, j) => sharp(b, { sequentialRead: true }).extract(box(m, j)).raw().toBuffer(),
  cropSeqSrgb: (b, m, j) => sharp(b, { sequentialRead: true }).extract(box(m, j)).removeAlpha().toColourspace("srgb").raw().toBuffer(),
};
const res = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let r = 0; r < 5; r++) for (const [k, fn] of Object.entries(cases)) {
  const c0 = process.cpuUsage(); await par(3, fn); const cu = process.cpuUsage(c0); res[k].push((cu.user + cu.system) / 1000 / bufs.length);
}
for (const [k, v] of Object.entries(res)) console.log(k, v.map((x) => x.toFixed(3)).join(" "), "min", Math.min(...v).toFixed(3));
