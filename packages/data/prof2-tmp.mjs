import sharp from "sharp";
sharp.cache(false); sharp.concurrency(1);
const tiny = await sharp({create:{width:8,height:8,channels:3,background:{r:1,g:2,b:3}}}).jpeg().toBuffer();
const big = await sharp({create:{width:2000,height:2000,channels:3,noise:{type:"gaussian",mean:128,sigma:30}}}).jpeg({quality:90}).toBuffer();
const tm = async (name, n, fn) => { let best = 1e9; for (let r = 0; r < 3; r++) { const t = performance.now(); for (let i=0;i<n;i++) await fn(); best = Math.min(best, performance.now() - t); } console.log(`${name}: ${(best / n).toFixed(3)} ms`); };
await tm("tiny raw", 500, () => sharp(tiny).raw().toBuffer());
await tm("big raw (4MP)", 5, () => sharp(big).raw().toBuffer());
await tm("big raw fastShrink? none, jpeg shrink 2", 5, () => sharp(big).resize(1000,1000).raw().toBuffer());
console.log(sharp.versions, sharp.simd());
