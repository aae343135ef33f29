import sharp from "sharp";
sharp.cache(false); sharp.concurrency(Number(process.argv[2]??1));
const tiny = await sharp({create:{width:8,height:8,channels:3,background:{r:1,g:2,b:3}}}).jpeg().toBuffer();
const par = async (n, k, fn) => { let i = 0; await Promise.all(Array.from({length:k}, async () => { while (i++ < n) await fn(); })); };
for (const k of [1, 2, 4, 8]) {
  const c0 = process.cpuUsage(); const t = performance.now();
  await par(2000, k, () => sharp(tiny).raw().toBuffer());
  const dt = performance.now() - t; const cu = process.cpuUsage(c0);
  console.log(`k=${k}: ${(dt/2000).toFixed(3)} ms wall/img, cpu ${((cu.user+cu.system)/1000/2000).toFixed(3)} ms/img`);
}
