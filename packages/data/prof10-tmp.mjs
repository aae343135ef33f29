import sharp from "sharp";
import { readFileSync } from "node:fs";
sharp.cache(false); sharp.concurrency(1);
const b = readFileSync("/tmp/vd/smooth.jpg");
for (let i = 0; i < 40; i++) await sharp(b).raw().toBuffer();
