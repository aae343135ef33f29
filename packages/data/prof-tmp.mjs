import sharp from "sharp";
import { readFileSync, readdirSync } from "node:fs";
import { F, imageFolder } from "./dist/index.js";
const ds = await imageFolder("/tmp/vd/jpegs");
const bufs = ds.paths.map((p) => readFileSync(p));
sharp.cache(false);
for (const conc of [1, 2]) {
sharp.concurrency(conc);
const tm = async (name, fn) => { let best = 1e9; for (let r = 0; r < 3; r++) { const t = performance.now(); await fn(); best = Math.min(best, performance.now() - t); } console.log(`conc ${conc} ${name}: ${(best / bufs.length).toFixed(3)} ms/img`); };
let imgs = [];
await tm("sharp decode serial (buf)", async () => { imgs = []; for (const b of bufs) { const { data, info } = await sharp(b).removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true }); imgs.push({ data, width: info.width, height: info.height, channels: 3 }); } });
await tm("sharp decode serial plain (buf)", async () => { for (const b of bufs) { await sharp(b).raw().toBuffer(); } });
await tm("sharp decode serial seq (buf)", async () => { for (const b of bufs) { await sharp(b, {sequentialRead: true}).raw().toBuffer(); } });
await tm("sharp decode serial (path)", async () => { for (const p of ds.paths) { await sharp(p).removeAlpha().toColourspace("srgb").raw().toBuffer(); } });
await tm("sharp metadata", async () => { for (const b of bufs) { await sharp(b).metadata(); } });
await tm("sharp extract+linear resize", async () => { for (const b of bufs) { const m = {width: 0}; await sharp(b).extract({left: 10, top: 10, width: 200, height: 200}).resize(224, 224, {kernel: "linear", fit: "fill"}).raw().toBuffer(); } });
await tm("sharp decode 4-parallel", async () => { let i = 0; await Promise.all([0,1,2,3].map(async () => { while (i < bufs.length) { const b = bufs[i++]; await sharp(b).raw().toBuffer(); } })); });
await tm("JS rrc resize", async () => { const rng = {uniform: (a,b)=>a+(b-a)*Math.random(), int: (n)=>Math.floor(Math.random()*n)}; for (const im of imgs) { const b = F.randomResizedCropParams(rng, im.height, im.width); F.resizeBilinear(im, 224, 224, b); } });
}
