import sharp from "sharp";
import { readFileSync } from "node:fs";
import { imageFolder } from "./dist/index.js";
const ds = await imageFolder("/tmp/vd/jpegs");
const bufs = ds.paths.map((p) => readFileSync(p));
sharp.cache(false); sharp.concurrency(1);
const metas = await Promise.all(bufs.map((b) => sharp(b).metadata()));
const box = (m, j) => { const s = Math.sqrt(0.08 + 0.92 * ((j * 0.618) % 1)); const w = Math.max(1, Math.round(m.width * s)), h = Math.max(1, Math.round(m.height * s)); return { left: Math.floor((m.width - w) * ((j*0.37)%1)), top: Math.floor((m.height - h) * ((j*0.71)%1)), width: w, height: h }; };
const mode = process.argv[2];
for (let r = 0; r < 3; r++) for (let j = 0; j < bufs.length; j++) {
  if (mode === "resize") await sharp(bufs[j]).extract(box(metas[j], j)).resize(224, 224, { kernel: "linear", fit: "fill" }).raw().toBuffer();
  else await sharp(bufs[j]).raw().toBuffer();
}
