import sharp from "sharp";
import { readFileSync } from "node:fs";
import { imageFolder } from "./dist/index.js";
const ds = await imageFolder("/tmp/vd/jpegs");
const bufs = ds.paths.map((p) => readFileSync(p));
sharp.cache(false); sharp.concurrency(1);
for (let r = 0; r < 4; r++) { let i = 0; await Promise.all([0,1,2].map(async () => { while (i < bufs.length) { const j = i++; await sharp(bufs[j], { sequentialRead: true }).raw().toBuffer(); } })); }
