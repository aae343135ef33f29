import sharp from "sharp";
import { readFileSync } from "node:fs";
sharp.cache(false); sharp.concurrency(1);
for (const f of ["/tmp/vd/smooth.jpg", "/tmp/vd/big_pil.jpg"]) {
  const b = readFileSync(f);
  for (let r = 0; r < 3; r++) { const c0 = process.cpuUsage(); for (let i = 0; i < 5; i++) await sharp(b).raw().toBuffer(); const cu = process.cpuUsage(c0); console.log(f, "sharp cpu ms", ((cu.user + cu.system) / 1000 / 5).toFixed(2)); }
  for (let r = 0; r < 2; r++) { const c0 = process.cpuUsage(); for (let i = 0; i < 5; i++) await sharp(b, {sequentialRead: true}).raw().toBuffer(); const cu = process.cpuUsage(c0); console.log(f, "sharp seq cpu ms", ((cu.user + cu.system) / 1000 / 5).toFixed(2)); }
}
