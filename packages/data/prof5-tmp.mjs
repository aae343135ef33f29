import sharp from "sharp";
sharp.cache(false); sharp.concurrency(1);
const raw = Buffer.alloc(192);
for (let i=0;i<5000;i++) await sharp(raw, {raw:{width:8,height:8,channels:3}}).raw().toBuffer();
